"""The sar collector: sysstat history summed up into swap, disk and memory facts.

Live: the real `sadf -j` of this machine's sysstat reads a real data file (recorded while a
memory-capped cgroup thrashed through swap). Sosreport: `sar -A` text as sos writes it
(sysstat 12.6, C locale) and sysstat's own text from older versions with 12-hour times."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from hostmedic.collectors import sar
from hostmedic.engine.sources import LocalSource, SosreportSource

SDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "sysstat")


def read(name: str) -> str:
    return open(os.path.join(SDATA, name)).read()


def summary(history: sar.History) -> dict:
    out: dict = {}
    for kind, fields in sar.summarise(history):
        out.setdefault(kind, []).append(fields)
    return out


def test_sar_A_text_and_sadf_json_of_the_same_file_agree():
    text, js = sar.History(), sar.History()
    assert sar.parse_sar_text(read("sar-A-thrash.txt"), text, "sar") == 60  # -W, -B, -r and -d rows
    assert sar.parse_sadf_json(read("sadf-j-thrash.json"), js, "sadf") == 15
    a, b = summary(text), summary(js)
    for kind in ("swap_activity", "disk_busy", "memory_pressure_history"):
        for key in ("samples", "first_t", "last_t"):
            assert a[kind][0][key] == b[kind][0][key], (kind, key)
    swap = a["swap_activity"][0]
    assert (swap["thrash_samples"], swap["thrash_seconds"], swap["max_pswpin_s"]) == (13, 130, 4713.8)
    assert swap["period"] == "2026-11-22 00:20 to 2026-11-22 00:23"
    assert a["disk_busy"][0]["device"] == "vda" and a["disk_busy"][0]["saturated_samples"] == 0
    assert b["memory_pressure_history"][0]["max_majflt_s"] == a["memory_pressure_history"][0]["max_majflt_s"]


def test_twelve_hour_sar_d_with_a_repeated_header():
    """sysstat 10 on Ubuntu 12.04 (Azure), AM/PM times, devM-N names, a second header after a
    blank line: dev8-0 waited seconds per request for an hour."""
    h = sar.History()
    assert sar.parse_sar_text(read("sar-d-azure-stalls-2014.txt"), h, "sar") == 26
    disks = {d["device"]: d for d in summary(h)["disk_busy"]}
    sda = disks["dev8-0"]
    assert (sda["samples"], sda["slow_samples"], sda["busy_samples"], sda["saturated_samples"]) == (13, 10, 0, 10)
    assert sda["max_await"] == 18721.94 and sda["max_util"] == 87.95
    assert sda["saturated_seconds"] == 6000
    assert sda["period"] == "2014-08-01 07:15 to 2014-08-01 09:15"
    assert disks["dev8-16"]["saturated_samples"] == 0


def test_twelve_hour_sar_W_across_noon():
    h = sar.History()
    sar.parse_sar_text(read("sar-W-wynne-2010.txt"), h, "sar")
    swap = summary(h)["swap_activity"][0]
    assert swap["samples"] == 29 and swap["thrash_samples"] == 0 and swap["active_samples"] == 0
    assert (swap["max_pswpin_s"], swap["max_pswpout_s"]) == (7.26, 28.68)
    assert swap["period"] == "2010-04-29 11:15 to 2010-04-29 15:55"  # 12:05 PM and 01:05 PM read right


def test_header_dates_in_the_locales_sar_writes():
    assert sar.header_date("Linux 6.18.44 (vm) \t11/22/26 \t_x86_64_\t(2 CPU)") == (2026, 11, 22)
    assert sar.header_date("Linux 2.6.31-20-generic (wynne)         04/29/2010      _x86_64_        (4 CPU)") == (2010, 4, 29)
    assert sar.header_date("Linux 4.18.0-372.19.1.el8_6.x86_64 (demo.example.local) \t19/08/2022 \t_x86_64_\t(2 CPU)") == (2022, 8, 19)
    assert sar.header_date("Linux 5.14.0 (h) \t2024-01-02 \t_x86_64_\t(8 CPU)") == (2024, 1, 2)
    assert sar.header_date("garbage") is None


def test_a_decimal_comma_locale():
    text = ("Linux 4.18.0-372.19.1.el8_6.x86_64 (demo.example.local) \t19/08/2022 \t_x86_64_\t(2 CPU)\n\n"
            "16:53:37     pswpin/s pswpout/s\n16:53:38       150,00    210,00\n")
    h = sar.History()
    sar.parse_sar_text(text, h, "sar")
    assert h.swap == [(sar.calendar.timegm((2022, 8, 19, 16, 53, 38)), 1.0, 150.0, 210.0)]


# -- from sosreports -------------------------------------------------------------

def sos_with(tmp_path, files: dict[str, str]) -> str:
    root = tmp_path / "sosreport-vm-2026-11-22"
    (root / "sos_commands").mkdir(parents=True)
    for rel, fixture in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(SDATA, fixture), root / rel)
    return str(root)


def test_sosreport_keeps_only_the_newest_two_days(tmp_path, make_ctx):
    root = sos_with(tmp_path, {"sos_commands/sar/sar22": "sar-A-thrash.txt",
                               "var/log/sa/sar01": "sar-d-azure-stalls-2014.txt",
                               "sos_commands/sar/sa22.xml": "sadf-j-thrash.json"})
    with SosreportSource(root) as src:
        ctx = make_ctx(src)
        sar.collect(ctx)
    by_kind = {f.kind: f for f in ctx.facts.facts}
    assert by_kind["swap_activity"].fields["thrash_seconds"] == 130
    assert by_kind["swap_activity"].source.name == "sos_commands/sar/sar22"
    # the 2014 file is read but its samples are years older than the newest: not summed up
    assert [f.fields["device"] for f in ctx.facts.facts if f.kind == "disk_busy"] == ["vda"]
    (status,) = [f.fields for f in ctx.facts.facts if f.kind == "collector_status"]
    assert status["status"] == "ok"


def test_sosreport_of_the_stalling_azure_vm(tmp_path, make_ctx):
    with SosreportSource(sos_with(tmp_path, {"var/log/sysstat/sar01": "sar-d-azure-stalls-2014.txt"})) as src:
        ctx = make_ctx(src)
        sar.collect(ctx)
    disks = {f.fields["device"]: f.fields for f in ctx.facts.facts if f.kind == "disk_busy"}
    assert disks["dev8-0"]["saturated_seconds"] == 6000


def test_sosreport_without_sar(tmp_path, make_ctx):
    with SosreportSource(sos_with(tmp_path, {})) as src:
        ctx = make_ctx(src)
        sar.collect(ctx)
    (status,) = [f.fields for f in ctx.facts.facts]
    assert status["status"] == "absent" and "sar plugin" in status["hint"]


# -- this host ------------------------------------------------------------------------

class FixtureSysstat(LocalSource):
    """This host, with /var/log/sysstat holding one real data file: the real sadf reads it."""

    def __init__(self, name: str, fixture: str):
        super().__init__()
        self.real = {f"/var/log/sysstat/{name}": fixture}

    def listdir(self, path):
        return sorted(os.path.basename(p) for p in self.real if os.path.dirname(p) == path)

    def run(self, argv, timeout=None, sos_paths=()):
        return super().run([self.real.get(a, a) for a in argv], timeout)


def test_live_sadf_on_todays_file(make_ctx):
    if shutil.which("sadf") is None:
        pytest.skip("sysstat is not installed (the Makefile installs it)")
    today = f"sa{time.localtime().tm_mday:02d}"
    ctx = make_ctx(FixtureSysstat(today, os.path.join(SDATA, "sa-thrash")))
    sar.collect(ctx)
    status = [f.fields for f in ctx.facts.facts if f.kind == "collector_status"]
    if status and status[0]["status"] == "failed" and "version" in status[0]["detail"]:
        pytest.skip(f"this sadf cannot read a sysstat 12.6 file: {status[0]['detail']}")
    swap = [f for f in ctx.facts.facts if f.kind == "swap_activity"]
    assert swap and swap[0].fields["thrash_samples"] == 13
    assert swap[0].source.name.startswith("sadf -j -- -r -S -W -d -p -b -B")
    assert [f.fields["device"] for f in ctx.facts.facts if f.kind == "disk_busy"] == ["vda"]


def test_live_without_sysstat_history(tmp_path, make_ctx):
    ctx = make_ctx(LocalSource(root=str(tmp_path)))
    sar.collect(ctx)
    (status,) = [f.fields for f in ctx.facts.facts]
    assert status["status"] == "absent" and "sysstat" in status["hint"]


def test_todays_file_names():
    now = time.mktime((2024, 3, 1, 12, 0, 0, 0, 0, -1))
    assert sar._today_files(["sa28", "sa29", "sa01", "sar29"], now) == ["sa29", "sa01"]
    assert sar._today_files(["sa20240229", "sa20240301"], now) == ["sa20240229", "sa20240301"]
    assert sar._today_files(["sa15"], now) == []
