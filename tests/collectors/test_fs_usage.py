"""File system usage (df) and which file system holds each libvirt disk image.

The sosreport test runs on a copy of the libvirt fixture (tests/data/libvirt/sos-kvmhost:
hm-full paused with reason ioerror, its image in /srv/hm-tiny) with the df output sos's
filesys plugin writes added from tests/data/storage/df.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hostmedic.collectors import fs_usage, libvirt
from hostmedic.engine.analysis import analyse
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import TIMEOUT, LocalSource, Result, SosreportSource

DATA = Path(__file__).resolve().parents[1] / "data"
DF = DATA / "storage" / "df"
PACK = load_pack()


def kind(ctx, k):
    return [f.fields for f in ctx.facts.facts if f.kind == k]


def statuses(ctx):
    return [f.fields for f in ctx.facts.facts if f.kind == "collector_status"
            and f.fields["collector"] == "fs_usage"]


def test_parse_df_skips_pseudo_file_systems():
    rows = fs_usage.parse_df((DF / "df_-al_-x_autofs.full").read_text())
    assert [r["mountpoint"] for r in rows] == ["/dev", "/dev/shm", "/", "/sys/fs/cgroup", "/srv/hm-tiny"]
    tiny = rows[-1]
    assert (tiny["filesystem"], tiny["size_kib"], tiny["used_kib"], tiny["avail_kib"], tiny["use_percent"],
            tiny["_line"]) == ("tmpfs", 65536, 65536, 0, 100, 19)
    assert tiny["text"] == "tmpfs              65536    65536         0 100% /srv/hm-tiny"


def test_parse_df_joins_a_wrapped_device_name():
    (row,) = fs_usage.parse_df((DF / "df_-k.rhel6-wrapped").read_text())
    assert (row["filesystem"], row["mountpoint"], row["use_percent"], row["avail_kib"]) \
        == ("/dev/mapper/VolGroup-lv_root", "/", 30, 11956872)


def test_longest_mountpoint_prefix_wins():
    rows = fs_usage.parse_df((DF / "df_-al_-x_autofs.full").read_text())
    assert fs_usage.backing_of("/srv/hm-tiny/hm-full.qcow2", rows)["mountpoint"] == "/srv/hm-tiny"
    assert fs_usage.backing_of("/srv/hm-tinyX/a.qcow2", rows)["mountpoint"] == "/"
    assert fs_usage.backing_of("/var/lib/libvirt/images/../x.img", rows)["mountpoint"] == "/"
    assert fs_usage.backing_of("relative/path", rows) is None


def kvm_sos(tmp_path: Path, df_name: str) -> Path:
    root = tmp_path / "sos-kvmhost"
    shutil.copytree(DATA / "libvirt" / "sos-kvmhost", root, symlinks=True)
    (root / "sos_commands" / "filesys").mkdir(parents=True, exist_ok=True)
    shutil.copy(DF / df_name, root / "sos_commands" / "filesys" / "df_-al_-x_autofs")
    return root


def test_sosreport_paused_domain_on_full_storage(tmp_path, make_ctx):
    ctx = make_ctx(SosreportSource(str(kvm_sos(tmp_path, "df_-al_-x_autofs.full"))))
    libvirt.collect(ctx)
    fs_usage.collect(ctx)
    backing = {b["domain"]: b for b in kind(ctx, "disk_backing")}
    assert set(backing) == {"hm-full", "hm-ro", "hm-bal", "hm-off"}
    full = backing["hm-full"]
    assert (full["target"], full["source"], full["mountpoint"], full["use_percent"], full["avail_kib"]) \
        == ("vda", "/srv/hm-tiny/hm-full.qcow2", "/srv/hm-tiny", 100, 0)
    assert statuses(ctx)[-1]["status"] == "ok"
    findings = [f for f in analyse(ctx.facts, PACK).findings if f.rule == "domain-paused-io-error"]
    (f,) = findings
    assert f.severity == "critical" and f.group == {"domain": "hm-full"}
    assert "hm-full" in f.summary and "/srv/hm-tiny" in f.summary and "100%" in f.summary
    assert "disk vda: /srv/hm-tiny/hm-full.qcow2" in f.explanation
    (plan,) = f.remediations
    commands = [s.get("command") for s in plan["steps"]]
    assert commands.index("df -h /srv/hm-tiny") < commands.index("virsh resume hm-full")


def test_sosreport_after_space_was_freed_still_names_the_pause(tmp_path, make_ctx):
    """The domain is still paused (nobody resumed it) but its storage is no longer full:
    the finding stays, and says the file system is not full now."""
    ctx = make_ctx(SosreportSource(str(kvm_sos(tmp_path, "df_-al_-x_autofs.freed"))))
    libvirt.collect(ctx)
    fs_usage.collect(ctx)
    (f,) = [f for f in analyse(ctx.facts, PACK).findings if f.rule == "domain-paused-io-error"]
    assert "not full now" in f.explanation and "63% used" in f.explanation


class HungNfs(LocalSource):
    """df blocked on a dead NFS server (what the Source reports after its timeout)."""

    def run(self, argv, timeout=None, sos_paths=()):
        if list(argv) == fs_usage.ARGV:
            return Result(TIMEOUT, " ".join(argv), detail="no answer within 10 s")
        return super().run(argv, timeout, sos_paths)


def test_live_df_timeout_falls_back_to_local_file_systems(make_ctx):
    ctx = make_ctx(HungNfs())
    fs_usage.collect(ctx)
    st = statuses(ctx)
    assert st[0]["status"] == "timeout" and "NFS" in st[0]["hint"]
    assert st[-1]["status"] == "ok" and kind(ctx, "fs_usage")
    assert any(r["mountpoint"] == "/" for r in kind(ctx, "fs_usage"))


def test_this_machine_real_df(make_ctx):
    ctx = make_ctx(LocalSource(timeout=20))
    fs_usage.collect(ctx)
    rows = kind(ctx, "fs_usage")
    assert any(r["mountpoint"] == "/" for r in rows)
    real = subprocess.run(["df", "-P", "/"], capture_output=True, text=True).stdout.splitlines()[1].split()
    (root,) = [r for r in rows if r["mountpoint"] == "/"][-1:]
    assert root["size_kib"] == int(real[1])
