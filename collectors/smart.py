"""Disk health from SMART: one ``smart_device`` fact per disk.

Fields: device (/dev/sda), disk (sda), protocol (ata|scsi|nvme|unknown), model, serial,
health (PASSED|FAILED|unknown), smart_available, virtual (an emulated disk: QEMU, virtio,
VMware...), failing_attributes ("none" or "Reallocated_Sector_Ct (now), ..."), and where the
protocol has them: reallocated (ATA attribute 5; SCSI: the grown defect list), pending (197),
offline_uncorrectable (198), reported_uncorrect (187; SCSI: total uncorrected errors),
nvme_critical_warning, nvme_media_errors, percentage_used, available_spare; text.

On this host: ``smartctl --scan-open --json`` lists the disks, then ``smartctl --json -a DEV``
reads each. smartctl's exit status is a bit mask: bits 0-1 mean the command could not run
(bad arguments, device would not open), higher bits report disk problems (3: "disk
failing", 6: errors in the error log), so a non-zero exit still carries the answer.
smartctl 6, which has no --json, is read through its text scan and text reports.

In a sosreport: what sos's ata plugin (``sos_commands/ata/smartctl_-a_.dev.sda``, and
``..._-j`` JSON since sos 4.3) and nvme plugin (``sos_commands/nvme/smartctl_--all_.dev.nvme0n1``,
``nvme_smart-log_.dev.nvme0n1``) saved.

A guest whose disks are all virtual has no SMART to read: that is "not applicable", not an
error (its emulated disks are still recorded, with virtual true, when smartctl reads them).
"""
from __future__ import annotations

import json
import re
from typing import Any

from hostmedic.collectors import smartparse
from hostmedic.engine.facts import Provenance
from hostmedic.engine.sources import FAILED, MISSING, OK, TIMEOUT, Result

NAME = "smart"
NOT_APPLICABLE = "not applicable"
# smartctl exit bits 0 and 1: the command line was bad or the device could not be opened.
_CANNOT_RUN = 0b11
_SOS_PREFIXES = ("smartctl_-a_", "smartctl_--all_", "nvme_smart-log_")
HINT_VIRTUAL = ("nothing to check in a guest: SMART describes physical disks; read it on the "
                "host that holds the guest's storage (smartctl -a /dev/sdX)")


def collect(ctx) -> None:
    if ctx.source.kind == "sosreport" and hasattr(ctx.source, "sos_files"):
        _collect_sos(ctx)
    else:
        _collect_live(ctx)


# -- facts ---------------------------------------------------------------------------------

def emit(ctx, parsed: dict[str, Any], prov: Provenance) -> dict[str, Any]:
    device = parsed.get("device") or ""
    disk = device.rsplit("/", 1)[-1]
    fields = {k: v for k, v in parsed.items() if k not in ("health_line", "health_text", "vendor")}
    fields["device"] = device if device.startswith("/dev/") else f"/dev/{disk}"
    fields["disk"] = disk
    fields["virtual"] = smartparse.is_virtual(disk, parsed.get("model", ""), parsed.get("vendor", ""))
    what = parsed.get("health_text") or parsed.get("message") or f"SMART health {parsed['health']}"
    fields["text"] = f"{fields['device']} ({parsed.get('model') or 'unknown model'}): {what}"
    ctx.add("smart_device", fields, prov)
    return fields


def _summary(ctx, devices: list[dict[str, Any]], where: str) -> None:
    if not devices:
        return
    real = [d for d in devices if not d["virtual"]]
    if not real:
        ctx.status(NAME, NOT_APPLICABLE, name=where, hint=HINT_VIRTUAL,
                   detail="only virtual disks ({}); their SMART data, if any, says nothing about "
                          "the real hardware".format(", ".join(d["disk"] for d in devices)))
    else:
        ctx.status(NAME, "ok", name=where, detail=f"{len(devices)} disk(s) read: " + ", ".join(
            f"{d['disk']} {d['health']}" for d in devices))


# -- sosreport -----------------------------------------------------------------------------

def _sos_device(name: str) -> tuple[str, bool] | None:
    """'smartctl_-a_.dev.sda_-j' -> ('sda', True); other smartctl outputs (scterc) -> None."""
    m = re.match(r"^(?:smartctl_-a|smartctl_--all|nvme_smart-log)_\.dev\.(?P<dev>[\w-]+?)(?P<j>_-j)?$", name)
    return (m["dev"], bool(m["j"])) if m else None


def _collect_sos(ctx) -> None:
    by_device: dict[str, list[str]] = {}
    for prefix in _SOS_PREFIXES:
        for rel in ctx.source.sos_files(prefix):
            found = _sos_device(rel.rsplit("/", 1)[-1])
            if found:
                by_device.setdefault(found[0], []).append(rel)
    if not by_device:
        guest = _guest(ctx)
        if guest:
            ctx.status(NAME, NOT_APPLICABLE, name="sos_commands/ata", hint=HINT_VIRTUAL,
                       detail=f"no SMART output, and none expected: {guest}")
        else:
            ctx.status(NAME, "absent", name="sos_commands/ata",
                       detail="no smartctl or nvme smart-log output in this sosreport",
                       hint="sos saves SMART data with its ata and nvme plugins, for physical "
                            "disks only; on a host, check `smartctl -a /dev/sdX` there")
        return
    devices = []
    for dev, rels in sorted(by_device.items()):
        # JSON first (complete and unambiguous), then smartctl text, then nvme-cli.
        rels.sort(key=lambda r: (not r.endswith("_-j"), "nvme_smart-log" in r))
        parsed, used = None, None
        for rel in rels:
            res = ctx.source.read_rel(rel)
            if not res.ok or not res.text.strip():
                continue
            parsed, used = smartparse.parse(res.text, f"/dev/{dev}"), res
            if parsed.get("health") != "unknown" or parsed.get("protocol") != "unknown":
                break
        if parsed is None:
            ctx.status(NAME, "failed", name=rels[0], detail=f"{rels[0]}: empty or unreadable")
            continue
        if "nvme_smart-log" in used.name and parsed["health"] == "unknown":
            parsed["protocol"] = "nvme"  # nvme-cli states no verdict; the warning byte is it
        parsed["device"] = f"/dev/{dev}"
        devices.append(emit(ctx, parsed, Provenance("command", used.name, parsed.get("health_line"))))
    _summary(ctx, devices, "sos_commands/ata")


def _guest(ctx) -> str:
    """Why this sosreport is of a guest without physical disks ("" when it is not known to be):
    the host collector's virtualization fact, or sos's lsblk listing only virtual disks."""
    for fact in ctx.facts.of_kind("host"):
        virt = fact.fields.get("virt")
        if virt and virt != "none":
            return f"a virtual machine ({virt})"
    disks: list[str] = []
    lsblk = ctx.source.run(["lsblk"], sos_paths=["sos_commands/block/lsblk"])
    if lsblk.ok:  # NAME MAJ:MIN RM SIZE RO TYPE MOUNTPOINT
        disks = [re.sub(r"^[^\w]+", "", line.split()[0]) for line in lsblk.lines()[1:]
                 if len(line.split()) > 5 and line.split()[5] == "disk"]
    else:  # lsblk -D (which the mounts collector reads too): top-level rows are whole devices
        lsblk = ctx.source.run(["lsblk", "-D"])
        disks = [line.split()[0] for line in lsblk.lines()[1:] if line[:1].isalnum()
                 and not re.match(r"^(?:sr|fd|loop|zram|ram|nbd)\d", line)]
    if lsblk.ok and disks and all(smartparse.is_virtual(d) for d in disks):
        return "virtual disks only ({})".format(", ".join(disks))
    return ""


# -- this host -----------------------------------------------------------------------------

def _scan(ctx) -> tuple[list[dict[str, str]], list[str], Result, bool]:
    """Devices smartctl can open, the open errors of those it cannot, the scan's result,
    and whether this smartctl speaks JSON (smartctl 6 has no --json: then its text scan,
    "/dev/sda -d sat # /dev/sda [SAT], ATA device", and text reports are read)."""
    res = ctx.source.run(["smartctl", "--scan-open", "--json"])
    devices: list[dict[str, str]] = []
    errors: list[str] = []
    try:
        doc = json.loads(res.text) if res.text.strip() else {}
        speaks_json = True
    except ValueError:
        doc, speaks_json = {}, False
        res = ctx.source.run(["smartctl", "--scan-open"])
        for line in res.lines():
            m = re.match(r"^(/dev/\S+)\s+-d\s+(\w\S*)", line)
            if m:
                devices.append({"name": m[1], "type": m[2]})
    for dev in (doc.get("devices") if isinstance(doc, dict) else None) or []:
        if not isinstance(dev, dict):
            continue
        if dev.get("open_error"):
            errors.append(f"{dev.get('name')}: {dev['open_error']}")
        elif str(dev.get("name", "")).startswith("/dev/"):  # never something smartctl reads as an option
            kind = str(dev.get("type") or "")
            devices.append({"name": dev["name"], "type": kind if re.fullmatch(r"\w[\w,+.-]*", kind) else ""})
    return devices, errors, res, speaks_json


def _block_disks(ctx) -> list[dict[str, str]]:
    """Whole disks from lsblk, with model and vendor, to tell virtual from physical."""
    res = ctx.source.run(["lsblk", "-d", "-P", "-o", "NAME,TYPE,MODEL,VENDOR"])
    disks = []
    for line in res.lines():
        row = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if row.get("TYPE") == "disk" and not re.match(r"^(?:loop|ram|zram|nbd)\d", row.get("NAME", "")):
            disks.append(row)
    return disks


def _collect_live(ctx) -> None:
    scanned, open_errors, scan, speaks_json = _scan(ctx)
    if scan.status in (MISSING, TIMEOUT) or (scan.status != OK and not scanned):
        disks = _block_disks(ctx)
        if disks and all(smartparse.is_virtual(d["NAME"], d.get("MODEL", ""), d.get("VENDOR", ""))
                         for d in disks):
            ctx.status(NAME, NOT_APPLICABLE, name=scan.name, hint=HINT_VIRTUAL,
                       detail="virtual disks only ({}): no SMART to read".format(
                           ", ".join(d["NAME"] for d in disks)))
        else:
            ctx.status(NAME, scan, hint="install smartmontools (`apt install smartmontools` or "
                       "`dnf install smartmontools`) and run as root to read disk health"
                       if scan.status == MISSING else "run diagnose as root to read disk health")
        return
    if not scanned:
        disks = _block_disks(ctx)
        virtual = [d["NAME"] for d in disks if smartparse.is_virtual(
            d["NAME"], d.get("MODEL", ""), d.get("VENDOR", ""))]
        if open_errors:
            ctx.status(NAME, "denied" if re.search(r"permission denied", " ".join(open_errors), re.I)
                       else FAILED, name=scan.name, detail="; ".join(open_errors[:3]),
                       hint="run diagnose as root to read disk health")
        elif disks and len(virtual) == len(disks):
            ctx.status(NAME, NOT_APPLICABLE, name=scan.name, hint=HINT_VIRTUAL,
                       detail="smartctl found no SMART-capable disk; "
                              f"virtual disks only ({', '.join(virtual) or 'none'})")
        else:
            ctx.status(NAME, "absent", name=scan.name, detail="smartctl found no disk to read",
                       hint="run diagnose as root; disks behind a RAID controller need "
                            "`smartctl -d megaraid,N` (or the vendor's tool)")
        return
    devices = []
    for dev in scanned:
        parsed, res = _read_device(ctx, dev, speaks_json)
        exit_status = parsed.get("exit_status", res.rc) if parsed else res.rc
        usable = parsed is not None and (parsed["health"] != "unknown" or parsed["protocol"] != "unknown")
        if not usable or (isinstance(exit_status, int) and exit_status & _CANNOT_RUN):
            if parsed is not None and smartparse.is_virtual(dev["name"], parsed.get("model", "")):
                devices.append(emit(ctx, parsed, Provenance("command", res.name)))
                continue
            ctx.status(NAME, res.status if res.status != OK else FAILED, name=res.name,
                       detail=(parsed or {}).get("message") or res.detail or "no SMART data",
                       hint="run diagnose as root; check the device type (`smartctl -d TYPE`)")
            continue
        devices.append(emit(ctx, parsed, Provenance("command", res.name, parsed.get("health_line"))))
    _summary(ctx, devices, scan.name)


def _read_device(ctx, dev: dict[str, str], speaks_json: bool) -> tuple[dict[str, Any] | None, Result]:
    """One disk's report. A non-zero exit is kept: its bits above 1 report disk problems."""
    args = ["-a", dev["name"]] + (["-d", dev["type"]] if dev["type"] else [])
    res = ctx.source.run(["smartctl", "--json"] + args if speaks_json else ["smartctl"] + args)
    if res.status not in (OK, FAILED) or not res.text.strip():
        return None, res
    parsed = smartparse.parse_json(res.text, dev["name"]) if speaks_json else \
        smartparse.parse_text(res.text, dev["name"])
    return parsed, res
