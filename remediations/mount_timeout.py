"""Bound how long a mount can block boot and shutdown (fstab options, read by systemd)."""
from hostmedic.remediations import apply_step, fstab, mountopts, pick, step
from hostmedic.remediations.target import time_span

ID = "mount-timeout"
TITLE = "Add x-systemd.mount-timeout and nofail to the mount's fstab entry"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = True
NEEDS = ("mount",)
TAKES = ("mount_timeout",)
EFFECT = ("systemd regenerates the mount unit at once (daemon-reload); the options apply "
          "from the next mount, and at the next boot and shutdown")


def plan(values):
    mountpoint = pick(values, "mountpoint")
    if not mountpoint and not str(pick(values, "unit")).endswith(".mount"):
        return None  # not a mount that blocked
    mountpoint = mountpoint or pick(values, "unit")
    return [step("Back up fstab:", ["cp", "--preserve=all", "/etc/fstab", "/etc/fstab.hostmedic.bak"]),
            step(f"In the options of {mountpoint}, add `_netdev,nofail,x-systemd.mount-timeout=30s` "
                 "(a mount unit's stop waits for this timeout, which defaults to 90 s), then reload:",
                 ["systemctl", "daemon-reload"]),
            step("Undo: restore /etc/fstab.hostmedic.bak and run systemctl daemon-reload."),
            apply_step(ID, mount=mountpoint, mount_timeout="30s")]


def _wanted(host, target):
    add = {}
    found, _ = mountopts.entry(host, target)
    if found is not None and found.fstype in fstab.NETWORK_FS:
        add["_netdev"] = None  # ordered after the network, and unmounted before it goes
    add["nofail"] = None  # boot goes on without it
    add["x-systemd.mount-timeout"] = time_span(target.mount_timeout, spaces=False)
    return add


def preconditions(host, target):
    time_span(target.mount_timeout, spaces=False)
    return mountopts.preconditions(host, target)


def changes(host, target):
    return mountopts.changes(host, target, ID, _wanted(host, target), set())


def verify(host, target, done):
    return mountopts.verify(host, target, done, _wanted(host, target), set())
