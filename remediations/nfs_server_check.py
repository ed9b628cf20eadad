"""Find out whether the NFS server is down, unreachable or overloaded."""
from hostmedic.remediations import pick, step

ID = "nfs-server-check"
TITLE = "Check the NFS server and the path to it"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = False  # read-only checks


def plan(values):
    server = pick(values, "server", "SERVER")
    return [step("Is the server's RPC service answering?", ["rpcinfo", "-t", server, "nfs"]),
            step("Which NFS mounts this client has, and on what:", ["grep", "-E", r"\snfs4?\s", "/proc/mounts"]),
            step("Once the server is back, hung writers continue on their own (hard mounts retry). "
                 "If it is gone for good, detach the mount lazily so the boot can go on:",
                 ["umount", "--force", "--lazy", pick(values, "mountpoint", "MOUNTPOINT")])]
