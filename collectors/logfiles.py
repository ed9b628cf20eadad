"""Classic log files and the kernel ring buffer, as ``log`` facts.

    /var/log/messages, /var/log/syslog, /var/log/kern.log   stream "syslog" (rsyslog: traditional
                                                             "Nov 21 09:12:00 host ident[pid]: msg"
                                                             or RFC 3339 "2024-11-21T09:12:00.03+00:00 ...")
    dmesg (sos_commands/kernel/dmesg in a sosreport)          stream "dmesg", the current boot

Boots in syslog files are told apart by the kernel's "Linux version" line (logtext); dmesg is
boot 0, its times placed from the boot time (uptime) when known.

The same event is often in several of these: journald forwards to rsyslog, rsyslog writes
kernel lines to both syslog and kern.log, and dmesg repeats the kernel's part. A line is
skipped when its message was already added by an earlier stream (the journal collector's facts,
then each file in the order above, then dmesg). Repeats count: each earlier fact stands for one
line only, the nearest in time after correcting for the offset between the two clocks
(text stamps are the host's wall clock read as UTC, RFC 3339 ones true UTC; the offset is
measured on messages both hold once, else anything up to 14 h is allowed). So an older boot's
line that only syslog still has is kept even when the journal has the same words from a
later boot. The number skipped is in the collector status.
"""
from __future__ import annotations

import bisect
import re
from collections import Counter

from hostmedic.collectors import logtext, sostime
from hostmedic.engine.sources import ABSENT, DENIED, MISSING, OK, Result

NAME = "logfiles"
SYSLOG_FILES = ("/var/log/messages", "/var/log/syslog", "/var/log/kern.log")
EARLIER_STREAMS = ("journal", "syslog", "dmesg")

_SPACES = re.compile(r"\s+")


def message_key(message: str) -> str:
    """The same message as the journal, rsyslog (#012 for a newline) and dmesg write it."""
    return _SPACES.sub(" ", message.replace("#012", " ").replace("#011", " ")).strip()


# Text time stamps are the host's wall clock read as UTC, RFC 3339 ones true UTC, dmesg's are
# counted from the boot: the same event can carry different times in two streams. The offset
# between them is measured on messages both hold once; without such anchors any offset up to
# the largest zone offset (14 h) is allowed.
SAME_EVENT_WINDOW = 14 * 3600 + 300
CALIBRATED_WINDOW = 300.0
_SCAN_LIMIT = 512


class EarlierLines:
    """The messages earlier streams already added, to pair a later line with one of them.

    A later line is the same event as an earlier fact with the same message whose time,
    corrected by the measured clock offset, is close enough (or unknown); each earlier fact
    pairs with one line at most, the nearest in time first."""

    def __init__(self, facts) -> None:
        self.times: dict[str, list[float]] = {}
        self.untimed: Counter = Counter()
        for fact in facts:
            if fact.get("stream") not in EARLIER_STREAMS:
                continue
            key = message_key(fact.get("message", ""))
            t = fact.get("t")
            if isinstance(t, (int, float)):
                self.times.setdefault(key, []).append(float(t))
            else:
                self.untimed[key] += 1
        for times in self.times.values():
            times.sort()
        self.claimed: dict[str, set[int]] = {}
        self.offset = 0.0
        self.window = SAME_EVENT_WINDOW

    def calibrate(self, later: list[tuple[str, float | None]]) -> None:
        """Measure the clock offset of the later stream on messages both sides hold once."""
        seen = Counter(key for key, _t in later)
        deltas = sorted(t - self.times[key][0] for key, t in later
                        if t is not None and seen[key] == 1 and len(self.times.get(key, ())) == 1
                        and not self.untimed[key])
        if deltas:
            self.offset = deltas[len(deltas) // 2]
            self.window = CALIBRATED_WINDOW

    def claim(self, key: str, t: float | None) -> bool:
        times = self.times.get(key, [])
        taken = self.claimed.setdefault(key, set())
        if t is None:  # no time to compare: the latest free one
            for i in range(len(times) - 1, max(-1, len(times) - 1 - _SCAN_LIMIT), -1):
                if i not in taken:
                    taken.add(i)
                    return True
        else:  # the nearest free one in time, within the window
            t -= self.offset
            right = bisect.bisect_left(times, t)
            left = right - 1
            for _ in range(_SCAN_LIMIT):
                lgap = t - times[left] if left >= 0 else None
                rgap = times[right] - t if right < len(times) else None
                if lgap is None and rgap is None:
                    break
                use_left = rgap is None or (lgap is not None and lgap <= rgap)
                i, gap = (left, lgap) if use_left else (right, rgap)
                if gap > self.window:
                    break
                if use_left:
                    left -= 1
                else:
                    right += 1
                if i not in taken:
                    taken.add(i)
                    return True
        if self.untimed[key] > 0:
            self.untimed[key] -= 1
            return True
        return False


def add_deduplicated(ctx, stream: str, lines: list[logtext.Line], origin: str,
                     name: str) -> tuple[int, int]:
    """Add the lines worth keeping that no earlier stream holds; (added, skipped)."""
    earlier = EarlierLines(ctx.facts.of_kind("log"))
    wanted: list[tuple[int, str, float | None]] = []
    for i, line in enumerate(lines):
        fields = {k: v for k, v in line.fields.items() if v is not None}
        if logtext.keep_line(ctx, fields, line.message):
            t = fields.get("t")
            wanted.append((i, message_key(line.message), float(t) if isinstance(t, (int, float)) else None))
    earlier.calibrate([(key, t) for _i, key, t in wanted])
    keep: set[int] = set()
    skipped = 0
    for i, key, t in reversed(wanted):  # newest first: the journal covers the latest boots
        if earlier.claim(key, t):
            skipped += 1
        else:
            keep.add(i)
    added = 0
    for i, line in enumerate(lines):
        if i in keep:
            before = len(ctx.facts.facts)
            logtext.add_log_line(ctx, stream, line, origin, name)
            added += len(ctx.facts.facts) > before
    return added, skipped


def _hint(result: Result, what: str) -> str:
    if result.status == DENIED:
        if what == "dmesg":
            return ("dmesg needs root where kernel.dmesg_restrict=1 (or CAP_SYSLOG); "
                    "the journal holds the kernel's messages too")
        return f"run as root (or in group adm) to read {result.name}"
    return f"{result.name} could not be read; the journal may still hold the same lines"


def _read_dmesg(source) -> Result:
    result = source.run(["dmesg"], sos_paths=["sos_commands/kernel/dmesg"])
    if result.status == ABSENT and source.kind == "sosreport":
        other = source.run(["dmesg", "-T"], sos_paths=["sos_commands/kernel/dmesg_-T"])
        if other.ok:
            return other
    return result


def collect(ctx) -> None:
    source = ctx.source
    reference = sostime.collection_time(source)
    done: list[str] = []
    names: list[str] = []
    problems = 0
    skipped_total = 0

    for path in SYSLOG_FILES:
        result = source.read(path)
        if result.status == ABSENT:
            continue
        if not result.ok:
            ctx.status(NAME, result, hint=_hint(result, "file"))
            problems += 1
            continue
        lines = list(logtext.parse_syslog_text(result.text, reference, "syslog"))
        added, skipped = add_deduplicated(ctx, "syslog", lines, "file", result.name)
        skipped_total += skipped
        done.append(f"{result.name}: {len(lines)} lines, {added} kept")
        names.append(result.name)

    result = _read_dmesg(source)
    if result.ok:
        boot_start = sostime.boot_time(source)
        lines = list(logtext.parse_dmesg_text(result.text, boot_start))
        added, skipped = add_deduplicated(ctx, "dmesg", lines, "command", result.name)
        skipped_total += skipped
        done.append(f"{result.name}: {len(lines)} lines, {added} kept")
        names.append(result.name)
    elif result.status not in (ABSENT, MISSING):
        ctx.status(NAME, result, hint=_hint(result, "dmesg"))
        problems += 1

    if done:
        detail = "; ".join(done)
        detail += (f"; {skipped_total} lines skipped as already added from an earlier log"
                   if skipped_total else "; no line repeated an earlier log")
        ctx.status(NAME, OK, detail=detail, name=", ".join(names))
    elif not problems:
        where = "this sosreport" if source.kind == "sosreport" else "this host"
        ctx.status(NAME, ABSENT,
                   detail=f"no {', '.join(SYSLOG_FILES)} and no dmesg output in {where}",
                   hint="normal where only journald keeps logs: the journal collector reads them",
                   name=", ".join(SYSLOG_FILES))
