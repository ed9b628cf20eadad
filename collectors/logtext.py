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
import functools
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


@functools.lru_cache(maxsize=1024)
def _day_start(month: int, day: str, reference: float) -> int:
    """Epoch seconds of a text time stamp's day (a log has few days, and many lines each)."""
    return calendar.timegm((year_for(month, reference), month, int(day), 0, 0, 0))


def _short_time(m: re.Match, reference: float) -> float | None:
    month = _MONTHS.get(m["mon"])
    if not month:
        return None
    try:
        hms = m["hms"]  # "HH:MM:SS", as the regex matched it
        t = _day_start(month, m["day"], reference) + int(hms[:2]) * 3600 + int(hms[3:5]) * 60 + int(hms[6:8])
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
                                         "pid": int(m["pid"]) if m["pid"] and len(m["pid"]) <= 10 else None,
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


# A large journal holds far more story lines than the story needs (a busy host logs
# a million "Started session-N.scope" a month). A StoryWindow keeps, of one boot's
# story lines: its start (up to systemd's "Startup finished"), its end (the last
# TAIL_LINES, and everything from the first sign of a shutdown on), the events boots,
# startup and unit_history read (failures, timeouts, stops and what ended them, the
# later lines of a unit that failed), and the lines after one a pattern matched (a
# hung task's stack). Other lines are kept exactly as keep_line says.
HEAD_LINES = 20_000  # story lines kept from a boot's start that never says "Startup finished"
TAIL_LINES = 2_000  # story lines kept before a boot's end (a crash, a hang, a reboot)
AFTER_LINES = 60  # story lines kept after a line a pattern matched (its stack, its context)
WATCH_MAX = 200  # units and descriptions followed at once
_EVENT_STARTS = ("Stopping ", "Unmounting ", "System is ", "Stopped target ", "Reached target shutdown",
                 "Reached target System Shutdown", "Reached target Shutdown", "Journal stopped",
                 "Shutting down.", "Syncing filesystems", "Sending SIGTERM", "Startup finished",
                 "Failed to start ", "Linux version ")
_EVENT_WORDS = (" timed out", "Failed with result", "Scheduled restart job", "holdoff time over",
                "entered failed state")
_SHUTDOWN_STARTS = ("System is rebooting", "System is powering down", "System is halting",
                    "Stopped target multi-user.target", "Stopped target Multi-User System",
                    "Stopped target graphical.target", "Stopped target Graphical Interface",
                    "Reached target shutdown.target", "Reached target System Shutdown",
                    "Reached target Shutdown")
_DONE_STARTS = ("Stopped ", "Unmounted ", "Deactivated ", "Finished ", "Failed ", "Closed ", "Removed ")
_UNIT_AT_START = re.compile(r"^(?:Unit )?(?P<unit>[^\s:]+\.[a-z]+)(?::| |$)")
_FAILED_TO_START = re.compile(r"^Failed to start (?:(?P<unit>[^\s:]+\.[a-z]+) - )?(?P<desc>.+?)\.?$")
_STOPPING = re.compile(r"^(?:Stopping|Unmounting) (?P<what>.+?)\.\.\.$")


class StoryWindow:
    """Which story lines of one boot (in time order) become facts; other lines follow
    keep_line. `position` orders lines (a time or a line number); lines at or after
    `tail_from` are the boot's tail."""

    def __init__(self, tail_from: float | None = None):
        self.tail_from = tail_from
        self.head = HEAD_LINES  # story lines the start of the boot may still keep
        self.shutdown = False
        self.after = 0
        self.watched: dict[str, None] = {}  # units and descriptions that failed or are stopping

    def wants(self, ctx, ident: str | None, priority: int | None, message: str,
              position: float | None = None) -> bool:
        """Keep this line? (Then tell note() its fields.)"""
        if ident not in STORY_IDENTS:
            return (priority is not None and priority <= 4) or ctx.interesting(message)
        if ctx.interesting(message):
            self.after = AFTER_LINES
            return True
        if self.head > 0:
            self.head -= 1
            return True
        if self.shutdown or (priority is not None and priority <= 4):
            return True
        if self.tail_from is not None and position is not None and position >= self.tail_from:
            return True
        if self.after > 0:
            self.after -= 1
            return True
        if message.startswith(_EVENT_STARTS) or any(w in message for w in _EVENT_WORDS):
            return True
        return any(w in message for w in self.watched)

    def note(self, fields: dict[str, Any], message: str) -> None:
        """What a kept line changes: the end of the start, a shutdown, units to follow."""
        ident = fields.get("ident")
        if ident not in STORY_IDENTS:
            return
        if message.startswith("Startup finished") and ident == "systemd" and fields.get("pid") in (1, None):
            self.head = 0
        if message.startswith(_SHUTDOWN_STARTS):
            self.shutdown = True
        stopping = _STOPPING.match(message)
        if stopping:
            what = stopping["what"]
            self._watch(fields.get("unit") or what.split(" - ", 1)[0], what.split(" - ", 1)[-1])
        elif message.startswith(_DONE_STARTS) or "Deactivated successfully" in message:
            for name in [w for w in self.watched if w in message]:
                del self.watched[name]  # stopped: its later lines are ordinary again
        if any(w in message for w in _EVENT_WORDS[:2]) or "entered failed state" in message:
            unit = _UNIT_AT_START.match(message)
            self._watch(fields.get("unit") or (unit["unit"] if unit else None))
        failed = _FAILED_TO_START.match(message)
        if failed:
            self._watch(failed["unit"] or fields.get("unit"), failed["desc"])

    def _watch(self, *names: str | None) -> None:
        for name in names:
            if name and len(name) > 3 and len(self.watched) < WATCH_MAX:
                self.watched[name] = None


def add_log_line(ctx, stream: str, line: Line, origin: str, name: str,
                 window: StoryWindow | None = None, position: float | None = None,
                 kept: bool = False, **extra: Any) -> None:
    """A log fact for line if keep_line (or window) keeps it; `kept`: already decided."""
    if window is not None and not kept:  # decide before building the fields: most lines go
        ident = extra["ident"] if "ident" in extra else line.fields.get("ident")
        priority = extra["priority"] if "priority" in extra else line.fields.get("priority")
        if not window.wants(ctx, ident, priority, line.message, position):
            return
    fields = {k: v for k, v in {**line.fields, **extra}.items() if v is not None}
    if window is not None and not kept:
        window.note(fields, line.message)
    elif window is None and not kept and not keep_line(ctx, fields, line.message):
        return
    fields["message"] = line.message
    fields["stream"] = stream
    ctx.add("log", fields, Provenance(origin, name, line.lineno, fields.get("t"),
                                      fields.get("boot_id")))
