"""The md RAID collector: /proc/mdstat and mdadm --detail, live and from sosreports."""
from __future__ import annotations

from pathlib import Path

from hostmedic.collectors import mdraid
from hostmedic.engine.analysis import analyse
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import LocalSource, SosreportSource

MD = Path(__file__).resolve().parents[1] / "data" / "storage" / "md"
PACK = load_pack()


def read(name: str) -> str:
    return (MD / name).read_text()


def arrays(ctx):
    return {f.fields["name"]: f.fields for f in ctx.facts.facts if f.kind == "md_array"}


def statuses(ctx):
    return [f.fields for f in ctx.facts.facts if f.kind == "collector_status"
            and f.fields["collector"] == "mdraid"]


def test_mdstat_failed_member():
    (a,) = mdraid.parse_mdstat(read("mdstat.raid10-failed"))
    assert (a["name"], a["level"], a["devices_total"], a["devices_up"], a["degraded"]) \
        == ("md0", "raid10", 6, 5, True)
    assert (a["failed_members"], a["failed_count"], a["members"]) == ("sde", 1, "sdg,sdf,sde,sdd,sdc,sdb")
    (h,) = mdraid.parse_mdstat(read("mdstat.raid10-healthy"))
    assert (h["degraded"], h["failed_count"], h["failed_members"]) == (False, 0, "none")


def test_mdstat_of_many_systems():
    by = {a["name"]: a for a in mdraid.parse_mdstat(read("mdstat.procfs-fixture"))}
    assert len(by) == 18
    assert (by["md6"]["degraded"], by["md6"]["failed_members"], by["md6"]["recovery"]) \
        == (True, "sdb2", "recovery 8.5%")
    assert by["md8"]["degraded"] is False and by["md8"]["recovery"] == "resync 8.5%"
    assert by["md8"]["spares"] == "sdc,sde"
    assert by["md7"]["degraded"] is True and by["md7"]["failed_members"] == "sdc1"
    assert by["md42"]["degraded"] is True and by["md42"]["recovery"] == "reshape 56.1%"
    assert by["md9"]["recovery"] == "resync=DELAYED" and by["md9"]["failed_count"] == 2
    assert by["md9"]["degraded"] is False  # [4/4]: only spares failed
    assert (by["md4"]["state"], by["md4"]["failed_members"]) == ("inactive", "sda3")
    assert (by["md219"]["state"], by["md219"]["degraded"], by["md219"]["level"]) == ("inactive", False, "unknown")
    assert by["md11"]["state"] == "active (auto-read-only)"
    assert (by["md10"]["level"], by["md10"]["devices_total"], by["md10"]["degraded"]) == ("raid0", 2, False)


def test_mdadm_detail():
    d = mdraid.parse_detail(read("mdadm_-D_.dev.md.raid10-failed"))["md0"]
    assert (d["detail_state"], d["removed_slots"], d["faulty"], d["failed_devices"]) \
        == ("clean, degraded", 1, ["sde"], 1)
    r = mdraid.parse_detail(read("mdadm_-D_.dev.md.raid5-removed"))["md0"]
    assert (r["detail_state"], r["removed_slots"], r["faulty"], r["raid_devices"]) \
        == ("clean, degraded", 1, [], 3)


def sos_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sosreport-nas"
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    (root / "version.txt").write_text("sosreport: 4.5.6\n")
    return root


def test_sosreport_mdstat_and_detail_merged(tmp_path, make_ctx):
    root = sos_tree(tmp_path, {"proc/mdstat": read("mdstat.raid10-failed"),
                               "sos_commands/md/mdadm_-D_.dev.md": read("mdadm_-D_.dev.md.raid10-failed")})
    ctx = make_ctx(SosreportSource(str(root)))
    mdraid.collect(ctx)
    a = arrays(ctx)["md0"]
    assert (a["array"], a["degraded"], a["detail_state"], a["removed_slots"], a["failed_members"]) \
        == ("md0", True, "clean, degraded", 1, "sde")
    prov = [f.source for f in ctx.facts.facts if f.kind == "md_array"][0]
    assert (prov.name, prov.line) == ("proc/mdstat", 2)
    (finding,) = analyse(ctx.facts, PACK, only=["mdraid-degraded"]).findings
    assert finding.group == {"array": "md0"} and "sde" in finding.explanation
    assert "mdadm /dev/md0 --remove failed" in [s.get("command") for s in finding.steps]


def test_sosreport_detail_alone_still_describes_the_array(tmp_path, make_ctx):
    root = sos_tree(tmp_path, {"sos_commands/md/mdadm_-D_.dev.md": read("mdadm_-D_.dev.md.raid5-removed")})
    ctx = make_ctx(SosreportSource(str(root)))
    mdraid.collect(ctx)
    a = arrays(ctx)["md0"]
    assert (a["level"], a["devices_total"], a["devices_up"], a["degraded"]) == ("raid5", 3, 2, True)


def test_sosreport_without_md_plugin_is_not_applicable(tmp_path, make_ctx):
    ctx = make_ctx(SosreportSource(str(sos_tree(tmp_path, {"sos_commands/host/hostname": "nas\n"}))))
    mdraid.collect(ctx)
    (st,) = statuses(ctx)
    assert st["status"] == "not applicable" and "mdadm" in st["detail"] and st["hint"]


def test_live_reads_proc_mdstat(tmp_path, make_ctx):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "mdstat").write_text(read("mdstat.raid10-healthy"))
    ctx = make_ctx(LocalSource(root=str(tmp_path)))
    mdraid.collect(ctx)
    assert arrays(ctx)["md0"]["degraded"] is False
    assert statuses(ctx)[-1]["status"] == "ok"
    assert analyse(ctx.facts, PACK, only=["mdraid-degraded"]).findings == []


def test_live_without_md_driver(tmp_path, make_ctx):
    ctx = make_ctx(LocalSource(root=str(tmp_path)))
    mdraid.collect(ctx)
    (st,) = statuses(ctx)
    assert st["status"] == "not applicable" and "driver" in st["detail"]


def test_this_machine(make_ctx):
    ctx = make_ctx(LocalSource())
    mdraid.collect(ctx)
    assert statuses(ctx) and all(s["status"] == "ok" or s["hint"] for s in statuses(ctx))
