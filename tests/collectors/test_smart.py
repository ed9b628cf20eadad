"""The SMART collector: smartctl JSON and text (ATA, NVMe, SCSI), nvme-cli, sosreports, this host.

Fixtures: tests/data/storage/smart/ (see tests/data/storage/README.md). The corpus cases
storage-05/06 are read where they are, never copied.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hostmedic.collectors import smart, smartparse
from hostmedic.engine.analysis import analyse
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import FAILED, OK, LocalSource, Result, SosreportSource

SMART = Path(__file__).resolve().parents[1] / "data" / "storage" / "smart"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "cases"
PACK = load_pack()


def text(name: str) -> str:
    return (SMART / name).read_text()


def facts(ctx, kind):
    return [f.fields for f in ctx.facts.facts if f.kind == kind]


def statuses(ctx):
    return [f.fields for f in ctx.facts.facts if f.kind == "collector_status"
            and f.fields["collector"] == "smart"]


# -- parsers --------------------------------------------------------------------------------

def test_json_ata_counters_from_the_attribute_table():
    p = smartparse.parse(text("ata-st3500418as-reallocated.json"))
    assert (p["protocol"], p["model"], p["health"]) == ("ata", "ST3500418AS", "PASSED")
    assert (p["reallocated"], p["pending"], p["offline_uncorrectable"], p["reported_uncorrect"]) \
        == (304, 0, 0, 0)
    assert "nvme_critical_warning" not in p  # counters of other protocols are left out


def test_json_nvme_critical_warning_and_exit_status_bits():
    p = smartparse.parse(text("nvme-samsung-mzwll-critical-warning.json"))
    assert (p["protocol"], p["health"], p["nvme_critical_warning"], p["exit_status"]) \
        == ("nvme", "FAILED", 16, 8)
    healthy = smartparse.parse(text("nvme-intel-healthy.json"))
    assert (healthy["health"], healthy["nvme_critical_warning"], healthy["nvme_media_errors"]) \
        == ("PASSED", 0, 0)


def test_json_scsi_grown_defects_count_as_reallocated():
    p = smartparse.parse(text("scsi-seagate-grown-defects.json"))
    assert (p["protocol"], p["health"], p["reallocated"], p["reported_uncorrect"]) \
        == ("scsi", "PASSED", 260, 536)
    assert smartparse.parse(text("scsi-hitachi-healthy.json"))["reallocated"] == 0


def test_text_nvme_full_report_and_attribute_only_report():
    p = smartparse.parse(text("nvme-samsung-980pro.txt"))
    assert (p["protocol"], p["model"], p["health"], p["nvme_critical_warning"],
            p["nvme_media_errors"], p["health_line"]) == ("nvme", "Samsung 980 PRO 1TB", "PASSED", 0, 0, 34)
    a = smartparse.parse(text("nvme-intel-600p-media-errors.A.txt"))
    assert (a["protocol"], a["health"], a["nvme_media_errors"], a["percentage_used"]) \
        == ("nvme", "unknown", 1, 46)


def test_text_nvme_cli_smart_log_both_layouts():
    one = smartparse.parse(text("nvme-cli-smart-log-960pro.txt"))
    two = smartparse.parse(text("nvme-cli2-smart-log.txt"))
    assert (one["nvme_critical_warning"], one["nvme_media_errors"], one["available_spare"]) == (0, 0, 100)
    assert (two["nvme_critical_warning"], two["nvme_media_errors"], two["percentage_used"]) == (0, 0, 18)


def test_text_sas_health_ok_and_failure_prediction():
    ok = smartparse.parse(text("sas-hgst-healthy.txt"))
    assert (ok["protocol"], ok["health"], ok["reallocated"]) == ("scsi", "PASSED", 0)
    bad = smartparse.parse(text("sas-seagate-failure-prediction.txt"))
    assert (bad["protocol"], bad["health"], bad["reallocated"], bad["reported_uncorrect"]) \
        == ("scsi", "FAILED", 2066, 3)
    assert bad["health_text"].startswith("SMART Health Status: FAILURE PREDICTION THRESHOLD EXCEEDED")


def test_virtual_disks_are_recognised():
    qemu = smartparse.parse(text("qemu-harddisk-xall.txt"))
    assert (qemu["model"], qemu["health"], qemu["reallocated"]) == ("QEMU HARDDISK", "PASSED", 0)
    assert smartparse.is_virtual("sda", qemu["model"])
    vmware = smartparse.parse(text("vmware-virtual-disk.txt"))
    assert vmware["smart_available"] is False and smartparse.is_virtual("sda", vmware["model"])
    for name in ("virtio-vda.txt", "virtio-vda.json"):
        p = smartparse.parse(text(name), "/dev/vda")
        assert p["health"] == "unknown" and "Unable to detect device type" in p["message"]
    assert smartparse.is_virtual("vda") and smartparse.is_virtual("sdb", "", "0x1af4")
    assert not smartparse.is_virtual("sda", "ST4000VN008-2DR166")


def test_thousands_separators_of_any_locale():
    assert smartparse.to_int("14,370") == 14370
    assert smartparse.to_int("1\u2019905\u2019455 [975 GB]") == 1905455
    assert smartparse.to_int("0x00") == 0 and smartparse.to_int("") is None


# -- sosreport ------------------------------------------------------------------------------

def sos_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sosreport-host"
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (root / "version.txt").write_text("sosreport: 4.5.6\n")
    return root


def test_sos_prefers_json_and_reads_nvme_text_and_smart_log(tmp_path, make_ctx):
    root = sos_tree(tmp_path, {
        # sos 4.3+: "smartctl -a /dev/sda" and "smartctl -a /dev/sda -j"
        "sos_commands/ata/smartctl_-a_.dev.sda": text("qemu-harddisk-xall.txt"),
        "sos_commands/ata/smartctl_-a_.dev.sda_-j": text("ata-st3500418as-reallocated.json"),
        "sos_commands/ata/smartctl_-l_scterc_.dev.sda": "SCT Error Recovery Control command not supported\n",
        "sos_commands/nvme/smartctl_--all_.dev.nvme0n1": text("nvme-samsung-980pro.txt"),
        "sos_commands/nvme/nvme_smart-log_.dev.nvme1n1": text("nvme-cli2-smart-log.txt"),
    })
    ctx = make_ctx(SosreportSource(str(root)))
    smart.collect(ctx)
    by_disk = {f["disk"]: f for f in facts(ctx, "smart_device")}
    assert set(by_disk) == {"sda", "nvme0n1", "nvme1n1"}
    assert by_disk["sda"]["model"] == "ST3500418AS" and by_disk["sda"]["reallocated"] == 304
    assert by_disk["nvme0n1"]["health"] == "PASSED" and by_disk["nvme0n1"]["virtual"] is False
    assert by_disk["nvme1n1"]["protocol"] == "nvme" and by_disk["nvme1n1"]["nvme_media_errors"] == 0
    prov = [f.source for f in ctx.facts.facts if f.kind == "smart_device" and f.fields["disk"] == "nvme0n1"][0]
    assert prov.name == "sos_commands/nvme/smartctl_--all_.dev.nvme0n1" and prov.line == 34
    assert statuses(ctx)[-1]["status"] == "ok"


def test_sos_guest_with_only_an_emulated_disk_is_not_applicable(tmp_path, make_ctx):
    root = sos_tree(tmp_path, {"sos_commands/ata/smartctl_-a_.dev.sda": text("qemu-harddisk-xall.txt")})
    ctx = make_ctx(SosreportSource(str(root)))
    smart.collect(ctx)
    assert facts(ctx, "smart_device")[0]["virtual"] is True
    st = statuses(ctx)[-1]
    assert st["status"] == "not applicable" and st["hint"]


def test_sos_of_a_guest_without_smart_output_is_not_applicable(tmp_path, make_ctx):
    root = sos_tree(tmp_path, {"sos_commands/block/lsblk_-D": text("lsblk_-D.virtio")})
    ctx = make_ctx(SosreportSource(str(root)))
    smart.collect(ctx)
    (st,) = statuses(ctx)
    assert st["status"] == "not applicable" and "vda" in st["detail"] and st["hint"]


def test_sos_without_smart_output_says_so(tmp_path, make_ctx):
    ctx = make_ctx(SosreportSource(str(sos_tree(tmp_path, {"sos_commands/host/hostname": "h\n"}))))
    smart.collect(ctx)
    assert statuses(ctx) and statuses(ctx)[0]["status"] == "absent" and statuses(ctx)[0]["hint"]


def corpus_case(name: str) -> Path:
    case = CORPUS / name / "sosreport"
    if not case.is_dir():
        pytest.skip(f"shared corpus case {name} is not here")
    return case


def test_corpus_ironwolf_failed(make_ctx):
    ctx = make_ctx(SosreportSource(str(corpus_case("storage-05-smart-failed-ironwolf"))))
    smart.collect(ctx)
    (dev,) = facts(ctx, "smart_device")
    assert (dev["device"], dev["health"], dev["reallocated"], dev["pending"],
            dev["offline_uncorrectable"], dev["virtual"]) == ("/dev/sda", "FAILED", 41520, 24016, 24016, False)
    assert "Reallocated_Sector_Ct (now)" in dev["failing_attributes"]
    fired = {f.rule for f in analyse(ctx.facts, PACK).findings}
    assert "disk-smart-failing" in fired


def test_corpus_barracuda_passed(make_ctx):
    ctx = make_ctx(SosreportSource(str(corpus_case("storage-06-smart-passed-healthy"))))
    smart.collect(ctx)
    (dev,) = facts(ctx, "smart_device")
    assert (dev["health"], dev["reallocated"], dev["pending"], dev["offline_uncorrectable"]) \
        == ("PASSED", 0, 0, 0)
    assert analyse(ctx.facts, PACK).findings == []


# -- this host ------------------------------------------------------------------------------

def test_this_machine_runs_real_smartctl_without_error(make_ctx):
    """On a VM (virtio disks) this is 'not applicable'; on hardware, disks are read."""
    ctx = make_ctx(LocalSource(timeout=20))
    smart.collect(ctx)
    st = statuses(ctx)
    assert st, "the collector must say how it went"
    assert all(s["status"] in ("ok", "not applicable", "missing", "denied", "absent") for s in st), st
    assert all(s["hint"] for s in st if s["status"] != "ok")
    if shutil.which("smartctl") and shutil.which("lsblk"):
        disks = smart._block_disks(ctx)
        if disks and all(smartparse.is_virtual(d["NAME"], d.get("MODEL", ""), d.get("VENDOR", ""))
                         for d in disks):
            assert st[-1]["status"] == "not applicable"


def test_this_machine_without_smartctl(make_ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing installed: smartctl and lsblk missing
    ctx = make_ctx(LocalSource())
    smart.collect(ctx)
    (st,) = statuses(ctx)
    assert st["status"] == "missing" and "smartmontools" in st["hint"]


class FailingDisks(LocalSource):
    """What smartctl prints on a host with a failing NVMe disk and a disk that will not
    open: the exact JSON smartctl writes, with the exit status it returns (LocalSource turns
    a non-zero exit into status "failed" and keeps the text)."""

    def __init__(self, outputs: dict[str, tuple[str, int]]):
        super().__init__()
        self.outputs = outputs
        self.calls: list[list[str]] = []

    def run(self, argv, timeout=None, sos_paths=()):
        self.calls.append(list(argv))
        key = " ".join(argv)
        if key not in self.outputs:
            return super().run(argv, timeout, sos_paths)
        out, rc = self.outputs[key]
        return Result(OK if rc == 0 else FAILED, key, text=out, rc=rc,
                      detail="" if rc == 0 else f"exit status {rc}")


def scan_json(*devices: dict) -> str:
    doc = json.loads(text("scan-open-none.json"))
    doc["devices"] = list(devices)
    return json.dumps(doc)


def test_live_failing_nvme_is_read_despite_exit_status_8(make_ctx):
    nvme = text("nvme-samsung-mzwll-critical-warning.json")
    gone = json.dumps({"json_format_version": [1, 0], "smartctl": {
        "version": [7, 3], "exit_status": 2, "messages": [
            {"string": "Smartctl open device: /dev/sdb failed: No such device", "severity": "error"}]},
        "device": {"name": "/dev/sdb", "info_name": "/dev/sdb", "type": "sat", "protocol": "ATA"}})
    source = FailingDisks({
        "smartctl --scan-open --json": (scan_json(
            {"name": "/dev/nvme0", "info_name": "/dev/nvme0", "type": "nvme", "protocol": "NVMe"},
            {"name": "/dev/sdb", "info_name": "/dev/sdb [SAT]", "type": "sat", "protocol": "ATA"}), 0),
        "smartctl --json -a /dev/nvme0 -d nvme": (nvme, 8),
        "smartctl --json -a /dev/sdb -d sat": (gone, 2),
    })
    ctx = make_ctx(source)
    smart.collect(ctx)
    (dev,) = facts(ctx, "smart_device")
    assert (dev["device"], dev["health"], dev["nvme_critical_warning"], dev["exit_status"]) \
        == ("/dev/nvme0", "FAILED", 16, 8)
    failed = [s for s in statuses(ctx) if s["status"] == "failed"]
    assert failed and "open device" in failed[0]["detail"] and failed[0]["hint"]
    fired = {f.rule for f in analyse(ctx.facts, PACK, only=["disk-smart-failing"]).findings}
    assert fired == {"disk-smart-failing"}


def test_live_smartctl_6_without_json_reads_text_reports(make_ctx):
    """smartctl 6.x refuses --json (exit status 1, "UNRECOGNIZED OPTION"): the text scan and
    text reports are read instead."""
    banner = ("smartctl 6.6 2016-05-31 r4324 [x86_64-linux-4.15.0-46-generic] (local build)\n"
              "Copyright (C) 2002-16, Bruce Allen, Christian Franke, www.smartmontools.org\n\n"
              "=======> UNRECOGNIZED OPTION: json\n\nUse smartctl -h to get a usage summary\n\n")
    source = FailingDisks({
        "smartctl --scan-open --json": (banner, 1),
        "smartctl --scan-open": ("/dev/sda -d scsi # /dev/sda, SCSI device\n", 0),
        "smartctl -a /dev/sda -d scsi": (text("sas-hgst-healthy.txt"), 0),
    })
    ctx = make_ctx(source)
    smart.collect(ctx)
    (dev,) = facts(ctx, "smart_device")
    assert (dev["device"], dev["protocol"], dev["model"], dev["health"], dev["reallocated"]) \
        == ("/dev/sda", "scsi", "HGST HUH721212AL5204", "PASSED", 0)
    prov = [f.source for f in ctx.facts.facts if f.kind == "smart_device"][0]
    assert (prov.name, prov.line) == ("smartctl -a /dev/sda -d scsi", 25)
    assert statuses(ctx)[-1]["status"] == "ok"
