"""Which units failed in a boot, and whether each one came back (used by ``boots``).

    unit_failure   boot, unit, description, result, failures (count), restarts (the last
                   "restart counter is at N"), recovered (bool: started, restarted or ended
                   well after its last failure), during_shutdown (bool), current (bool),
                   line (the last failure line), text

systemd (PID 1) writes, by version:

    vault.service: Failed with result 'exit-code'.              (>= 236; also 'timeout',
                                                                 'start-limit-hit', 'resources', ...)
    Unit httpd.service entered failed state.                    (<= 235)
    Failed to start HashiCorp Vault.                            (< 250: the description only)
    Failed to start nginx.service - A high performance web ...  (>= 250)
    vault.service: Scheduled restart job, restart counter is at 3.
    httpd.service holdoff time over, scheduling restart.        (<= 235)
    Started HashiCorp Vault. / Started nginx.service - A high performance web server ...
    foo.service: Succeeded. / foo.service: Deactivated successfully.

Older systemd names only the description in "Started ..."; the description of a failed
unit is learnt from the "Failed to start DESCRIPTION." that follows its failure (or from
the journal's UNIT= field, which a live journal carries). Done in Python rather than as
a rule's absence condition: a journal has thousands of "Started" lines.
"""
from __future__ import annotations

import re
from typing import Any

from hostmedic.engine.facts import Fact, Provenance

_TYPES = r"(?:service|socket|mount|swap|timer|path|automount|target|device|scope)"
_FAILED = [re.compile(r"^(?P<unit>[^\s:]+\." + _TYPES + r"): Failed with result '(?P<result>[^']+)'"),
           re.compile(r"^Unit (?P<unit>\S+\." + _TYPES + r") entered failed state\.")]
_FAILED_TO_START = re.compile(r"^Failed to start (?:(?P<unit>[^\s:]+\." + _TYPES + r") - )?(?P<desc>.+?)\.?$")
_RECOVERED_UNIT = [
    re.compile(r"^(?P<unit>[^\s:]+\." + _TYPES + r"): (?:Scheduled restart job|Succeeded\.|"
               r"Deactivated successfully\.)"),
    re.compile(r"^(?P<unit>\S+\.service) holdoff time over, scheduling restart\.")]
_STARTED = re.compile(r"^(?:Started|Finished|Listening on|Mounted|Reached target) "
                      r"(?:(?P<unit>[^\s:]+\." + _TYPES + r") - )?(?P<desc>.+?)\.?$")
_RESTARTS = re.compile(r": Scheduled restart job, restart counter is at (?P<n>\d+)")


def _pid1(log: Fact) -> bool:
    return log.fields.get("ident") == "systemd" and log.fields.get("pid") in (1, None)


def unit_failures(offset: int, lines: list[Fact], current: bool,
                  shutdown_t: float | None) -> list[tuple[dict[str, Any], Fact]]:
    """(fields, last failure line) of every unit that failed in this boot (lines in order)."""
    state: dict[str, dict[str, Any]] = {}
    by_desc: dict[str, str] = {}
    last_failed: str | None = None
    for i, log in enumerate(lines):
        if not _pid1(log):
            continue
        msg = log.fields.get("message", "")
        failed = next((m for r in _FAILED for m in [r.match(msg)] if m), None)
        if failed:
            unit = failed["unit"]
            st = state.setdefault(unit, {"failures": 0, "restarts": 0, "result": None})
            st.update(last_fail=i, log=log, failures=st["failures"] + 1)
            if "result" in failed.groupdict():
                st["result"] = failed["result"]
            last_failed = unit
            continue
        fts = _FAILED_TO_START.match(msg)
        if fts:
            unit = fts["unit"] or log.fields.get("unit") or last_failed
            if unit in state:
                by_desc[fts["desc"]] = unit
                state[unit].setdefault("description", fts["desc"])
            continue
        unit = None
        for regex in _RECOVERED_UNIT:
            m = regex.match(msg)
            if m:
                unit = m["unit"]
                r = _RESTARTS.search(msg)
                if r and unit in state:
                    state[unit]["restarts"] = int(r["n"])
                break
        if unit is None:
            m = _STARTED.match(msg)
            if m:
                unit = m["unit"] or log.fields.get("unit") or by_desc.get(m["desc"])
        if unit in state:
            state[unit]["last_ok"] = i
    out = []
    for unit, st in state.items():
        log = st["log"]
        t = log.fields.get("t")
        fields: dict[str, Any] = {
            "boot": offset, "unit": unit, "description": st.get("description"),
            "result": st["result"] or "unknown", "failures": st["failures"],
            "restarts": st["restarts"], "recovered": st.get("last_ok", -1) > st["last_fail"],
            "during_shutdown": shutdown_t is not None and t is not None and t >= shutdown_t,
            "current": current, "line": log.fields.get("message", ""), "t": t}
        state_word = "started again after it" if fields["recovered"] else "not started again"
        fields["text"] = (f"{unit} failed {st['failures']} time(s) in boot {offset} (result "
                          f"'{fields['result']}'), {state_word}; last: {fields['line']}")
        out.append(({k: v for k, v in fields.items() if v is not None}, log))
    return out


def add_unit_failure_facts(ctx, offset: int, lines: list[Fact], current: bool,
                           shutdown_t: float | None) -> None:
    for fields, log in unit_failures(offset, lines, current, shutdown_t):
        ctx.add("unit_failure", fields, Provenance(log.source.origin, log.source.name, log.source.line,
                                                   fields.get("t"), log.fields.get("boot_id")))
