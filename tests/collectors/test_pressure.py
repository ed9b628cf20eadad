"""The pressure collector: /proc/pressure/* and /proc/vmstat, on this host and from sosreports.
The fixtures were read on a 6.18 kernel while a memory-capped cgroup thrashed through swap
and after a direct-I/O dd run (see tests/data/pressure/README.md)."""
from __future__ import annotations

import os
import shutil

from hostmedic.collectors import pressure
from hostmedic.engine.sources import LocalSource, SosreportSource

PDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "pressure")


def read(name: str) -> str:
    return open(os.path.join(PDATA, name)).read()


def sos_with(tmp_path, files: dict[str, str]) -> str:
    root = tmp_path / "sosreport-vm-2026-11-22"
    (root / "sos_commands").mkdir(parents=True)
    for rel, fixture in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(PDATA, fixture), root / rel)
    return str(root)


def test_psi_lines():
    mem = pressure.parse_psi(read("memory-during-cgroup-thrash"))
    assert mem == {"some_avg10": 2.71, "some_avg60": 1.93, "some_avg300": 1.0, "some_total": 5788740,
                   "full_avg10": 2.59, "full_avg60": 1.85, "full_avg300": 0.97, "full_total": 5667393}
    io = pressure.parse_psi(read("io-after-dd-direct"))
    assert (io["some_avg10"], io["full_avg60"]) == (22.64, 6.91)
    assert pressure.parse_psi("") == {}
    after = pressure.parse_psi(read("memory-after-thrash"))
    assert len(after) == 8 and after["full_avg10"] < after["full_avg60"]


def test_vmstat_counters_keep_what_rules_need():
    counters = pressure.parse_vmstat(read("vmstat-during-cgroup-thrash"))
    assert counters["pswpin"] == 852224 and counters["pswpout"] == 879984
    assert counters["oom_kill"] == 0
    # 6.x splits these per zone / per type: they are summed
    assert counters["allocstall"] == 0 and counters["workingset_refault"] == 1277937
    old = pressure.parse_vmstat("pswpin 12\npswpout 34\nallocstall 5\npgscan_direct_dma 1\n"
                                "pgscan_direct_normal 7\npgscan_direct_throttle 3\n")
    assert "oom_kill" not in old  # before 4.13 there is no such counter: left out, not 0
    assert (old["allocstall"], old["pgscan_direct"]) == (5, 8)


def test_sosreport(tmp_path, make_ctx):
    root = sos_with(tmp_path, {"proc/pressure/cpu": "cpu-during-cgroup-thrash",
                               "proc/pressure/memory": "memory-during-cgroup-thrash",
                               "proc/pressure/io": "io-during-cgroup-thrash",
                               "proc/vmstat": "vmstat-during-cgroup-thrash"})
    with SosreportSource(root) as src:
        ctx = make_ctx(src)
        pressure.collect(ctx)
    psi = {f.fields["resource"]: f for f in ctx.facts.facts if f.kind == "pressure"}
    assert set(psi) == {"cpu", "memory", "io"}
    assert psi["memory"].fields["full_avg60"] == 1.85
    assert psi["memory"].source.name == "proc/pressure/memory"
    assert psi["memory"].fields["text"].startswith("proc/pressure/memory: full avg10=2.59")
    (vm,) = [f for f in ctx.facts.facts if f.kind == "vmstat"]
    assert vm.fields["pswpout"] == 879984
    assert not [f for f in ctx.facts.facts if f.kind == "collector_status"]


def test_sosreport_from_before_sos_copied_pressure(tmp_path, make_ctx):
    root = sos_with(tmp_path, {"proc/vmstat": "vmstat-during-cgroup-thrash"})
    with SosreportSource(root) as src:
        ctx = make_ctx(src)
        pressure.collect(ctx)
    (status,) = [f.fields for f in ctx.facts.facts if f.kind == "collector_status"]
    assert status["status"] == "absent" and "sos < 4.2" in status["hint"]
    assert [f.kind for f in ctx.facts.facts if f.kind == "vmstat"] == ["vmstat"]


def test_this_host(make_ctx):
    ctx = make_ctx(LocalSource())
    pressure.collect(ctx)
    kinds = [f.kind for f in ctx.facts.facts]
    if os.path.exists("/proc/pressure/memory"):
        assert kinds.count("pressure") == 3
    else:
        assert "collector_status" in kinds
    assert "vmstat" in kinds


def test_a_kernel_without_psi(tmp_path, make_ctx):
    (tmp_path / "proc").mkdir()
    shutil.copy(os.path.join(PDATA, "vmstat-during-cgroup-thrash"), tmp_path / "proc" / "vmstat")
    ctx = make_ctx(LocalSource(root=str(tmp_path)))
    pressure.collect(ctx)
    (status,) = [f.fields for f in ctx.facts.facts if f.kind == "collector_status"]
    assert "psi=1" in status["hint"]
