"""The NFS statistics collector: /proc/self/mountstats and nfsstat's client RPC counters."""
from __future__ import annotations

from pathlib import Path

from hostmedic.collectors import mounts, nfs
from hostmedic.engine.sources import OK, LocalSource, Result, SosreportSource

NFS = Path(__file__).resolve().parents[1] / "data" / "storage" / "nfs"


def read(name: str) -> str:
    return (NFS / name).read_text()


def kind(ctx, k):
    return [f.fields for f in ctx.facts.facts if f.kind == k]


def statuses(ctx):
    return [f.fields for f in ctx.facts.facts if f.kind == "collector_status"
            and f.fields["collector"] == "nfs"]


def test_mountstats_nfs4():
    (m,) = nfs.parse_mountstats(read("mountstats.procfs-fixture"))
    assert (m["server"], m["export"], m["mountpoint"], m["fstype"], m["vers"], m["proto"],
            m["hard"], m["timeo"], m["age_s"]) == ("192.168.1.1", "/srv/test", "/mnt/nfs/test",
                                                   "nfs4", "4.0", "tcp", True, 600, 13968)
    assert (m["major_timeouts"], m["op_timeouts"], m["worst_op"], m["connects"], m["bad_xids"]) \
        == (0, "none", "none", 1, 0)
    assert m["ops"] == 1298 + 2927395007


def test_mountstats_nfsv3_with_error_column():
    (m,) = nfs.parse_mountstats(read("mountstats.nfsv3-localhost"))
    assert (m["server"], m["export"], m["mountpoint"], m["vers"], m["age_s"], m["ops"], m["retrans"]) \
        == ("localhost", "/tmp/s_test", "/mnt", "3", 159, 13, 0)
    assert m["text"].startswith("device localhost:/tmp/s_test mounted on /mnt with fstype nfs")


def test_client_rpc_counters():
    fields, line = nfs.parse_client_rpc(read("nfsstat_-c.retrans"))
    assert (fields["calls"], fields["retrans"], fields["authrefrsh"], fields["retrans_percent"], line) \
        == (118380, 7843, 0, 6.63, 3)
    assert nfs.parse_client_rpc("Error: No Client Stats (/proc/net/rpc/nfs: No such file or directory).") is None


def test_sosreport_joins_mount_facts_by_mountpoint_and_server(tmp_path, make_ctx):
    root = tmp_path / "sosreport-client"
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "mountstats").write_text(read("mountstats.procfs-fixture"))
    # the same mount in /proc/mounts form, with the options the procfs fixtures' mountinfo
    # gives it ("194 21 0:42 / /mnt/nfs/test rw shared:144 - nfs4 192.168.1.1:/srv/test ...")
    (root / "proc" / "mounts").write_text(
        "192.168.1.1:/srv/test /mnt/nfs/test nfs4 rw,vers=4.0,rsize=1048576,wsize=1048576,"
        "namlen=255,acregmin=3,acregmax=60,acdirmin=30,acdirmax=60,hard,proto=tcp,port=0,"
        "timeo=600,retrans=2,sec=sys,clientaddr=192.168.1.5,addr=192.168.1.1,local_lock=none 0 0\n")
    (root / "version.txt").write_text("sosreport: 4.5.6\n")
    ctx = make_ctx(SosreportSource(str(root)))
    mounts.collect(ctx)
    nfs.collect(ctx)
    (stats,) = kind(ctx, "nfs_mount_stats")
    (mount,) = [m for m in kind(ctx, "mount") if m["fstype"].startswith("nfs")]
    assert (stats["mountpoint"], stats["server"]) == (mount["mountpoint"], mount["server"])
    prov = [f.source for f in ctx.facts.facts if f.kind == "nfs_mount_stats"][0]
    assert (prov.name, prov.line) == ("proc/self/mountstats", 5)
    assert statuses(ctx)[-1]["status"] == "ok"


class NfsClient(LocalSource):
    """An NFS client host: nfsstat -c prints the real output of one (this machine has no
    NFS client in its kernel); files are read from a root folder."""

    def run(self, argv, timeout=None, sos_paths=()):
        if list(argv) == ["nfsstat", "-c"]:
            return Result(OK, "nfsstat -c", text=read("nfsstat_-c.retrans"), rc=0)
        return super().run(argv, timeout, sos_paths)


def test_live_client(tmp_path, make_ctx):
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "mountstats").write_text(read("mountstats.nfsv3-localhost"))
    ctx = make_ctx(NfsClient(root=str(tmp_path)))
    nfs.collect(ctx)
    assert kind(ctx, "nfs_mount_stats")[0]["mountpoint"] == "/mnt"
    assert kind(ctx, "nfs_client_rpc")[0]["retrans"] == 7843


def test_this_machine(make_ctx):
    """Real /proc/self/mountstats and nfsstat (when installed); without NFS mounts this is
    'not applicable'."""
    ctx = make_ctx(LocalSource())
    nfs.collect(ctx)
    st = statuses(ctx)[-1]
    if not kind(ctx, "nfs_mount_stats") and not kind(ctx, "nfs_client_rpc"):
        assert st["status"] == "not applicable" and st["hint"]
    else:
        assert st["status"] == "ok"
