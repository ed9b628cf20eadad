"""Resume a domain paused on ENOSPC once its storage has room again.

Freeing the space is for a person to decide (the plan shows where it went); applying
checks that every file-backed disk's file system has --min-free free, then resumes.
Resuming first is useless: QEMU retries the failed write and pauses again at once, which
is what the verification watches for.
"""
import os
import posixpath
import time

from hostmedic.remediations import apply_step, domainxml, pick, step
from hostmedic.remediations.actions import DomainCall
from hostmedic.remediations.target import size_bytes

ID = "libvirt-resume-after-space"
TITLE = "Resume a domain paused on a full disk once its storage has room again"
SCOPE = "host"
RISK = "safe"
REVERSIBLE = False  # nothing to undo: space is freed by hand, and a resumed guest just runs on
NEEDS = ("domain",)
TAKES = ("min_free",)
EFFECT = "at once: the guest goes on from where it stopped"
SETTLE_SECONDS = 2.0  # QEMU retries the failed write at once: a full disk pauses it again within this


def plan(values):
    domain = pick(values, "domain") or pick(values, "name")
    if not domain:
        return None
    source = pick(values, "source")
    where = pick(values, "mountpoint") or (posixpath.dirname(source) if source.startswith("/") else "")
    steps = []
    if where:
        steps += [step(f"See how full the file system under {domain}'s disk is:", ["df", "-h", where]),
                  step("Find what takes the space, largest last:",
                       ["du", "-xah", "--max-depth=2", where])]
    steps += [step("Free space there: delete or move files, old snapshots or images, or grow the "
                   "file system or thin pool. Resuming before that only pauses the domain again."),
              step(f"Resume {domain}:", ["virsh", "resume", domain]),
              # `virsh domblkerror` is no check: QEMU (7.2) keeps reporting the last error
              # ("vda: no space") after a resume that worked
              step("Check a few seconds later that it still runs (\"running (unpaused)\"; "
                   "`virsh domblkerror` may go on showing the old \"no space\"):",
                   ["virsh", "domstate", domain, "--reason"]),
              apply_step(ID, "Or, once space is free, let hostmedic check the free space and resume it:",
                         domain=domain)]
    return steps


def _state(dom):
    import libvirt
    state, reason = dom.state()
    return state, reason, libvirt


def preconditions(host, target):
    dom = host.domain(target.domain)
    state, reason, libvirt = _state(dom)
    if state == libvirt.VIR_DOMAIN_RUNNING:
        return []  # already running: nothing to do
    if state != libvirt.VIR_DOMAIN_PAUSED:
        return [f"{target.domain} is not paused (state {state}): there is nothing to resume"]
    errors = dom.diskErrors()
    if reason != libvirt.VIR_DOMAIN_PAUSED_IOERROR and not errors:
        return [f"{target.domain} was paused for another reason than an I/O error (reason {reason}) "
                "and reports no disk error: resume it yourself if that is intended"]
    return _space_problems(dom, target)


def _space_problems(dom, target):
    """Free space under each file-backed disk: resuming into a full file system pauses again."""
    need = size_bytes(target.min_free)
    problems = []
    for disk in domainxml.disks(domainxml.parse(domainxml.inactive_xml(dom))):
        source = domainxml.disk_source(disk)
        if disk.get("type") != "file" or not source:
            continue  # a block device or a pool: its room cannot be measured from a path
        where = os.path.dirname(source)
        try:
            st = os.statvfs(where)
        except OSError as err:
            problems.append(f"cannot measure the free space under {where}: {err.strerror}")
            continue
        free = st.f_bavail * st.f_frsize
        if free < need:
            problems.append(f"{where} (disk {domainxml.disk_target(disk)}) has {free // (1 << 20)} MiB "
                            f"free, less than {target.min_free}: free space first (--min-free sets the bar)")
    return problems


def changes(host, target):
    dom = host.domain(target.domain)
    state, _, libvirt = _state(dom)
    if state == libvirt.VIR_DOMAIN_RUNNING:
        return []
    return [DomainCall(target.domain, f"Resume {target.domain}", f"virDomainResume({target.domain})",
                       ["virsh", "resume", target.domain], lambda d: d.resume())]


def verify(host, target, done):
    dom = host.domain(target.domain)
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        state, reason, libvirt = _state(dom)
        if state != libvirt.VIR_DOMAIN_RUNNING:
            return [f"{target.domain} is not running after the resume (state {state}, reason {reason}): "
                    "its storage still has no room"]
        if time.monotonic() >= deadline:
            return []
        time.sleep(0.2)
