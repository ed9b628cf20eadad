"""The library itself: every fix declares what it is and its four steps, the plans shown
in findings still come out, and the journal fields an apply would send."""
from __future__ import annotations

import pytest

from hostmedic import remediations
from hostmedic.remediations import audit, runner
from hostmedic.remediations.actions import RISKS
from hostmedic.remediations.cli import TARGET_OPTIONS
from hostmedic.remediations.host import Host
from hostmedic.remediations.target import BadValue, Target, nofile, seconds, unit_name

OLD_IDS = ["fstrim-now", "enable-fstrim-timer", "libvirt-disk-discard-ignore", "memballoon-autodeflate",
           "nfs-server-check", "mount-timeout", "unit-stop-timeout"]


@pytest.mark.parametrize("fix_id", sorted(remediations.MODULES))
def test_every_fix_declares_itself(fix_id):
    fix = runner.load(fix_id)
    assert fix.ID == fix_id and fix.TITLE and fix.SCOPE in ("guest", "host") and fix.RISK in RISKS
    assert isinstance(fix.REVERSIBLE, bool) and fix.EFFECT
    assert set(fix.NEEDS) | set(fix.TAKES) <= set(TARGET_OPTIONS)
    assert callable(fix.plan)
    if not getattr(fix, "MANUAL", False):
        assert all(callable(getattr(fix, f)) for f in ("preconditions", "changes", "verify"))


def test_ids_rules_use_still_exist():
    assert set(OLD_IDS) <= set(remediations.MODULES)


# The fields findings give plan(), as in the rules' own examples.
FINDING_VALUES = {
    "st": {"unit": "backup-agent.service", "boot": "b1"},
    "dd": {"domain": "web1", "target": "vda", "source": "/srv/hm-tiny/web1.qcow2", "mountpoint": "/srv/hm-tiny"},
    "d": {"name": "web1", "domain": "web1", "max_kib": 2097152},
    "nr": {"server": "10.77.0.1", "mountpoint": "/mnt/nfs"},
}


@pytest.mark.parametrize("fix_id", sorted(remediations.MODULES))
def test_finding_plans_name_exact_commands(fix_id):
    plan = remediations.plan(fix_id, FINDING_VALUES)
    assert plan is not None and plan["id"] == fix_id and plan["steps"]
    for st in plan["steps"]:
        assert st["say"] and ("run" not in st or st["command"])
    if not getattr(runner.load(fix_id), "MANUAL", False):
        applying = [st for st in plan["steps"] if st.get("run", [None])[:3] == ["diagnose", "fix", fix_id]]
        assert applying and applying[-1]["run"][-1] == "--apply"


def test_apply_step_spells_the_options():
    st = remediations.apply_step("libvirt-disk-discard-ignore", domain="web1", disk="vda")
    assert st["command"] == "diagnose fix libvirt-disk-discard-ignore --domain web1 --disk vda --apply"
    st = remediations.apply_step("domain-sysrq-reboot", domain="web 1", allow_disruptive=True)
    assert st["run"] == ["diagnose", "fix", "domain-sysrq-reboot", "--domain", "web 1",
                         "--allow-disruptive", "--apply"]
    assert st["command"].endswith("--domain 'web 1' --allow-disruptive --apply")


def test_unknown_id_in_a_rule_is_reported_not_fatal():
    assert remediations.plan("no-such-fix", {})["risk"] == "unknown"


def test_checked_values():
    assert unit_name("nginx") == "nginx.service" and unit_name("getty@tty1") == "getty@tty1.service"
    assert unit_name("mnt-nfs.mount") == "mnt-nfs.mount"
    assert seconds("1min 30s") == 90 and seconds("90") == 90 and seconds("500ms") == 0.5
    assert nofile("65536") == ("65536", "65536") and nofile("1024:524288") == ("1024", "524288")
    for bad, check in (("a b;c", unit_name), ("soon", seconds), ("9:1", nofile), ("30s\nExecStart=x", seconds)):
        with pytest.raises(BadValue):
            check(bad)


def test_journal_fields_of_a_record():
    fix = runner.load("libvirt-disk-discard-ignore")
    record = audit.entry(fix, Target(domain="web1", disks=["vda"]), Host(libvirt_uri="qemu:///system"),
                         "rolled-back", reason="verification failed",
                         problems=["disk vda of web1 still has discard=unmap"], backup="/var/lib/x")
    fields = audit.journal_fields(record)
    assert fields["MESSAGE"] == ("hostmedic fix libvirt-disk-discard-ignore on domain web1, disks vda: "
                                 "rolled-back (verification failed)")
    assert fields["HOSTMEDIC_FIX"] == "libvirt-disk-discard-ignore" and fields["HOSTMEDIC_RESULT"] == "rolled-back"
    assert fields["HOSTMEDIC_DOMAIN"] == "web1" and fields["HOSTMEDIC_DISKS"] == "vda"
    assert fields["HOSTMEDIC_LIBVIRT_URI"] == "qemu:///system" and fields["PRIORITY"] == "3"
    assert fields["HOSTMEDIC_PROBLEMS"] == "disk vda of web1 still has discard=unmap"
    assert all(k.isupper() and not k.startswith("_") for k in fields)
    assert audit.to_journal(record, socket_path="/nonexistent/socket") is False


def test_fstab_edit_keeps_every_other_byte():
    """A cloud image's fstab (tabs, a space before the type): only the options field changes."""
    from hostmedic.remediations import fstab
    text = "LABEL=cloudimg-rootfs\t/\t ext4\tdefaults\t0 1\nLABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1\n"
    (entry,) = fstab.find(text, "/boot/efi")
    new = fstab.with_options(text, entry, fstab.merged(entry.options, {"nofail": None}))
    assert new == "LABEL=cloudimg-rootfs\t/\t ext4\tdefaults\t0 1\nLABEL=UEFI\t/boot/efi\tvfat\tumask=0077,nofail\t0 1\n"
    (spaced,) = fstab.find("//srv/my\\040share /mnt/my\\040share cifs rw 0 0\n", "/mnt/my share")
    assert spaced.source == "//srv/my share"
