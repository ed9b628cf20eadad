"""Boot history, derived from the log facts the log collectors kept.

For each boot: when it began and ended, whether a shutdown began, whether it
ended in order ("Journal stopped") or was cut off, how long the shutdown took;
and for every unit whose stop timed out, a stop_job fact with how long it ran.

How each boot started: a ``startup`` fact per boot from systemd's own "Startup finished
in 2.413s (kernel) + 37.178s (userspace) = 39.592s." (containers print only the total:
"Startup finished in 1min 23.794s."), and ``slow_start`` facts for the units that took
longest from "Starting X..." to "Started X." (or "Finished X.", "Mounted X.");
and a ``unit_failure`` fact for each unit that failed in a boot, saying whether it came back.
"""
from __future__ import annotations

import re
from typing import Any

from hostmedic.collectors import startup, unit_history
from hostmedic.engine.facts import Fact, Provenance

NAME = "boots"

# The first sign that an orderly shutdown began (systemd, logind), newest wording first.
SHUTDOWN_BEGIN = re.compile(
    r"^System is (?:rebooting|powering down|halting)|"
    r"^Stopped target (?:multi-user\.target|Multi-User System|graphical\.target|Graphical Interface)|"
    r"^Reached target (?:shutdown\.target|System Shutdown|Shutdown)\b")
SHUTDOWN_TARGET = re.compile(r"^Reached target (?:shutdown\.target|(?:System )?Shutdown)\b")
# The last lines an orderly shutdown writes to the journal.
CLEAN_END = re.compile(r"^Journal stopped$|^Shutting down\.$|^Syncing filesystems and block devices|"
                       r"^Sending SIGTERM to remaining processes")
STOP_TIMEOUT = re.compile(r"^(?P<unit>[^\s:]+\.(?:service|mount|scope|socket|swap|automount|target|slice|device)):? "
                          r"(?:Stopping timed out|Unmounting timed out|State 'stop[\w-]*' timed out|"
                          r"stop[\w-]* timed out)")


def collect(ctx) -> None:
    own = [f for f in ctx.facts.of_kind("log") if not f.fields.get("domain")]
    # The journal numbers boots exactly; syslog files only when there is no journal.
    logs = [f for f in own if f.fields.get("stream") == "journal"] or \
        [f for f in own if f.fields.get("stream") == "syslog"]
    if not logs:
        ctx.status(NAME, "absent", detail="no journal or syslog lines to rebuild boots from",
                   hint="boot history needs the journal (or a sosreport's journalctl output)")
        return
    by_boot: dict[int, list[Fact]] = {}
    for log in logs:
        by_boot.setdefault(log.fields.get("boot", 0), []).append(log)
    latest = max(by_boot)
    stream = logs[0].fields.get("stream")
    starts = {o: min((f.fields["t"] for f in ls if f.fields.get("t") is not None), default=None)
              for o, ls in by_boot.items()}
    for offset in sorted(by_boot):
        lines = sorted(by_boot[offset], key=lambda f: (f.fields.get("t") or 0))
        boot = _describe_boot(offset, lines, current=(offset == latest))
        begin_t, next_t = boot.get("shutdown_begin_t"), starts.get(offset + 1)
        if not boot["clean_end"] and begin_t is not None and next_t is not None and next_t >= begin_t:
            # a journal cut off mid-shutdown says nothing of how long the hang went on; the
            # next boot's start bounds it
            boot["cut_within_seconds"] = round(next_t - begin_t, 1)
        boot["log_stream"] = stream
        ctx.add("boot", boot, Provenance("derived", lines[0].source.name, None, boot.get("first_t"),
                                         boot.get("boot_id")))
        jobs = _stop_jobs(offset, lines, boot.get("shutdown_begin_t"))
        if boot.get("shutdown_started") and not boot.get("clean_end") and not boot["current"]:
            jobs += _unfinished_stops(offset, lines, {j["unit"] for j in jobs})
        for job in jobs:
            ctx.add("stop_job", job, Provenance("derived", lines[0].source.name, None,
                                                job.get("begin_t"), boot.get("boot_id")))
        startup.add_startup_facts(ctx, offset, lines, boot.get("boot_id"))
        unit_history.add_unit_failure_facts(ctx, offset, lines, boot["current"],
                                            boot.get("shutdown_begin_t"))
    ctx.status(NAME, "ok", detail=f"{len(by_boot)} boot(s) rebuilt from {len(logs)} lines")


def _describe_boot(offset: int, lines: list[Fact], current: bool) -> dict[str, Any]:
    def first(regex: re.Pattern) -> Fact | None:
        return next((l for l in lines if regex.search(l.fields.get("message", ""))), None)

    begin = first(SHUTDOWN_BEGIN)
    target = first(SHUTDOWN_TARGET)
    end = next((l for l in reversed(lines) if CLEAN_END.search(l.fields.get("message", ""))), None)
    last = lines[-1]
    boot: dict[str, Any] = {"boot": offset, "current": current,
                            "boot_id": lines[0].fields.get("boot_id"),
                            "first_t": lines[0].fields.get("t"), "last_t": last.fields.get("t"),
                            "shutdown_started": begin is not None,
                            "reached_shutdown_target": target is not None,
                            "clean_end": end is not None,
                            "last_line": last.fields.get("message", "")}
    if begin is not None and begin.fields.get("t") is not None:
        boot["shutdown_begin_t"] = begin.fields["t"]
        stop_t = (end or last).fields.get("t")
        if stop_t is not None:
            boot["shutdown_seconds"] = round(stop_t - begin.fields["t"], 1)
    if current:
        state = "the boot the data was taken in"
    elif end is not None:
        state = "ended in an orderly shutdown"
    elif begin is not None:
        state = "its journal ends in the middle of a shutdown"
    else:
        state = "its journal ends with no shutdown at all"
    boot["text"] = f"boot {offset} ({boot['boot_id'] or 'id unknown'}): {state}; last line: {boot['last_line']}"
    return {k: v for k, v in boot.items() if v is not None}


def _mentions(log: Fact, unit: str) -> bool:
    msg = log.fields.get("message", "")
    return log.fields.get("unit") == unit or msg.startswith(unit + ":") or msg.startswith(unit + " ") \
        or f" {unit} " in msg or msg.endswith(f" {unit}.")


def _stop_jobs(offset: int, lines: list[Fact], shutdown_t: float | None) -> list[dict[str, Any]]:
    jobs = []
    seen: set[str] = set()
    for log in lines:
        m = STOP_TIMEOUT.search(log.fields.get("message", ""))
        if not m or m["unit"] in seen:
            continue
        unit = m["unit"]
        seen.add(unit)
        mine = [l for l in lines if _mentions(l, unit)]
        begin = next((l for l in mine if re.match(r"(?:Stopping|Unmounting) ", l.fields.get("message", ""))),
                     None)
        end = mine[-1] if mine else log
        begin_t = begin.fields.get("t") if begin else log.fields.get("t")
        if begin is None and shutdown_t is not None and log.fields.get("t") is not None:
            # Older systemd names only the description in "Stopping ...": the stop
            # began no later than the timeout line, and not before the shutdown did.
            begin_t = min(shutdown_t, log.fields["t"])
        job: dict[str, Any] = {"boot": offset, "unit": unit, "timed_out": True,
                               "begin_known": begin is not None,
                               "begin_t": begin_t, "end_t": end.fields.get("t"),
                               "last_line": end.fields.get("message", "")}
        if job["begin_t"] is not None and job["end_t"] is not None:
            job["seconds"] = round(job["end_t"] - job["begin_t"], 1)
        lost = f"{job['seconds']:g} s" if "seconds" in job else "an unknown time"
        job["text"] = (f"{unit}: stop ran {'' if begin else 'at least '}{lost} in boot {offset} "
                       f"and timed out; last line: {job['last_line']}")
        jobs.append({k: v for k, v in job.items() if v is not None})
    return jobs


_STOPPING = re.compile(r"^(?:Stopping|Unmounting) (?P<what>.+?)\.\.\.$")
_DONE = re.compile(r"^(?:Stopped|Unmounted|Deactivated|Finished|Failed|Closed|Removed) |"
                   r": (?:Deactivated successfully|Failed with result|Succeeded)")


def _unfinished_stops(offset: int, lines: list[Fact], known: set[str]) -> list[dict[str, Any]]:
    """Stop jobs that began and never ended in a journal that stops mid-shutdown:
    what the shutdown was waiting for when the machine went down."""
    jobs = []
    last_t = lines[-1].fields.get("t")
    for i, log in enumerate(lines):
        m = _STOPPING.match(log.fields.get("message", ""))
        if not m:
            continue
        what = m["what"]  # "unit - Description" (systemd >= 250) or just the description
        unit = log.fields.get("unit") or what.split(" - ", 1)[0]
        desc = what.split(" - ", 1)[-1]
        if unit in known:
            continue
        later = [l.fields.get("message", "") for l in lines[i + 1:]]
        if any(_DONE.search(msg) and (unit in msg or desc in msg) for msg in later):
            continue
        job: dict[str, Any] = {"boot": offset, "unit": unit, "timed_out": False, "unfinished": True,
                               "begin_known": True, "begin_t": log.fields.get("t"), "end_t": last_t,
                               "last_line": log.fields.get("message", "")}
        if job["begin_t"] is not None and last_t is not None:
            job["seconds"] = round(last_t - job["begin_t"], 1)
        job["text"] = f"{unit}: stop began and never finished before boot {offset}'s journal ended"
        jobs.append({k: v for k, v in job.items() if v is not None})
    return jobs
