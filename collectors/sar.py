"""Resource history from sysstat: swapping, disk saturation and memory reclaim over the
last two days, summed up into a few facts the rules can put thresholds on.

Facts (one summary per stream, not one fact per sample: a day holds 144 samples per disk)
    swap_activity            samples, active_samples, thrash_samples, thrash_seconds,
                             max_pswpin_s, max_pswpout_s, worst_t, first_t, last_t, period,
                             source, text
    disk_busy                device, samples, busy_samples, slow_samples, saturated_samples,
                             saturated_seconds, max_util, max_await, worst_t, first_t, last_t,
                             period, source, text                       (one per disk)
    memory_pressure_history  samples, max_memused_percent, max_commit_percent, max_majflt_s,
                             max_pgscand_s, pressure_samples, pressure_seconds, first_t, last_t,
                             period, source, text
    (times are epoch seconds; period is "first to last" as text)

What one sample counts as (its interval is the time since the sample before it):
    active swap   pswpin/s + pswpout/s >= 100 pages/s
    thrashing     pswpin/s >= 100 and pswpout/s >= 100: pages go out and come straight back
    busy disk     %util >= 90
    slow disk     await >= 100 ms with I/O going on
    saturated     slow, or busy with await >= 20 ms (a busy NVMe disk that still answers
                  in a millisecond is not saturated; %util means little for such queues)
    memory pressure  direct reclaim (pgscand/s >= 1000) while pages fault back in (majflt/s >= 100)

Sources
    this host   `sadf -j -- -r -S -W -d -p -b -B FILE` over today's and yesterday's data files
                in /var/log/sysstat (Debian, Ubuntu) or /var/log/sa (RHEL, SUSE): saDD or saYYYYMMDD.
                sysstat's JSON (12.6):
                    {"sysstat": {"hosts": [{"nodename": "vm", ..., "statistics": [
                      {"timestamp": {"date": "2026-11-22", "time": "00:17:33", "utc": 1, "interval": 2},
                       "swap-pages": {"pswpin": 12830.00, "pswpout": 21408.50},
                       "disk": [{"disk-device": "vda", "tps": 1881.50, ..., "aqu-sz": 2.77,
                                 "await": 1.47, "util-percent": 27.80}], ...}]}]}}
    sosreport   the `sar -A` text sos's sar plugin saves (sos_commands/sar/sarDD, made for days
                that sysstat had not yet summed up) and sysstat's own daily sarDD text files
                (var/log/sa/, var/log/sysstat/), in any sysstat version's columns:
                    Linux 3.2.0-67-virtual (host) \t08/01/2014 \t_x86_64_\t(1 CPU)
                    07:05:01 AM       DEV       tps  rd_sec/s  wr_sec/s  avgrq-sz  avgqu-sz     await     svctm     %util
                    07:47:48 AM    dev8-0      1.42     24.90     10.20     24.75      7.55   5322.78    462.15     65.53
Times without a zone are read as UTC, like every other text time stamp here. Only the two
newest days of data are summed up: what happened before the incident, not last month.
"""
from __future__ import annotations

import calendar
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from hostmedic.engine.facts import Provenance

NAME = "sar"
SA_DIRS = ("/var/log/sysstat", "/var/log/sa")
DAYS = 2
WINDOW = DAYS * 86400
SADF_OPTIONS = ["-r", "-S", "-W", "-d", "-p", "-b", "-B"]

SWAP_ACTIVE = 100.0  # pages/s, in + out
SWAP_THRASH = 100.0  # pages/s, each way
UTIL_BUSY = 90.0  # %
AWAIT_SLOW = 100.0  # ms
AWAIT_BUSY = 20.0  # ms, for a busy disk to count as saturated
RECLAIM_DIRECT = 1000.0  # pgscand/s
MAJFLT_PRESSURE = 100.0  # majflt/s
SKIP_DEVICES = re.compile(r"^(?:loop|ram|sr|fd|zram|nbd)\d")


# -- samples -------------------------------------------------------------------

@dataclass
class History:
    """Samples from one or more days, whatever format they came from."""

    swap: list[tuple[float, float, float, float]] = field(default_factory=list)  # t, secs, in, out
    disk: dict[str, list[tuple[float, float, float, float]]] = field(default_factory=dict)  # t, secs, util, await
    memory: dict[float, dict[str, float]] = field(default_factory=dict)  # t -> %memused, %commit, majflt, pgscand, secs
    sources: dict[str, float] = field(default_factory=dict)  # file -> its newest sample time

    def read_from(self, source: str, newest: float | None) -> None:
        if newest is not None:
            self.sources[source] = max(newest, self.sources.get(source, newest))

    def add_memory(self, t: float, secs: float, **values: float | None) -> None:
        row = self.memory.setdefault(t, {"secs": secs})
        row.update({k: v for k, v in values.items() if v is not None})

    def newest(self) -> float | None:
        times = [s[0] for s in self.swap] + [s[0] for rows in self.disk.values() for s in rows] + \
            list(self.memory)
        return max(times) if times else None

    def trim(self, keep_from: float) -> None:
        self.sources = {name: t for name, t in self.sources.items() if t >= keep_from}
        self.swap = [s for s in self.swap if s[0] >= keep_from]
        self.disk = {d: [s for s in rows if s[0] >= keep_from] for d, rows in self.disk.items()}
        self.memory = {t: row for t, row in self.memory.items() if t >= keep_from}


def _num(token: str) -> float | None:
    try:
        return float(token.replace(",", "."))  # some locales write 0,00
    except ValueError:
        return None


# -- sadf -j (this host) ----------------------------------------------------------

def parse_sadf_json(text: str, history: History, source: str) -> int:
    """Add the samples of one `sadf -j` document; returns how many statistics it held."""
    data = json.loads(text)
    count = 0
    newest = None
    for host in (data.get("sysstat") or {}).get("hosts") or []:
        for stat in host.get("statistics") or []:
            stamp = stat.get("timestamp") or {}
            t = _iso_time(stamp.get("date"), stamp.get("time"))
            if t is None:
                continue
            secs = float(stamp.get("interval") or 0)
            count += 1
            newest = t if newest is None else max(newest, t)
            swap = stat.get("swap-pages")
            if swap and "pswpin" in swap:
                history.swap.append((t, secs, float(swap["pswpin"]), float(swap.get("pswpout", 0))))
            for disk in stat.get("disk") or []:
                dev = str(disk.get("disk-device", "?"))
                util, wait = disk.get("util-percent"), disk.get("await")
                if util is not None and wait is not None:
                    history.disk.setdefault(dev, []).append((t, secs, float(util), float(wait)))
            memory, paging = stat.get("memory") or {}, stat.get("paging") or {}
            if memory or paging:
                history.add_memory(t, secs, memused=memory.get("memused-percent"),
                                   commit=memory.get("commit-percent"), majflt=paging.get("majflt"),
                                   pgscand=paging.get("pgscand"))
    history.read_from(source, newest)
    return count


def _iso_time(date: Any, hms: Any) -> float | None:
    try:
        y, mo, d = (int(x) for x in str(date).split("-"))
        hh, mm, ss = (int(x) for x in str(hms).split(":"))
        return float(calendar.timegm((y, mo, d, hh, mm, ss)))
    except (ValueError, TypeError, OverflowError):
        return None


# -- sar -A text (sosreport) ----------------------------------------------------------

_FILE_HEADER = re.compile(r"^Linux \S+ \(\S+\)\s+(?P<date>\S+)\s")
_ROW = re.compile(r"^(?P<hms>\d\d:\d\d:\d\d)(?: ?(?P<ampm>[AP]M))?\s+(?P<rest>\S.*)$")


def header_date(line: str) -> tuple[int, int, int] | None:
    """The day of a `sar` file from its first line: 11/22/26, 04/29/2010, 2014-08-01, 19/08/2022."""
    m = _FILE_HEADER.match(line)
    if not m:
        return None
    date = m["date"]
    try:
        if re.fullmatch(r"\d{4}-\d\d-\d\d", date):
            y, mo, d = (int(x) for x in date.split("-"))
        else:
            a, b, c = (int(x) for x in re.split(r"[/.]", date))
            mo, d = (a, b) if a <= 12 else (b, a)  # C/en_US write month first; others day first
            y = c + 2000 if c < 100 else c
    except ValueError:
        return None
    return (y, mo, d) if 1 <= mo <= 12 and 1 <= d <= 31 and 1970 <= y <= 9999 else None


def _seconds(m: re.Match) -> int:
    hh, mm, ss = (int(x) for x in m["hms"].split(":"))
    if m["ampm"]:
        hh = hh % 12 + (12 if m["ampm"] == "PM" else 0)
    return hh * 3600 + mm * 60 + ss


_WANTED = {"pswpin/s", "%util", "%memused", "majflt/s"}


def parse_sar_text(text: str, history: History, source: str) -> int:
    """Add the samples of one `sar` text report (any of -A, -W, -d, -r, -B); returns the rows read.

    A section starts with a header row (time, then column names: its last token is a
    name, "%util", "pswpout/s") and ends at a blank line; data rows end in a number.
    A row's interval is the time since the previous time stamp in its section (the
    header's time for the first one); rows of several disks share one time stamp."""
    lines = text.splitlines()
    day = header_date(lines[0]) if lines else None
    if day is None:
        return 0
    midnight = float(calendar.timegm((*day, 0, 0, 0)))
    cols: list[str] | None = None
    prev_secs = cur_secs = None  # the section's previous and current time stamps
    day_offset = 0.0
    rows = 0
    newest = None
    for line in lines[1:]:
        m = _ROW.match(line)
        if not m:
            if not line.strip():
                cols = None  # a blank line ends a section; "Average:" rows are skipped
            continue
        rest = m["rest"].split()
        secs = _seconds(m)
        if "RESTART" in rest:
            cols = None
            continue
        if _num(rest[-1]) is None:
            cols = rest if _WANTED & set(rest) else None
            prev_secs, cur_secs, day_offset = None, secs, 0.0
            continue
        if cols is None or len(rest) != len(cols):
            continue
        if secs != cur_secs:
            if cur_secs is not None and secs < cur_secs - 43200:
                day_offset += 86400.0  # past midnight within one file
            prev_secs, cur_secs = cur_secs, secs
        t = midnight + day_offset + secs
        interval = float((cur_secs - prev_secs) % 86400) if prev_secs is not None else 0.0
        row = dict(zip(cols, rest))
        rows += 1
        newest = t if newest is None else max(newest, t)
        if "DEV" in row:
            util, wait = _num(row.get("%util", "")), _num(row.get("await", ""))
            if util is not None and wait is not None:
                history.disk.setdefault(row["DEV"], []).append((t, interval, util, wait))
        elif "pswpin/s" in row:
            history.swap.append((t, interval, _num(row["pswpin/s"]) or 0.0,
                                 _num(row.get("pswpout/s", "")) or 0.0))
        else:
            history.add_memory(t, interval, memused=_num(row.get("%memused", "")),
                               commit=_num(row.get("%commit", "")), majflt=_num(row.get("majflt/s", "")),
                               pgscand=_num(row.get("pgscand/s", "")))
    history.read_from(source, newest)
    return rows


# -- summaries --------------------------------------------------------------------

def _stamp(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t is not None else "?"


def _period(f: dict[str, Any]) -> str:
    return f"{_stamp(f['first_t'])} to {_stamp(f['last_t'])}"


def summarise(history: History) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    source = ", ".join(history.sources)
    if history.swap:
        rows = sorted(history.swap)
        thrash = [r for r in rows if r[2] >= SWAP_THRASH and r[3] >= SWAP_THRASH]
        worst = max(rows, key=lambda r: r[2] + r[3])
        f = {"samples": len(rows), "active_samples": sum(r[2] + r[3] >= SWAP_ACTIVE for r in rows),
             "thrash_samples": len(thrash), "thrash_seconds": round(sum(r[1] for r in thrash)),
             "max_pswpin_s": max(r[2] for r in rows), "max_pswpout_s": max(r[3] for r in rows),
             "worst_t": worst[0], "first_t": rows[0][0], "last_t": rows[-1][0], "source": source}
        f["period"] = _period(f)
        f["text"] = (f"swap {f['period']}: {f['thrash_samples']} of "
                     f"{f['samples']} samples swapping both ways ({f['thrash_seconds']} s), peak "
                     f"{worst[2]:.0f} pages/s in, {worst[3]:.0f} out at {_stamp(worst[0])}")
        out.append(("swap_activity", f))
    for dev, rows in sorted(history.disk.items()):
        if SKIP_DEVICES.match(dev) or not rows:
            continue
        rows = sorted(rows)
        busy = [r for r in rows if r[2] >= UTIL_BUSY]
        slow = [r for r in rows if r[3] >= AWAIT_SLOW]
        saturated = [r for r in rows if r[3] >= AWAIT_SLOW or (r[2] >= UTIL_BUSY and r[3] >= AWAIT_BUSY)]
        worst = max(rows, key=lambda r: (r[3], r[2]))
        f = {"device": dev, "samples": len(rows), "busy_samples": len(busy), "slow_samples": len(slow),
             "saturated_samples": len(saturated), "saturated_seconds": round(sum(r[1] for r in saturated)),
             "max_util": max(r[2] for r in rows), "max_await": max(r[3] for r in rows),
             "worst_t": worst[0], "first_t": rows[0][0], "last_t": rows[-1][0], "source": source}
        f["period"] = _period(f)
        f["text"] = (f"{dev} {f['period']}: saturated in "
                     f"{f['saturated_samples']} of {f['samples']} samples ({f['saturated_seconds']} s); "
                     f"worst await {worst[3]:.0f} ms at {worst[2]:.0f}% util ({_stamp(worst[0])})")
        out.append(("disk_busy", f))
    if history.memory:
        rows = sorted(history.memory.items())
        vals = lambda key: [r[key] for _t, r in rows if key in r]  # noqa: E731
        pressure = [(t, r) for t, r in rows if r.get("pgscand", 0) >= RECLAIM_DIRECT
                    and r.get("majflt", 0) >= MAJFLT_PRESSURE]
        f = {"samples": len(rows), "max_memused_percent": max(vals("memused"), default=0.0),
             "max_commit_percent": max(vals("commit"), default=0.0),
             "max_majflt_s": max(vals("majflt"), default=0.0), "max_pgscand_s": max(vals("pgscand"), default=0.0),
             "pressure_samples": len(pressure), "pressure_seconds": round(sum(r["secs"] for _t, r in pressure)),
             "first_t": rows[0][0], "last_t": rows[-1][0], "source": source}
        f["period"] = _period(f)
        f["text"] = (f"memory {f['period']}: up to "
                     f"{f['max_memused_percent']:.0f}% used, {f['max_commit_percent']:.0f}% committed, "
                     f"{f['max_majflt_s']:.0f} major faults/s, {f['max_pgscand_s']:.0f} pages/s direct reclaim")
        out.append(("memory_pressure_history", f))
    return out


# -- collecting --------------------------------------------------------------------

def collect(ctx) -> None:
    history = History()
    if ctx.source.kind == "sosreport":
        found = _from_sos_text(ctx, history)
    else:
        found = _from_sadf(ctx, history)
    if not found:
        return
    newest = history.newest()
    if newest is None:
        ctx.status(NAME, "absent", detail="sysstat files hold no swap, disk or memory samples",
                   hint="sysstat collects disk statistics only with SADC_OPTIONS=\"-S DISK\" (or XALL)")
        return
    history.trim(newest - WINDOW)
    for kind, fields in summarise(history):
        ctx.add(kind, fields, Provenance("command" if ctx.source.kind != "sosreport" else "file",
                                         fields["source"], None, fields.get("last_t")))
    ctx.status(NAME, "ok", detail=f"{_stamp(newest - WINDOW)} to {_stamp(newest)} from "
               f"{', '.join(history.sources)}", name=next(iter(history.sources)))


def _today_files(names: list[str], now: float) -> list[str]:
    wanted = []
    for back in range(DAYS - 1, -1, -1):  # oldest first
        day = time.localtime(now - back * 86400)
        for name in (f"sa{day.tm_mday:02d}", time.strftime("sa%Y%m%d", day)):
            if name in names:
                wanted.append(name)
                break
    return wanted


def _from_sadf(ctx, history: History) -> bool:
    for directory in SA_DIRS:
        names = ctx.source.listdir(directory)
        files = _today_files(names, time.time())
        if not files:
            continue
        read = False
        for name in files:
            result = ctx.source.run(["sadf", "-j", "--", *SADF_OPTIONS, f"{directory}/{name}"])
            if not result.ok:
                hint = ("install sysstat" if result.status == "missing" else
                        "the file may come from another sysstat version; read it with that version's sadf")
                ctx.status(NAME, result, hint=hint)
                continue
            try:
                parse_sadf_json(result.text, history, result.name)
                read = True
            except (ValueError, AttributeError, TypeError) as err:
                ctx.status(NAME, "failed", detail=f"{result.name}: not sysstat JSON ({err})", name=result.name)
        return read
    ctx.status(NAME, "absent", detail=f"no sysstat data for the last {DAYS} days in {' or '.join(SA_DIRS)}",
               name=SA_DIRS[0], hint="install and enable sysstat (Debian: ENABLED=\"true\" in /etc/default/"
                                     "sysstat) to keep a history of swapping and disk load")
    return False


def _from_sos_text(ctx, history: History) -> bool:
    candidates = [p for p in getattr(ctx.source, "sos_files", lambda _p: [])("sar")
                  if p.startswith("sos_commands/sar/")]
    for directory in ("var/log/sa", "var/log/sysstat"):
        candidates += [f"{directory}/{n}" for n in ctx.source.listdir(directory) if re.fullmatch(r"sar\d+", n)]
    by_day: dict[tuple[int, int, int], str] = {}  # a month of files can be large: keep names only
    for path in candidates:
        if not re.fullmatch(r"sar\d+", path.rsplit("/", 1)[-1]):
            continue
        result = ctx.source.read(path)
        day = header_date(result.text.split("\n", 1)[0]) if result.ok else None
        if day and day not in by_day:
            by_day[day] = path
    if not by_day:
        ctx.status(NAME, "absent", detail="no sar text files (sos_commands/sar/, var/log/sa/) in this sosreport",
                   name="sos_commands/sar", hint="sos's sar plugin saves them when sysstat is installed on the host")
        return False
    for day in sorted(by_day)[-DAYS:]:
        result = ctx.source.read(by_day[day])
        parse_sar_text(result.text, history, result.name)
    return True
