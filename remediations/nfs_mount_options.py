"""NFS mount options that keep a dead server from hanging boot and shutdown.

Safe by default: _netdev (ordered after the network, unmounted before it goes), nofail
(boot goes on without it), x-systemd.automount (mounted on first access, so boot never
waits for the server; --no-automount leaves it out) and x-systemd.mount-timeout=.
`soft` (with timeo= and retrans=) makes I/O fail instead of hang once retries run out,
which can silently lose or corrupt writes (nfs(5)): only with --accept-data-risk.
"""
from hostmedic.remediations import apply_step, fstab, mountopts, pick, step
from hostmedic.remediations.target import count, time_span

ID = "nfs-mount-options"
TITLE = "Set _netdev, nofail, x-systemd.automount and a mount timeout on the NFS entry"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = True
NEEDS = ("mount",)
TAKES = ("mount_timeout", "automount", "soft", "timeo", "retrans", "accept_data_risk")
EFFECT = ("systemd regenerates the mount and automount units at once (daemon-reload); the "
          "options apply from the next mount, and at the next boot and shutdown")


def plan(values):
    mountpoint = pick(values, "mountpoint")
    if not mountpoint and str(pick(values, "unit")).endswith(".mount"):
        mountpoint = pick(values, "unit")  # `diagnose fix` takes a mount unit name too
    if not mountpoint:
        return None
    return [step(f"See the entry of {mountpoint} as util-linux reads it:",
                 ["findmnt", "--fstab", "--mountpoint", mountpoint]),
            step("Add `_netdev,nofail,x-systemd.automount,x-systemd.mount-timeout=30s` to its "
                 "options, then `systemctl daemon-reload`. Keep `hard` unless losing writes is "
                 "acceptable (`soft` fails I/O after timeo/retrans instead of waiting)."),
            apply_step(ID, mount=mountpoint, mount_timeout="30s")]


def _wanted(target):
    add = {"_netdev": None, "nofail": None}
    if target.automount is not False:
        add["x-systemd.automount"] = None
    add["x-systemd.mount-timeout"] = time_span(target.mount_timeout, spaces=False)
    remove = set()
    if target.soft:
        add["soft"], remove = None, {"hard"}
    if target.timeo is not None:
        add["timeo"] = str(count(target.timeo, "--timeo"))
    if target.retrans is not None:
        add["retrans"] = str(count(target.retrans, "--retrans"))
    return add, remove


def preconditions(host, target):
    _wanted(target)  # every value checked before anything else
    risky = [flag for flag, given in (("--soft", target.soft), ("--timeo", target.timeo is not None),
                                      ("--retrans", target.retrans is not None)) if given]
    if risky and not target.accept_data_risk:
        return [f"{', '.join(risky)} can lose or corrupt data when the server does not answer "
                "in time (nfs(5), \"soft\"): add --accept-data-risk to set it"]
    return mountopts.preconditions(host, target, fstab.NFS)


def changes(host, target):
    add, remove = _wanted(target)
    return mountopts.changes(host, target, ID, add, remove)


def verify(host, target, done):
    add, remove = _wanted(target)
    return mountopts.verify(host, target, done, add, remove)
