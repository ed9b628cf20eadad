"""When a sosreport was taken, and how long its host had been up.

Log text carries no year, and a sosreport is read long after it was made, so
collectors need the report's own clock as the reference for year inference and
for "how long before the report" questions. Like ``logtext`` (which reads text
timestamps as UTC), every time here is the host's *wall clock read as UTC*:
``date`` says ``Thu Nov 21 10:00:00 CET 2024``, we return 10:00 UTC. That keeps
the reference on the same clock as the journal and syslog text lines it is
compared with; a zone abbreviation cannot be turned into an offset reliably anyway.

Where sos keeps it (sos 3.x/4.x, ``sos/report/plugins/date.py`` and ``host.py``):

    sos_commands/date/date            ``date`` (sos 4.0 also links it as ``date`` at the top)
    sos_commands/date/date_--utc      ``date --utc``
    sos_commands/systemd/timedatectl  ``Local time: Thu 2024-11-21 10:00:00 CET`` (newer sos also
                                      links it as ``date`` at the top)
    sos_reports/manifest.json         ``"start_time": "2024-11-21 10:00:00.123456"`` (local, sos 4.x)
    sosreport-HOST[-CASE]-YYYY-MM-DD-xxxxxxx   folder name, "friendly" pattern (local date)
    sosreport-HOST[.CASE]-YYYYMMDDHHMMSS       folder name, "legacy" pattern (local time)
    sos_commands/host/uptime          `` 10:00:00 up 35 min,  1 user,  load average: ...``
"""
from __future__ import annotations

import calendar
import json
import os
import re
import time
from datetime import datetime

from hostmedic.engine.sources import Source

_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
# LC_ALL=C `date`: "Thu Nov 21 10:00:00 UTC 2024", "Thu Nov  1 10:00:00 +0100 2024"
_DATE = re.compile(r"^(?:[A-Z][a-z]{2} +)?(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) +"
                   r"(?P<h>\d{1,2}):(?P<m>\d\d):(?P<s>\d\d)(?: +\S+)? +(?P<year>\d{4})\s*$")
_TIMEDATECTL = re.compile(r"^\s*Local time: \w{3} (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\b")
_FRIENDLY = re.compile(r"sosreport-.*?-(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)(?:-[a-z]+)?(?:\.tar.*)?$")
_LEGACY = re.compile(r"sosreport-.*-(?P<stamp>\d{14})(?:\.tar.*)?$")
_UPTIME = re.compile(r"\bup\s+(?:(?P<days>\d{1,9})\s+days?,?\s*)?"
                     r"(?:(?P<hh>\d{1,9}):(?P<mm>\d\d)|(?P<min>\d{1,9})\s+min)?")


def _wall(year: int, month: int, day: int, h: int = 0, m: int = 0, s: float = 0.0) -> float | None:
    try:
        return calendar.timegm((year, month, day, h, m, int(s), 0, 0, 0)) + (s - int(s))
    except (ValueError, OverflowError):
        return None


def parse_date_output(text: str) -> float | None:
    """`date` (C locale), or `timedatectl`'s "Local time:" line (newer sos links the report's
    top-level ``date`` to timedatectl), as the wall clock read as UTC."""
    for line in text.splitlines():
        m = _DATE.match(line.strip())
        if m and m["mon"] in _MONTHS:
            return _wall(int(m["year"]), _MONTHS[m["mon"]], int(m["day"]),
                         int(m["h"]), int(m["m"]), int(m["s"]))
        m = _TIMEDATECTL.match(line)
        if m:
            return _wall(*(int(x) for x in m.groups()))
    return None


def parse_manifest_start(text: str) -> float | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    stamp = data.get("start_time") if isinstance(data, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        dt = datetime.fromisoformat(stamp.strip())
    except ValueError:
        return None
    return _wall(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second + dt.microsecond / 1e6)


def parse_report_name(name: str) -> float | None:
    """The date in a sosreport folder or tarball name. A friendly name has only the
    day: take its last second, so that no line of that day looks like it is from the future."""
    base = os.path.basename(name.rstrip("/"))
    m = _LEGACY.search(base)
    if m:
        s = m["stamp"]
        return _wall(int(s[:4]), int(s[4:6]), int(s[6:8]), int(s[8:10]), int(s[10:12]), int(s[12:14]))
    m = _FRIENDLY.search(base)
    if m:
        day = _wall(int(m["y"]), int(m["mo"]), int(m["d"]))
        return None if day is None else day + 86399
    return None


def collection_time(source: Source) -> float:
    """When the data was taken: the report's clock for a sosreport, now for anything else."""
    if getattr(source, "kind", "") != "sosreport":
        return time.time()
    for argv, paths in ((["date"], ["sos_commands/date/date", "date"]),
                        (["date", "--utc"], ["sos_commands/date/date_--utc"]),
                        (["timedatectl"], ["sos_commands/systemd/timedatectl"])):
        result = source.run(argv, sos_paths=paths)
        if result.ok:
            t = parse_date_output(result.text)
            if t is not None:
                return t
    result = source.read("sos_reports/manifest.json")
    if result.ok:
        t = parse_manifest_start(result.text)
        if t is not None:
            return t
    for name in (getattr(source, "root", ""), getattr(source, "path", "")):
        if name:
            t = parse_report_name(name)
            if t is not None:
                return t
    return time.time()


def parse_uptime_output(text: str) -> float | None:
    """`uptime`: " 10:00:00 up 2 days,  3:04,  1 user, ..." or "up 35 min," -> seconds."""
    m = _UPTIME.search(text)
    if not m or not any(m.group(g) for g in ("days", "hh", "min")):
        return None
    seconds = int(m["days"] or 0) * 86400
    if m["hh"]:
        seconds += int(m["hh"]) * 3600 + int(m["mm"]) * 60
    elif m["min"]:
        seconds += int(m["min"]) * 60
    return float(seconds)


def uptime_seconds(source: Source) -> float | None:
    """How long the host had been up when the data was taken (/proc/uptime, else `uptime`)."""
    result = source.read("/proc/uptime")
    if result.ok:
        try:
            return float(result.text.split()[0])
        except (IndexError, ValueError):
            pass
    result = source.run(["uptime"], sos_paths=["sos_commands/host/uptime", "uptime"])
    if result.ok:
        return parse_uptime_output(result.text)
    return None


def boot_time(source: Source) -> float | None:
    """When the current boot started, on the same clock as collection_time()."""
    up = uptime_seconds(source)
    return None if up is None else collection_time(source) - up
