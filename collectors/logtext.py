"""Log lines as facts, and parsers for the text forms logs take in a sosreport.

Every kept log line becomes a fact of kind ``log`` with the fields below; the
rule pack's patterns later turn some of them into typed symptom facts.

    message   the text after the syslog prefix
    stream    journal | syslog | dmesg | console | qemu | libvirtd
    ident     syslog identifier ("kernel", "systemd", ...), when known
    pid, unit, priority, host
    boot      boot offset (0 = the boot the data was taken in, -1 the one before), when known
    boot_id   the journal's boot id, when known
    t         epoch seconds, when known (text timestamps are read as UTC)
    domain    the libvirt domain a qemu or console log belongs to
"""
from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from hostmedic.engine.facts import Provenance

# Identifiers whose lines are always kept: they tell the story of boots and shutdowns.
STORY_IDENTS = {"kernel", "systemd", "systemd-journald", "systemd-shutdown", "systemd-logind",
                "libvirtd", "libvirt-guests.sh", "libvirt-guests", "virtqemud", "qemu-ga", "qemu", "init"}

_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_SHORT = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d+)? "
                    r"(?P<host>\S+) (?P<ident>[^\s\[]+?)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$")
_ISO = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d)[T ](?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d+)?"
                  r"(?P<tz>Z|[+-]\d\d:?\d\d)? (?P<host>\S+) (?P<ident>[^\s\[]+?)(?:\[(?P<pid>\d+)\])?: ?"
                  r"(?P<msg>.*)$")
_BOOT_MARK = re.compile(r"^-- (?:Boot (?P<id>[0-9a-f]{32})|Reboot) --\s*$")
_DMESG = re.compile(r"^(?:<(?P<level>\d)>)?\[\s*(?P<mono>\d+\.\d+)\] ?(?P<msg>.*)$")
_DMESG_T = re.compile(r"^\[(?P<stamp>[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \d{4})\] ?(?P<msg>.*)$")
_KERNEL_STAMP = re.compile(r"^\[\s*\d+\.\d+\] ")
_KERNEL_START = re.compile(r"^(?:\[\s*0\.0+\] )?Linux version \d")


@dataclass
class Line:
    """One parsed log line, before it becomes a fact."""

    message: str
    lineno: int
    fields: dict[str, Any] = field(default_factory=dict)


def year_for(month: int, reference: float) -> int:
    """Text timestamps carry no year: take the latest year not after the reference time."""
    ref = time.gmtime(reference)
    return ref.tm_year if month <= ref.tm_mon else ref.tm_year - 1


def _short_time(m: re.Match, reference: float) -> float | None:
    month = _MONTHS.get(m["mon"])
    if not month:
        return None
    try:
        hh, mm, ss = (int(x) for x in m["hms"].split(":"))
        t = calendar.timegm((year_for(month, reference), month, int(m["day"]), hh, mm, ss))
    except (ValueError, OverflowError):
        return None
    return t + (float(m["frac"]) if m["frac"] else 0.0)


def iso_time(m: re.Match) -> float | None:
    """Epoch seconds of a match with date, hms, frac and tz groups (no zone: UTC)."""
    try:
        y, mo, d = (int(x) for x in m["date"].split("-"))
        hh, mm, ss = (int(x) for x in m["hms"].split(":"))
        t = calendar.timegm((y, mo, d, hh, mm, ss))
    except (ValueError, OverflowError):
        return None
    tz = m["tz"]
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return t + (float(m["frac"]) if m["frac"] else 0.0)


def parse_syslog_text(text: str, reference: float, stream: str) -> Iterator[Line]:
    """journalctl's short / short-precise / short-iso text and rsyslog files.

    Boots are numbered from the end: a "-- Boot ID --" marker (journalctl) or a kernel
    "Linux version" line (syslog files) starts a new boot; the last one is boot 0.
    """
    parsed: list[Line] = []
    boot_index, boot_id = 0, None
    seen_content = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        mark = _BOOT_MARK.match(raw)
        if mark:
            if seen_content:
                boot_index += 1
            boot_id, seen_content = mark["id"], False
            continue
        if raw.startswith(("-- ", "░░")) or not raw.strip():
            continue  # journalctl's own notes and --catalog explanations (ASCII or UTF-8 locale)
        m = _SHORT.match(raw)
        t = _short_time(m, reference) if m else None
        if not m:
            m = _ISO.match(raw)
            t = iso_time(m) if m else None
        if not m:
            if parsed:  # a continuation of a multi-line message
                parsed[-1].message += "\n" + raw.strip()
            continue
        msg = m["msg"]
        if m["ident"] == "kernel":
            msg = _KERNEL_STAMP.sub("", msg)
            if stream == "syslog" and _KERNEL_START.match(msg) and seen_content:
                boot_index += 1
                boot_id = None
        seen_content = True
        parsed.append(Line(msg, lineno, {"t": t, "host": m["host"], "ident": m["ident"],
                                         "pid": int(m["pid"]) if m["pid"] else None,
                                         "_boot_index": boot_index, "boot_id": boot_id}))
    last = boot_index
    for line in parsed:
        line.fields["boot"] = line.fields.pop("_boot_index") - last
        yield line


def parse_dmesg_text(text: str, boot_start: float | None = None) -> Iterator[Line]:
    """`dmesg` output: "[  12.345678] message", with or without -T or a <level> prefix."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        t = None
        m = _DMESG.match(raw)
        if m:
            msg = m["msg"]
            if boot_start is not None:
                t = boot_start + float(m["mono"])
        else:
            mt = _DMESG_T.match(raw)
            if mt:
                msg = mt["msg"]
                try:
                    t = calendar.timegm(time.strptime(mt["stamp"], "%a %b %d %H:%M:%S %Y"))
                except ValueError:
                    t = None
            else:
                msg = raw.rstrip()
        yield Line(msg, lineno, {"t": t, "ident": "kernel", "boot": 0})


def keep_line(ctx, fields: dict[str, Any], message: str) -> bool:
    """Which lines become facts: the story of the boot, warnings and worse, and every
    line a rule-pack pattern cares about (so a snapshot replays the same findings)."""
    if fields.get("ident") in STORY_IDENTS:
        return True
    priority = fields.get("priority")
    if priority is not None and priority <= 4:
        return True
    return ctx.interesting(message)


def add_log_line(ctx, stream: str, line: Line, origin: str, name: str, **extra: Any) -> None:
    fields = {k: v for k, v in {**line.fields, **extra}.items() if v is not None}
    if not keep_line(ctx, fields, line.message):
        return
    fields["message"] = line.message
    fields["stream"] = stream
    ctx.add("log", fields, Provenance(origin, name, line.lineno, fields.get("t"),
                                      fields.get("boot_id")))
