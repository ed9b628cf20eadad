"""How long a boot took to start, from the log lines of that boot (used by ``boots``).

    startup     boot, boot_id, finished (bool), firmware_s, loader_s, kernel_s, initrd_s,
                userspace_s, total_s (systemd's own figures), log_seconds (first line of
                the boot to the "Startup finished" line), text
    slow_start  boot, unit, description, seconds, text: the few units that took longest
                from "Starting X..." to "Started X." (or "Finished X.", "Mounted X.")

systemd (PID 1) prints, in its own time-span format (format_timespan):

    Startup finished in 2.413s (kernel) + 37.178s (userspace) = 39.592s.
    Startup finished in 1.1s (kernel) + 2.3s (initrd) + 5.6s (userspace) = 9.0s.
    Startup finished in 5.2s (firmware) + 3.1s (loader) + 1.1s (kernel) + ... = 14.6s.
    Startup finished in 1min 23.794s.                    (a container: no kernel part)

A user manager (systemd[1234]) prints the same words for its own start: not counted.
"""
from __future__ import annotations

import re
from typing import Any

from hostmedic.engine.facts import Fact, Provenance

SLOWEST = 5  # slow_start facts per boot
SLOW_SECONDS = 5.0  # a start shorter than this is not "slow"

_FINISHED = re.compile(r"^Startup finished in (?P<parts>.+?)(?: = (?P<total>[^=]+?))?\.?\s*$")
_PART = re.compile(r"^(?P<span>.+?) \((?P<what>firmware|loader|kernel|initrd|userspace)\)$")
_SPAN = re.compile(r"(?P<num>\d{1,20}(?:\.\d{1,9})?)\s*(?P<unit>y|month|w|d|h|min|ms|us|µs|s)\b")
_SECONDS = {"y": 31557600.0, "month": 2629800.0, "w": 604800.0, "d": 86400.0, "h": 3600.0,
            "min": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
_STARTING = re.compile(r"^(?P<verb>Starting|Mounting) (?P<what>.+?)\.\.\.$")
_DONE = {"Starting": re.compile(r"^(?:Started|Finished) (?P<what>.+?)\.?$"),
         "Mounting": re.compile(r"^Mounted (?P<what>.+?)\.?$")}


def timespan_seconds(text: str) -> float | None:
    """systemd's "1min 23.794s", "2.413s", "850ms" as seconds; None if it is not one."""
    text = text.strip()
    spans = list(_SPAN.finditer(text))
    if not spans or _SPAN.sub("", text).strip():
        return None
    return round(sum(float(m["num"]) * _SECONDS[m["unit"]] for m in spans), 6)


def parse_startup_finished(message: str) -> dict[str, float] | None:
    """The parts of a "Startup finished in ..." line, in seconds."""
    if len(message) > 1000:  # systemd's line is short; a long one costs quadratic regex time
        return None
    m = _FINISHED.match(message)
    if not m:
        return None
    out: dict[str, float] = {}
    parts = m["parts"].split(" + ")
    for part in parts:
        pm = _PART.match(part.strip())
        if pm:
            secs = timespan_seconds(pm["span"])
            if secs is None:
                return None
            out[f"{pm['what']}_s"] = secs
        elif len(parts) == 1:
            secs = timespan_seconds(part)
            if secs is None:
                return None
            out["total_s"] = secs
        else:
            return None
    if m["total"]:
        total = timespan_seconds(m["total"])
        if total is None:
            return None
        out["total_s"] = total
    return out if "total_s" in out else None


def _is_pid1(log: Fact) -> bool:
    return log.fields.get("ident") == "systemd" and log.fields.get("pid") in (1, None)


def add_startup_facts(ctx, offset: int, lines: list[Fact], boot_id: str | None) -> None:
    """startup and slow_start facts of one boot (lines in time order)."""
    name = lines[0].source.name
    first_t = lines[0].fields.get("t")
    fields: dict[str, Any] = {"boot": offset, "boot_id": boot_id, "finished": False}
    end = len(lines)
    for i, log in enumerate(lines):
        parts = parse_startup_finished(log.fields.get("message", "")) if _is_pid1(log) else None
        if parts is None:
            continue
        fields.update(parts, finished=True, text=log.fields["message"])
        t = log.fields.get("t")
        if t is not None and first_t is not None:
            fields["log_seconds"] = round(t - first_t, 3)
        end = i + 1  # units started later (timers, admins) are not part of the boot
        break
    else:
        fields["text"] = f"boot {offset}: no \"Startup finished\" line in the data"
    ctx.add("startup", {k: v for k, v in fields.items() if v is not None},
            Provenance("derived", name, None, first_t, boot_id))
    for job in slowest_starts(offset, lines[:end]):
        ctx.add("slow_start", job, Provenance("derived", name, None, job.get("begin_t"), boot_id))


def slowest_starts(offset: int, lines: list[Fact]) -> list[dict[str, Any]]:
    """The units of a boot that took longest to start (at least SLOW_SECONDS); a start
    still pending at the end of the lines is not counted (its end is unknown)."""
    pending: dict[tuple[str, str], Fact] = {}
    found: list[dict[str, Any]] = []
    for log in lines:
        if not _is_pid1(log):
            continue
        msg = log.fields.get("message", "")
        m = _STARTING.match(msg)
        if m:
            pending.setdefault((m["verb"], m["what"]), log)
            continue
        for verb, done in _DONE.items():
            d = done.match(msg)
            begin = pending.pop((verb, d["what"]), None) if d else None
            if begin is None:
                continue
            t0, t1 = begin.fields.get("t"), log.fields.get("t")
            if t0 is None or t1 is None or t1 - t0 < SLOW_SECONDS:
                continue
            what = d["what"]  # "unit - Description" (systemd >= 250) or the description
            unit = log.fields.get("unit") or begin.fields.get("unit") or what.split(" - ", 1)[0]
            seconds = round(t1 - t0, 3)
            found.append({"boot": offset, "unit": unit, "description": what.split(" - ", 1)[-1],
                          "seconds": seconds, "begin_t": t0, "end_t": t1,
                          "text": f"{unit}: took {seconds:g} s to start in boot {offset} "
                                  f"(\"{begin.fields.get('message')}\" .. \"{msg}\")"})
    found.sort(key=lambda j: -j["seconds"])
    return found[:SLOWEST]
