"""systemd units: the ones in failed state (with their result, restarts and last log
lines), and the settings of the units a rule may need to explain (ordering, stop
timeouts, file limits): the failed ones, those that held up a shutdown, and those
whose log lines a rule pattern matched.

Facts
    failed_unit    unit, load, active, sub, description, text; and, where known,
                   result ('exit-code', 'timeout', ...), restarts (NRestarts, or the
                   journal's last "restart counter is at N"), last_log, last_lines
    unit_listing   that an authoritative list of failed units was read: source, failed (count)
    unit_props     unit, the PROPERTIES below as systemctl shows them, and
                   after_network_online, after_nss_lookup, wants_network_online (bool),
                   ident (the syslog identifier its processes log under), text
    unit_file      timers from `systemctl list-unit-files`: unit, state, enabled

Where from
    live        `systemctl list-units --failed --all --output=json` (systemd >= 246 prints
                JSON; older ones ignore --output and print the table), `systemctl show
                --property=... -- UNIT...`, `systemctl list-unit-files`
    sosreport   sos's systemd plugin: sos_commands/systemd/systemctl_list-units_--failed
                (else systemctl_list-units, filtered), systemctl_show_service_--all
                (`systemctl show *service --all`, every service), systemctl_list-unit-files
"""
from __future__ import annotations

import json
import re
from typing import Any

from hostmedic.engine.facts import Fact, Provenance

NAME = "systemd_units"
# TimeoutUSec: a mount unit's timeout, for mounting and unmounting alike
PROPERTIES = ["Id", "Description", "After", "Before", "Requires", "Wants", "TimeoutStopUSec", "TimeoutUSec",
              "ExecStop", "NRestarts", "Result", "ActiveState", "SubState", "ExecStart",
              "SyslogIdentifier", "LimitNOFILE", "LimitNOFILESoft", "Restart"]
UNIT_TYPES = r"(?:service|mount|socket|timer|target|swap|path|scope|slice|automount|device)"
_ROW = re.compile(r"^[\s*●×]*(?P<unit>\S+\." + UNIT_TYPES + r")"
                  r"\s+(?P<load>\S+)\s+(?P<active>\S+)\s+(?P<sub>\S+)\s*(?P<description>.*)$")
_PREFIX = re.compile(r"^(?P<unit>[^\s:]+\." + UNIT_TYPES + r"):? ")
_RESULT = re.compile(r": Failed with result '(?P<result>[^']+)'")
_RESTARTS = re.compile(r": Scheduled restart job, restart counter is at (?P<n>\d+)")
_EXEC_PATH = re.compile(r"\bpath=(?P<path>\S+)")
_EXEC_ARGV = re.compile(r"\bargv\[\]=(?P<argv>.*?) ; ")
LAST_LINES = 5
# Identifiers that many units (or systemd itself) log under: never a unit's own.
SHARED_IDENTS = {"systemd", "kernel", "sh", "bash", "env", "sudo", "su", "runuser", "python",
                 "python3", "perl", "java", "node", "ruby", "php"}


def collect(ctx) -> None:
    failed = _failed_units(ctx)
    _timers(ctx)
    logs = [f for f in ctx.facts.of_kind("log") if not f.fields.get("domain")]
    wanted = set(failed) | {f.fields["unit"] for f in ctx.facts.of_kind("stop_job")}
    wanted |= _units_in_interesting_lines(ctx, logs)
    idents = {f.fields.get("ident") for f in logs if f.fields.get("ident") and
              _interesting(ctx, f)}
    props = _unit_properties(ctx, wanted, idents) if (wanted or idents) else {}
    for unit, (row, prov) in failed.items():
        ctx.add("failed_unit", _with_history(row, props.get(unit), logs), prov)


# -- failed units ----------------------------------------------------------------------------

def _failed_units(ctx) -> dict[str, tuple[dict[str, Any], Provenance]]:
    """unit -> (fields, provenance) of every unit in failed state, and a unit_listing fact."""
    rows, result = None, None
    if ctx.source.live:
        result = ctx.source.run(["systemctl", "list-units", "--failed", "--all", "--output=json",
                                 "--no-pager"])
        rows = parse_list_units_json(result.text) if result.ok else None
    if rows is None:
        result = ctx.source.run(["systemctl", "list-units", "--failed", "--all", "--plain",
                                 "--no-legend", "--no-pager"],
                                sos_paths=["sos_commands/systemd/systemctl_list-units_--failed",
                                           "sos_commands/systemd/systemctl_list-units_--failed_--all"])
        if not result.ok and ctx.source.kind == "sosreport":  # older sos: the full list only
            result = ctx.source.run(["systemctl", "list-units"],
                                    sos_paths=["sos_commands/systemd/systemctl_list-units_--all"])
        rows = parse_list_units_text(result.text) if result.ok else None
    if rows is None:
        ctx.status(NAME, result, hint="systemctl could not list failed units (no systemd as PID 1, "
                                      "or not collected); failed units are judged from the journal")
        return {}
    out = {}
    for row in rows:
        if row["active"] != "failed":
            continue
        prov = Provenance("command", result.name, row.pop("lineno", None))
        out[row["unit"]] = (row, prov)
    ctx.add("unit_listing", {"source": result.name, "failed": len(out),
                             "text": f"{result.name}: {len(out)} failed unit(s)"},
            Provenance("command", result.name))
    ctx.status(NAME, "ok", detail=f"{len(out)} failed unit(s)", name=result.name)
    return out


def parse_list_units_json(text: str) -> list[dict[str, Any]] | None:
    """`systemctl list-units --output=json`: [{"unit", "load", "active", "sub", "description"}].
    None when the text is not that JSON (systemd < 246 ignores --output for tables)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, list) or not all(isinstance(r, dict) and "unit" in r for r in data):
        return None
    rows = []
    for r in data:
        row = {k: str(r.get(k) or "") for k in ("unit", "load", "active", "sub", "description")}
        row["text"] = " ".join(v for v in row.values() if v)
        rows.append(row)
    return rows


def parse_list_units_text(text: str) -> list[dict[str, Any]]:
    """The `systemctl list-units` table, with or without legend and "●"/"*" markers."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _ROW.match(line)
        if m:
            rows.append({"unit": m["unit"], "load": m["load"], "active": m["active"], "sub": m["sub"],
                         "description": m["description"].strip(), "text": line.strip(),
                         "lineno": lineno})
    return rows


def unit_of(log: Fact) -> str | None:
    """The unit a log line is about: the journal's UNIT/_SYSTEMD_UNIT, or systemd's "UNIT: " prefix."""
    if log.fields.get("unit"):
        return log.fields["unit"]
    m = _PREFIX.match(log.fields.get("message", ""))
    return m["unit"] if m else None


def _mentions(log: Fact, unit: str) -> bool:
    stem = unit.rsplit(".", 1)[0]
    return unit_of(log) == unit or log.fields.get("ident") == stem


def _with_history(row: dict[str, Any], props: dict[str, Any] | None, logs: list[Fact]) -> dict[str, Any]:
    """A failed unit with its result, restart count and last lines in the current boot."""
    unit = row["unit"]
    current = max((f.fields.get("boot", 0) for f in logs), default=0)
    mine = [f for f in logs if f.fields.get("boot", 0) == current and _mentions(f, unit)]
    mine.sort(key=lambda f: (f.fields.get("t") or 0))
    fields = dict(row)
    results = [m["result"] for f in mine for m in [_RESULT.search(f.fields.get("message", ""))] if m]
    restarts = [int(m["n"]) for f in mine for m in [_RESTARTS.search(f.fields.get("message", ""))] if m]
    if results:
        fields["result"] = results[-1]
    elif props and props.get("Result"):
        fields["result"] = props["Result"]
    if props and str(props.get("NRestarts", "")).isdecimal() and len(str(props["NRestarts"])) <= 20:
        fields["restarts"] = int(props["NRestarts"])
    elif restarts:
        fields["restarts"] = restarts[-1]
    if mine:
        fields["last_log"] = mine[-1].fields.get("message", "")
        fields["last_lines"] = "\n".join(f.fields.get("message", "") for f in mine[-LAST_LINES:])
    return fields


# -- unit properties -------------------------------------------------------------------------

def _interesting(ctx, log: Fact) -> bool:
    return bool(ctx.interesting(log.fields.get("message", "")))


def _units_in_interesting_lines(ctx, logs: list[Fact]) -> set[str]:
    return {u for f in logs if _interesting(ctx, f) for u in [unit_of(f)] if u}


def _unit_properties(ctx, units: set[str], idents: set[str]) -> dict[str, dict[str, Any]]:
    """Settings of the wanted units (and of services whose processes log under one of
    `idents`). A sosreport has every service in `systemctl show *service --all`;
    a live host is asked for just the wanted units."""
    if ctx.source.live:
        if not units:
            return {}
        shown = ctx.source.run(["systemctl", "show", "--property=" + ",".join(PROPERTIES), "--",
                                *sorted(units)])
    else:
        shown = ctx.source.run(["systemctl", "show", "*service", "--all"])
    if not shown.ok:
        ctx.status(NAME, shown, hint="unit settings (ordering, timeouts, limits) of the units "
                                     "findings name are missing")
        return {}
    out = {}
    blocks = parse_show(shown.text)
    # An identifier names a unit only when one unit logs under it (two python3 services,
    # or systemd's user managers, would be joined to each other's lines).
    owners: dict[str, int] = {}
    for props in blocks:
        ident = syslog_ident(props)
        if ident:
            owners[ident] = owners.get(ident, 0) + 1
    for props in blocks:
        unit = props.get("Id")
        ident = syslog_ident(props)
        if ident and (owners[ident] > 1 or ident in SHARED_IDENTS):
            ident = None
        if unit not in units and ident not in idents:
            continue
        fields = {"unit": unit, **{k: props[k] for k in PROPERTIES[1:] if k in props}}
        fields.update(ordering(props))
        if command_lines(props.get("ExecStop", "")):
            fields["stop_command"] = command_lines(props["ExecStop"])
        if ident:
            fields["ident"] = ident
        fields["text"] = (f"{unit}: After={props.get('After', '')} "
                          f"TimeoutStopUSec={props.get('TimeoutStopUSec', '')}").strip()
        ctx.add("unit_props", fields, Provenance("command", shown.name))
        out[unit] = fields
    return out


def parse_show(text: str) -> list[dict[str, str]]:
    """`systemctl show`: KEY=VALUE lines, one block per unit, blocks split by an empty line."""
    blocks = []
    for block in re.split(r"\n\s*\n", text):
        props = dict(l.split("=", 1) for l in block.splitlines() if "=" in l)
        if props.get("Id"):
            blocks.append(props)
    return blocks


def command_lines(value: str) -> str:
    """The command lines of an Exec*= property as `systemctl show` prints it,
    "{ path=/bin/sleep ; argv[]=/bin/sleep 600 ; ignore_errors=no ; ... }" (one such block
    per command), joined by " ; "; "" when there is none."""
    return " ; ".join(m["argv"] for m in _EXEC_ARGV.finditer(value))


def ordering(props: dict[str, str]) -> dict[str, bool]:
    """Where a unit sits against the network and name-service targets (explicit booleans,
    so that rules can test them)."""
    after = set(props.get("After", "").split())
    pulls = set(props.get("Wants", "").split()) | set(props.get("Requires", "").split())
    return {"after_network_online": "network-online.target" in after,
            "after_nss_lookup": "nss-lookup.target" in after,
            "wants_network_online": "network-online.target" in pulls}


def syslog_ident(props: dict[str, str]) -> str | None:
    """The identifier a service's output is logged under: SyslogIdentifier=, else the name
    of the program ExecStart runs (journald's default for a service's stdout)."""
    if props.get("SyslogIdentifier"):
        return props["SyslogIdentifier"]
    m = _EXEC_PATH.search(props.get("ExecStart", ""))
    return m["path"].rsplit("/", 1)[-1] if m else None


def _timers(ctx) -> None:
    """Whether timers (fstrim.timer above all) are enabled: `systemctl list-unit-files`."""
    files = ctx.source.run(["systemctl", "list-unit-files"])
    if not files.ok:
        ctx.status(NAME, files, hint="cannot tell which timers (e.g. fstrim.timer) are enabled")
        return
    for lineno, line in enumerate(files.lines(), 1):
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(".timer"):
            ctx.add("unit_file", {"unit": parts[0], "state": parts[1], "enabled": parts[1] == "enabled",
                                  "text": line.strip()}, Provenance("command", files.name, lineno))
