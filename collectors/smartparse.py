"""Parsers for what smartctl and nvme-cli print about a disk's health.

Three input forms, all reduced to the same dict of fields (see ``smart.py``):

* ``smartctl --json -a DEV`` (smartmontools 7+)::

      {"device": {"name": "/dev/sda", "protocol": "ATA"}, "smart_status": {"passed": true},
       "ata_smart_attributes": {"table": [{"id": 5, "raw": {"value": 304}}, ...]}, ...}

* ``smartctl -a DEV`` text, for ATA, NVMe and SCSI/SAS disks::

      SMART overall-health self-assessment test result: FAILED!
        5 Reallocated_Sector_Ct   PO--CK   001   001   010    NOW  41520
      Critical Warning:                   0x04
      Media and Data Integrity Errors:    1
      SMART Health Status: FAILURE PREDICTION THRESHOLD EXCEEDED [asc=5d, ascq=0]
      Elements in grown defect list: 2066

* ``nvme smart-log DEV`` (nvme-cli 1.x pads with spaces, 2.x with tabs)::

      critical_warning                    : 0
      media_errors                        : 0

Counters that do not exist for a protocol are left out (a rule comparing them then
never matches), never set to 0.
"""
from __future__ import annotations

import json
import re
from typing import Any

# ATA attribute ids: reallocated, reported uncorrectable, pending, offline uncorrectable.
ATA_COUNTERS = {5: "reallocated", 187: "reported_uncorrect", 197: "pending",
                198: "offline_uncorrectable"}
# Hypervisors' emulated disks: SMART there (if any) says nothing about real hardware.
_VIRTUAL_MODEL = re.compile(r"QEMU|VBOX|VMware|Virtual (?:disk|S\b)|Msft Virtual|Xen|"
                            r"Red Hat VirtIO|Google PersistentDisk|Amazon Elastic Block", re.I)
_VIRTUAL_NAME = re.compile(r"^(?:/dev/)?(?:x?vd[a-z]+|zram\d+)$")
_NUMBER = re.compile(r"^[\d,.' \u2019]+$")


def to_int(text: str) -> int | None:
    """'14,370' / "1'905'455" / '1.905.455' -> int; thousands separators vary by locale."""
    m = re.match(r"\s*(\d[\d,.' \u2019]*)", text or "")
    if not m:
        return None
    digits = re.sub(r"[^\d]", "", m.group(1).strip())
    return int(digits) if digits and len(digits) <= 40 else None  # more is damage, not a count


def is_virtual(device: str, model: str = "", vendor: str = "") -> bool:
    return bool(_VIRTUAL_NAME.match(device or "") or _VIRTUAL_MODEL.search(f"{vendor} {model}")
                or vendor.strip().lower() == "0x1af4")  # the virtio PCI vendor id, as lsblk shows it


def _base(device: str) -> dict[str, Any]:
    return {"device": device, "protocol": "unknown", "model": "", "serial": "",
            "health": "unknown", "smart_available": True, "failing_attributes": "none"}


# -- JSON ----------------------------------------------------------------------------------

def parse_json(text: str, device: str = "") -> dict[str, Any] | None:
    """smartctl --json output; None when the text is not smartctl JSON."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or "smartctl" not in doc:
        return None
    dev = doc.get("device") or {}
    out = _base(dev.get("name") or device)
    out["exit_status"] = (doc.get("smartctl") or {}).get("exit_status")
    proto = (dev.get("protocol") or "").lower()
    out["protocol"] = {"ata": "ata", "scsi": "scsi", "nvme": "nvme"}.get(proto, "unknown")
    out["model"] = doc.get("model_name") or doc.get("scsi_model_name") or " ".join(
        p for p in (doc.get("scsi_vendor"), doc.get("scsi_product")) if p) or ""
    out["serial"] = doc.get("serial_number") or ""
    status = doc.get("smart_status")
    if isinstance(status, dict) and "passed" in status:
        out["health"] = "PASSED" if status["passed"] else "FAILED"
    support = doc.get("smart_support") or {}
    if support.get("available") is False:
        out["smart_available"] = False
    messages = [m.get("string", "") for m in (doc.get("smartctl") or {}).get("messages") or []
                if m.get("severity") == "error"]
    if messages:
        out["message"] = messages[0]
    failing = []
    for attr in (doc.get("ata_smart_attributes") or {}).get("table") or []:
        name = ATA_COUNTERS.get(attr.get("id"))
        raw = (attr.get("raw") or {}).get("value")
        if name and isinstance(raw, int):
            out[name] = raw
        if attr.get("when_failed") in ("now", "past"):
            failing.append(f"{attr.get('name')} ({attr['when_failed']})")
    if failing:
        out["failing_attributes"] = ", ".join(failing)
    nvme = doc.get("nvme_smart_health_information_log")
    if isinstance(nvme, dict):
        _set(out, "nvme_critical_warning", nvme.get("critical_warning"))
        _set(out, "nvme_media_errors", nvme.get("media_errors"))
        _set(out, "percentage_used", nvme.get("percentage_used"))
        _set(out, "available_spare", nvme.get("available_spare"))
    if "scsi_grown_defect_list" in doc:  # SCSI: blocks the drive has reallocated
        _set(out, "reallocated", doc.get("scsi_grown_defect_list"))
    counters = doc.get("scsi_error_counter_log")
    if isinstance(counters, dict):
        total = [v.get("total_uncorrected_errors") for v in counters.values() if isinstance(v, dict)]
        if any(isinstance(t, int) for t in total):
            out["reported_uncorrect"] = sum(t for t in total if isinstance(t, int))
    return out


def _set(out: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        out[key] = value


# -- text ----------------------------------------------------------------------------------

_HEALTH = re.compile(r"^(?:SMART overall-health self-assessment test result|SMART Health Status):"
                     r"\s*(?P<word>.+?)\s*$")
_ATTR = re.compile(r"^\s*(?P<id>\d{1,3})\s+(?P<name>\S+)\s+(?P<flag>0x[0-9a-fA-F]{4}|[-P][-O][-S][-R][-C][-K])"
                   r"\s+(?P<value>\d+)\s+(?P<worst>\d+)\s+(?P<thresh>\d+|---)\s+(?P<rest>.*)$")
_KEY = re.compile(r"^(?P<key>[A-Za-z][\w ./()-]*?)\s*:\s*(?P<value>.*)$")
_SCSI_ERRORS = re.compile(r"^(?P<op>read|write|verify):\s+(?P<cols>[\d.\s]+)$")


def parse_text(text: str, device: str = "") -> dict[str, Any]:
    """smartctl -a / -x / -A text for ATA, NVMe or SCSI disks (and nvme-cli smart-log).
    Adds ``health_line``: the 1-based line of the verdict, for provenance."""
    out = _base(device)
    failing = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        m = _HEALTH.match(line)
        if m:
            word = m["word"]
            out["health"] = "PASSED" if word.upper() in ("PASSED", "OK") else \
                "FAILED" if word.upper().startswith(("FAILED", "FAILURE")) or "FAIL" in word.upper() \
                else "unknown"
            out["health_line"] = lineno
            out["health_text"] = line.strip()
            if line.startswith("SMART Health Status"):
                out["protocol"] = "scsi"
            continue
        a = _ATTR.match(line)
        if a:
            out["protocol"] = "ata"
            rest = a["rest"].split()
            # long form: TYPE UPDATED WHEN_FAILED RAW...; brief form (-x): FAIL RAW...
            when, raw_value = (rest[2], rest[3:]) if a["flag"].startswith("0x") and len(rest) > 3 \
                else (rest[0] if rest else "-", rest[1:])
            name = ATA_COUNTERS.get(int(a["id"]))
            value = to_int(raw_value[0]) if raw_value else None
            if name and value is not None:
                out[name] = value
            if when not in ("-", ""):
                failing.append(f"{a['name']} ({when.lower().replace('failing_', '')})")
            continue
        s = _SCSI_ERRORS.match(line.strip())
        if s and out["protocol"] == "scsi":
            cols = s["cols"].split()
            value = to_int(cols[-1].split(".")[0]) if len(cols) >= 7 else None  # 400 digits: damage
            if value is not None:
                out["reported_uncorrect"] = out.get("reported_uncorrect", 0) + value
            continue
        k = _KEY.match(line.strip())
        if k:
            _text_key(out, k["key"].strip(), k["value"].strip())
    if failing:
        out["failing_attributes"] = ", ".join(failing)
    return out


def _text_key(out: dict[str, Any], key: str, value: str) -> None:
    low = key.lower().replace("_", " ")
    if low in ("device model", "model number", "product"):
        out["model"] = (out["model"] + " " + value).strip() if low == "product" else value
        if low == "model number":
            out["protocol"] = "nvme"
        elif low == "device model":
            out["protocol"] = "ata"
    elif low == "vendor":
        out["vendor"] = value
        out["model"] = (value.rstrip(",") + " " + out["model"]).strip()
        out["protocol"] = "scsi"
    elif low in ("serial number",):
        out["serial"] = value
    elif low == "smart support is" and value.lower().startswith("unavailable"):
        out["smart_available"] = False
        out["health_text"] = out.get("health_text") or f"SMART support is: {value}"
    elif low == "critical warning":
        out["protocol"] = "nvme"
        out["nvme_critical_warning"] = int(value, 16) if value.lower().startswith("0x") else to_int(value)
    elif low in ("media and data integrity errors", "media errors"):
        out["protocol"] = "nvme"
        out["nvme_media_errors"] = to_int(value)
    elif low == "percentage used":
        out["percentage_used"] = to_int(value)
    elif low == "available spare":
        out["available_spare"] = to_int(value)
    elif low == "elements in grown defect list":
        out["reallocated"] = to_int(value)
    elif low.endswith("unable to detect device type") or "unable to detect device type" in value.lower():
        out["message"] = f"{key}: {value}"
    for k in [k for k, v in out.items() if v is None]:
        del out[k]


def parse(text: str, device: str = "") -> dict[str, Any]:
    """JSON when the text is smartctl JSON, else the text forms."""
    parsed = parse_json(text, device)
    if parsed is not None:
        return parsed
    parsed = parse_text(text, device)
    if re.search(r"^/dev/\S+: Unable to detect device type", text, re.M):
        parsed["message"] = "Unable to detect device type"
    return parsed
