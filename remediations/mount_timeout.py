"""Bound how long a network mount can block boot and shutdown."""
from hostmedic.remediations import pick, step

ID = "mount-timeout"
TITLE = "Add x-systemd.mount-timeout and nofail to the mount's fstab entry"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = True


def plan(values):
    mountpoint = pick(values, "mountpoint")
    if not mountpoint and not str(pick(values, "unit")).endswith(".mount"):
        return None  # not a mount that blocked
    mountpoint = mountpoint or pick(values, "unit")
    return [step("Back up fstab:", ["cp", "--preserve=all", "/etc/fstab", "/etc/fstab.hostmedic.bak"]),
            step(f"In the options of {mountpoint}, add `_netdev,nofail,x-systemd.mount-timeout=30s` "
                 "(a mount unit's stop waits for this timeout, which defaults to 90 s), then reload:",
                 ["systemctl", "daemon-reload"]),
            step("Undo: restore /etc/fstab.hostmedic.bak and run systemctl daemon-reload.")]
