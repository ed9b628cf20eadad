"""hostmedic's fixes applied to the lab's guests for real, each checked by an independent
reader, with its failure path or rollback tested too.

`diagnose fix ID --apply --yes --libvirt-uri qemu:///system` is the command under test.
For the fixes that change a persistent definition, the automatic rollback is driven through
the same runner in this process with the fix's verification made to fail: libvirtd then
gets the saved definition back, and the XML must be what it was, byte for byte. The undo a
person would do (`virsh define` of the copy in the backup folder) is tested as well.
"""
from __future__ import annotations

import os
import re
import time

import lab_diagnose
import lab_guest
from lab_diagnose import DIAGNOSE
from lab_host import URI, LabError, run, virsh, wait_for


def fix(fix_id: str, *args: str, expect: int) -> str:
    done = run([DIAGNOSE, "fix", fix_id, *args, "--libvirt-uri", URI], check=False, timeout=180)
    out = (done.stdout + done.stderr).strip()
    if done.returncode != expect:
        raise LabError(f"diagnose fix {fix_id} {' '.join(args)} exited {done.returncode}, "
                       f"expected {expect}: {out[-800:]}")
    return out


def inactive_xml(domain: str) -> str:
    return virsh("dumpxml", "--inactive", "--security-info", domain).stdout


def backup_of(output: str) -> str:
    m = re.search(r"^backup: (\S+)$", output, re.M)
    if not m:
        raise LabError(f"no backup folder named in: {output[-400:]}")
    return m[1]


def rollback_is_exact(fix_id: str, domain: str, **target) -> str:
    """Apply FIX_ID with its verification made to fail: the runner must undo the define and
    leave the persistent definition exactly as it was."""
    from hostmedic.remediations import runner
    from hostmedic.remediations.host import Host
    from hostmedic.remediations.target import Target

    before = inactive_xml(domain)
    module = runner.load(fix_id)
    real_verify = module.verify
    module.verify = lambda host, tgt, done: ["the lab made this verification fail"]
    try:
        outcome = runner.run(fix_id, Target(domain=domain, **target), Host(libvirt_uri=URI),
                             apply=True, yes=True)
    finally:
        module.verify = real_verify
    if outcome.result != "rolled-back" or outcome.code != runner.ROLLED_BACK:
        raise LabError(f"{fix_id}: a failed verification gave {outcome.result} ({outcome.message})")
    if inactive_xml(domain) != before:
        raise LabError(f"{fix_id}: after the rollback the definition of {domain} differs from before")
    return "rollback exact"


def define_change(g, fix_id: str, extra: list[str], changed, what: str) -> str:
    """The pattern of the three definition fixes: rollback test, apply, read back, second
    apply changes nothing, undo from the backup folder, read back."""
    notes = [rollback_is_exact(fix_id, g.name, **({"disks": ["vda"]} if "--disk" in extra else {}))]
    before = inactive_xml(g.name)
    if changed(before):
        raise LabError(f"{g.name} already has {what} before the fix")
    out = fix(fix_id, "--domain", g.name, *extra, "--apply", "--yes", expect=0)
    if not changed(inactive_xml(g.name)):
        raise LabError(f"{fix_id} reported success but the definition has no {what}")
    notes.append(f"{what} read back")
    for again in (["--apply", "--yes"], []):  # applied or planned again: nothing to change
        if "already in place" not in fix(fix_id, "--domain", g.name, *extra, *again, expect=0):
            raise LabError(f"{fix_id} {' '.join(again)}: a second time does not say it is in place")
    saved = os.path.join(backup_of(out), f"domain-{g.name}.xml")
    virsh("define", saved)
    if inactive_xml(g.name) != before:
        raise LabError(f"{fix_id}: defining the backup {saved} did not restore the definition")
    notes.append("undo from backup exact")
    fix(fix_id, "--domain", g.name, *extra, "--apply", "--yes", expect=0)  # leave it fixed
    return ", ".join(notes)


def resume_after_space(g) -> str:
    notes = []
    # 1. refused: far less free than the default --min-free 1G; the domain stays paused
    fix("libvirt-resume-after-space", "--domain", g.name, "--apply", "--yes", expect=2)
    if g.state() != "paused (I/O error)":
        raise LabError(f"a refused resume changed {g.name}: {g.state()}")
    notes.append("refused while full")
    # 2. forced with --min-free 0 before any space is freed: QEMU pauses again at once and the
    #    verification sees it (exit 4: failed, a resume cannot be undone)
    fix("libvirt-resume-after-space", "--domain", g.name, "--min-free", "0", "--apply", "--yes", expect=4)
    if g.state() != "paused (I/O error)":
        raise LabError(f"{g.name} should have paused again: {g.state()}")
    notes.append("resume into a full disk caught (exit 4)")
    # 3. free the space (the ballast file), then the fix resumes it and the guest writes on
    os.unlink(g.ballast)
    mark = len(g.console())
    fix("libvirt-resume-after-space", "--domain", g.name, "--min-free", "16M", "--apply", "--yes", expect=0)
    g.wait_console(r"^hm: fill: done, \d+ MiB written", start=mark)
    written = re.findall(r"^hm: fill: (\d+) MiB written", g.console()[mark:], re.M)
    if not written or g.state() != "running (unpaused)":
        raise LabError(f"{g.name} after the resume: {g.state()}, wrote {written}")
    notes.append(f"running and writing again (to {written[-1]} MiB)")
    # QEMU 7.2 keeps the last I/O status: `virsh domblkerror` still says "vda: no space"
    # although the guest runs and writes; the diagnosis must not call it paused any more
    _exit, report = lab_diagnose.live()
    left = [f["rule"] for f in report["findings"] if f["severity"] in lab_diagnose.SERIOUS]
    if "domain-paused-io-error" in left:
        raise LabError(f"after the fix the live diagnosis still finds: {left}")
    notes.append("diagnosis after it: " + (", ".join(left) or "nothing at warning or above"))
    return ", ".join(notes)


def disk_discard_ignore(g) -> str:
    return define_change(g, "libvirt-disk-discard-ignore", ["--disk", "vda"],
                         lambda xml: "discard='ignore'" in xml, "discard='ignore'")


def memballoon_autodeflate(g) -> str:
    return define_change(g, "memballoon-autodeflate", [],
                         lambda xml: re.search(r"<memballoon [^>]*autodeflate='on'", xml) is not None,
                         "autodeflate='on'")


def guest_agent_channel(g) -> str:
    return define_change(g, "libvirt-guest-agent-channel", [],
                         lambda xml: "name='org.qemu.guest_agent.0'" in xml, "the agent channel")


def sysrq_reboot(g) -> str:
    """On the guest that ignores ACPI, started again: SysRq b through virDomainSendKey."""
    if not g.state().startswith("running"):
        g.start()
    g.wait_console(r"^hm: up ", 30)
    boots_before = lab_guest.uptimes(g.console())[-1][0]
    # without --allow-disruptive the plan is refused and no key is sent
    fix("domain-sysrq-reboot", "--domain", g.name, "--apply", "--yes", expect=2)
    time.sleep(3)
    if lab_guest.uptimes(g.console())[-1][0] != boots_before:
        raise LabError(f"{g.name} rebooted although the fix was refused")
    last_up = lab_guest.uptimes(g.console())[-1][1]
    fix("domain-sysrq-reboot", "--domain", g.name, "--apply", "--yes", "--allow-disruptive", expect=0)
    beats = wait_for(f"{g.name} to boot again", lambda: [u for b, u in lab_guest.uptimes(g.console())
                                                        if b > boots_before] or None, 120)
    if "sysrq: Resetting" not in g.console():
        raise LabError(f"{g.name}'s console has no 'sysrq: Resetting'")
    # the fix's own verification only sees that the domain runs (a guest whose kernel.sysrq
    # forbids it ignores the keys and runs on): the uptime above is the real proof
    virsh("destroy", g.name)
    fix("domain-sysrq-reboot", "--domain", g.name, "--apply", "--yes", "--allow-disruptive", expect=2)
    return (f"refused without --allow-disruptive; uptime {last_up:.0f} s -> {beats[0]:.0f} s "
            "(rebooted); refused once shut off")


FIXES = {
    "resume-after-space": resume_after_space,
    "disk-discard-ignore": disk_discard_ignore,
    "memballoon-autodeflate": memballoon_autodeflate,
    "guest-agent-channel": guest_agent_channel,
    "sysrq-reboot": sysrq_reboot,
}

# the hostmedic fix each one applies
FIX_IDS = {
    "resume-after-space": "libvirt-resume-after-space",
    "disk-discard-ignore": "libvirt-disk-discard-ignore",
    "memballoon-autodeflate": "memballoon-autodeflate",
    "guest-agent-channel": "libvirt-guest-agent-channel",
    "sysrq-reboot": "domain-sysrq-reboot",
}
