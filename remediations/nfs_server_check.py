"""Find out whether the NFS server is down, unreachable or overloaded."""
from hostmedic.remediations import pick, step

ID = "nfs-server-check"
TITLE = "Check the NFS server and the path to it"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = False  # read-only checks
MANUAL = True  # a check list for a person: `diagnose fix` shows it and applies nothing
NEEDS = ()
TAKES = ("server", "mount")
EFFECT = "nothing changes: these are checks to run and read"


def plan(values):
    server = pick(values, "server", "SERVER")
    return [step("Is the server's RPC service answering?", ["rpcinfo", "-t", server, "nfs"]),
            step("Which NFS mounts this client has, and on what:", ["grep", "-E", r"\snfs4?\s", "/proc/mounts"]),
            step("Once the server is back, hung writers continue on their own (hard mounts retry). "
                 "If it is gone for good, detach the mount lazily so the boot can go on:",
                 ["umount", "--force", "--lazy", pick(values, "mountpoint", "MOUNTPOINT")])]
