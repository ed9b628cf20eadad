"""cloud-init: its logs as ``log`` facts, and how its last run ended.

Facts
    log                stream "cloud-init", ident "cloud-init", with module and level
                       ("url_helper.py", "WARNING") and the syslog priority of the level;
                       message is the whole line, as cloud-init's own journal lines hold it
    cloud_init_status  status (done, running, error, disabled, ...), extended_status,
                       boot_status_code, detail, datasource, errors (count), error_text, text

Where from (live, and sos's cloud_init plugin, which copies /var/log/cloud-init* and
/run/cloud-init/ and runs `cloud-init status`)::

    /var/log/cloud-init.log         2022-02-11 18:58:13,844 - url_helper.py[DEBUG]: [0/1] open ...
                                    (or, where cloud.cfg.d/05_logging.cfg sends it through
                                    rsyslog: "Feb 11 18:58:13 host [CLOUDINIT] url_helper.py[...]")
    /var/log/cloud-init-output.log  the stages' console output, warnings repeated
    /run/cloud-init/result.json     {"v1": {"datasource": ..., "errors": [...]}}
    `cloud-init status --long`      live; sos_commands/cloud_init/cloud-init_status (short form)

Each "running 'init-local'" line starts a boot's run; boots are numbered from the end
(0 = the last), or taken from the journal's boots when the times fall inside one.
A line already in the journal (cloud-init's warnings reach it through its stdout) is
not added twice.
"""
from __future__ import annotations

import calendar
import json
import re
from typing import Any

from hostmedic.collectors import logfiles, logtext, sostime
from hostmedic.engine.facts import Provenance
from hostmedic.engine.sources import ABSENT, MISSING

NAME = "cloudinit"
LOGS = ("/var/log/cloud-init.log", "/var/log/cloud-init-output.log")
LEVELS = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}
_STAMPED = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d) (?P<hms>\d\d:\d\d:\d\d),(?P<ms>\d{3}) - "
                      r"(?P<module>[^\[\s]+)\[(?P<level>[A-Z]+)\]: ")
_SYSLOGGED = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d) \S+ "
                        r"\[CLOUDINIT\] (?P<module>[^\[\s]+)\[(?P<level>[A-Z]+)\]: ")
_RUN_START = re.compile(r"Cloud-init v\. \S+ running 'init-local'")


def _timegm(*parts: int, frac: float = 0.0) -> float | None:
    """Epoch seconds, or None for a stamp no calendar has (month 13: a damaged line)."""
    try:
        return float(calendar.timegm(parts)) + frac
    except (ValueError, OverflowError):
        return None


def parse_cloud_init_log(text: str, reference: float, continuations: bool = True) -> list[logtext.Line]:
    """cloud-init.log (or -output.log) lines; an unstamped line continues the one before
    (tracebacks) when `continuations`, else stands alone (console output)."""
    out: list[logtext.Line] = []
    run = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        fields: dict[str, Any] = {"ident": "cloud-init"}
        m = _STAMPED.match(raw)
        if m:
            y, mo, d = (int(x) for x in m["date"].split("-"))
            hh, mm, ss = (int(x) for x in m["hms"].split(":"))
            fields["t"] = _timegm(y, mo, d, hh, mm, ss, frac=int(m["ms"]) / 1000)
        else:
            m = _SYSLOGGED.match(raw)
            if m:
                month = list(calendar.month_abbr).index(m["mon"])
                hh, mm, ss = (int(x) for x in m["hms"].split(":"))
                fields["t"] = _timegm(logtext.year_for(month, reference), month, int(m["day"]), hh, mm, ss)
        if m:
            fields.update(module=m["module"], level=m["level"], priority=LEVELS.get(m["level"]))
        elif continuations and out:
            out[-1].message += "\n" + raw.rstrip()
            continue
        if _RUN_START.search(raw) and out:
            run += 1
        fields["_run"] = run
        out.append(logtext.Line(raw.rstrip(), lineno, fields))
    for line in out:
        line.fields["boot"] = line.fields.pop("_run") - run
    return out


def _journal_offsets(ctx, lines: list[logtext.Line]) -> None:
    """Renumber each run's lines with the journal boot whose time span holds the run's start."""
    spans = [(f.fields["first_t"], f.fields["last_t"], f.fields["offset"])
             for f in ctx.facts.of_kind("journal_boot")
             if isinstance(f.fields.get("first_t"), (int, float)) and
             isinstance(f.fields.get("last_t"), (int, float)) and "offset" in f.fields]
    if not spans:
        return
    first_t: dict[int, float] = {}
    for line in lines:
        if line.fields.get("t") is not None:
            first_t.setdefault(line.fields["boot"], line.fields["t"])
    mapping = {}
    for run, t in first_t.items():
        hit = [offset for lo, hi, offset in spans if lo - 60 <= t <= hi + 60]
        if hit:
            mapping[run] = hit[0]
    for line in lines:
        if line.fields["boot"] in mapping:
            line.fields["boot"] = mapping[line.fields["boot"]]


def collect(ctx) -> None:
    reference = sostime.collection_time(ctx.source)
    read, seen = [], set()
    for path in LOGS:
        result = ctx.source.read(path)
        if result.status == ABSENT:
            continue
        if not result.ok:
            ctx.status(NAME, result, hint=f"run as root to read {path}")
            continue
        lines = parse_cloud_init_log(result.text, reference, continuations=path.endswith("init.log"))
        _journal_offsets(ctx, lines)
        # the output log repeats cloud-init.log's warnings (without their tracebacks)
        fresh = [l for l in lines if l.message.split("\n", 1)[0] not in seen]
        seen.update(l.message.split("\n", 1)[0] for l in lines)
        added, skipped = logfiles.add_deduplicated(ctx, "cloud-init", fresh, "file", result.name)
        read.append(f"{result.name}: {len(lines)} lines, {added} kept"
                    + (f", {skipped} already in the journal" if skipped else ""))
    found_status = _status(ctx)
    if read:
        ctx.status(NAME, "ok", detail="; ".join(read), name=", ".join(LOGS))
    elif not found_status:
        ctx.status(NAME, ABSENT, detail="no cloud-init logs or status",
                   hint="normal on a host that does not run cloud-init", name=", ".join(LOGS))


def parse_status(text: str) -> dict[str, Any]:
    """`cloud-init status [--long]`: "key: value" lines; "detail:" may have its value on the
    next line (cloud-init < 22); "errors:" is followed by "\t- ..." items."""
    fields: dict[str, Any] = {}
    key = None
    items: dict[str, list[str]] = {}
    for raw in text.splitlines():
        m = re.match(r"^(?P<key>[A-Za-z_]+):\s*(?P<value>.*)$", raw)
        if m:
            key = m["key"].lower()
            if m["value"].strip():
                fields[key] = m["value"].strip()
            continue
        item = raw.strip()
        if key and item:
            if item.startswith("- "):
                items.setdefault(key, []).append(item[2:])
            elif key not in fields:
                fields[key] = item
    errors = items.get("errors", [])
    # "recoverable_errors:" is followed by one "LEVEL:" line per level and its items
    recoverable = [i for level in ("error", "warning", "deprecated") for i in items.get(level, [])]
    out = {k: fields[k] for k in ("status", "extended_status", "boot_status_code", "detail",
                                  "last_update") if k in fields}
    if errors or "status" in out:
        out["errors"] = len(errors)
    if errors:
        out["error_text"] = "; ".join(errors)
    if recoverable:
        out["recoverable_errors"] = len(recoverable)
        out["recoverable_text"] = "; ".join(recoverable)
    return out


def _status(ctx) -> bool:
    result = ctx.source.run(["cloud-init", "status", "--long"],
                            sos_paths=["sos_commands/cloud_init/cloud-init_status_--long",
                                       "sos_commands/cloud_init/cloud-init_status"])
    # `cloud-init status` exits 1 on error and 2 on recoverable errors, and still prints
    fields = parse_status(result.text) if result.text.strip() else {}
    if not fields and result.status not in (ABSENT, MISSING) and not result.ok:
        ctx.status(NAME, result, hint="cloud-init's own status could not be read")
    res = ctx.source.read("/run/cloud-init/result.json")
    if res.ok:
        try:
            v1 = json.loads(res.text).get("v1") or {}
        except (ValueError, AttributeError):
            v1 = {}
        if isinstance(v1, dict) and v1:
            if v1.get("datasource"):
                fields["datasource"] = str(v1["datasource"])
            errs = [str(e) for e in v1.get("errors") or []]
            fields["errors"] = max(fields.get("errors", 0), len(errs))
            if errs and "error_text" not in fields:
                fields["error_text"] = "; ".join(errs)
    if not fields:
        return False
    fields.setdefault("status", "unknown")
    fields["text"] = (f"cloud-init status: {fields['status']}"
                      + (f" ({fields['extended_status']})" if fields.get("extended_status") else "")
                      + (f", datasource {fields.get('datasource') or fields.get('detail')}"
                         if fields.get("datasource") or fields.get("detail") else "")
                      + (f", errors: {fields['error_text']}" if fields.get("error_text") else ""))
    ctx.add("cloud_init_status", fields,
            Provenance("command", result.name if result.text.strip() else res.name))
    return True
