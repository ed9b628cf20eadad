"""systemd units: the ones in failed state, and the properties of the units that
held up a shutdown (their ordering and stop timeouts), to name what blocked it."""
from __future__ import annotations

import re

from hostmedic.engine.facts import Provenance

NAME = "systemd_units"
PROPERTIES = ["Id", "Description", "After", "Before", "Requires", "Wants", "TimeoutStopUSec",
              "ExecStop", "NRestarts", "Result", "ActiveState", "SubState"]
_ROW = re.compile(r"^[\s*●×]*(?P<unit>\S+\.(?:service|mount|socket|timer|target|swap|path|scope|slice|automount|device))"
                  r"\s+(?P<load>\S+)\s+(?P<active>\S+)\s+(?P<sub>\S+)\s*(?P<description>.*)$")


def collect(ctx) -> None:
    failed = ctx.source.run(["systemctl", "list-units", "--failed", "--all", "--plain", "--no-legend",
                             "--no-pager"],
                            sos_paths=["sos_commands/systemd/systemctl_list-units_--failed",
                                       "sos_commands/systemd/systemctl_list-units_--failed_--all"])
    if failed.ok:
        count = 0
        for lineno, line in enumerate(failed.lines(), 1):
            m = _ROW.match(line)
            if m and m["active"] == "failed":
                ctx.add("failed_unit", {"unit": m["unit"], "load": m["load"], "active": m["active"],
                                        "sub": m["sub"], "description": m["description"].strip(),
                                        "text": line.strip()},
                        Provenance("command", failed.name, lineno))
                count += 1
        ctx.status(NAME, "ok", detail=f"{count} failed unit(s)", name=failed.name)
    else:
        ctx.status(NAME, failed, hint="systemctl could not list failed units (no systemd as PID 1, "
                                      "or not collected)")
    _timers(ctx)
    units = sorted({f.fields["unit"] for f in ctx.facts.of_kind("stop_job")})
    if units:
        _unit_properties(ctx, set(units))


def _unit_properties(ctx, units: set[str]) -> None:
    """Ordering and stop settings of the units that held up a shutdown. A sosreport
    has them in `systemctl show *service --all`; a live host is asked for just these."""
    if ctx.source.kind == "local":
        shown = ctx.source.run(["systemctl", "show", "--property=" + ",".join(PROPERTIES), "--",
                                *sorted(units)])
    else:
        shown = ctx.source.run(["systemctl", "show", "*service", "--all"])
    if not shown.ok:
        ctx.status(NAME, shown, hint="the settings of the units that blocked the shutdown are missing")
        return
    for block in shown.text.split("\n\n"):
        props = dict(l.split("=", 1) for l in block.splitlines() if "=" in l)
        if props.get("Id") in units:
            ctx.add("unit_props", {"unit": props["Id"], **{k: props[k] for k in PROPERTIES[1:] if k in props}},
                    Provenance("command", shown.name))


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
