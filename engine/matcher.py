"""Rule conditions compiled to durable_rules rulesets, and matching facts against them.

durable_rules does the correlation: joins across facts (same device, server,
domain, boot), time windows, absence of a later fact, through its Rete network.
What it taught us, and what this module does about it:

* One engine Host per process: each Host starts timer threads that never stop.
  `delete_state` crashed the process (free(): invalid pointer) after a half-matched
  join, so a run retracts what it asserted instead, throwing away whatever fires
  during retraction.
* A session (`sid`) is never freed without delete_state, and a ruleset holds at most
  1,024 of them (past that its state table is corrupted; memory grew ~1 MB a run).
  So every run uses the same session, emptied by retraction, and each fact carries
  its run number: a match holding a fact of another run is stale and dropped.
* A comparison (`$neq`, `$lt`, ...) never matches a fact that lacks the field:
  collectors write explicit values ("unset") where a rule may test for absence.
* Its absence (`$not`) is decided when the triggering fact arrives, and it crashed
  the process now and then on large inputs: the engine joins what must be present,
  and absence is confirmed in Python once every fact is in (`_cancelled`).
* Its regex operator uses its own dialect; all text matching happens in Python
  before, and the engine only sees typed scalar fields.
* Identical fact dicts are one fact: every fact carries its unique `id`.
* An exception inside an action is swallowed, so the action only records ids.
* Registration mutates the definition: a deep copy is registered.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import threading
from dataclasses import dataclass
from typing import Any

from durable import engine as durable

from hostmedic.engine.facts import Fact
from hostmedic.engine.rulepack import Rule

_OPS = {"eq": None, "ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


@dataclass
class Match:
    rule: Rule
    alternative: int
    name: str
    facts: dict[str, Fact]  # alias -> fact


class _Host(durable.Host):
    """Actions only record which facts matched (an exception inside one would be lost)."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: dict[str, list[tuple[str, dict[str, int]]]] = {}

    def get_action(self, action_name: str):
        def record(c) -> None:
            sid = str(c.s.sid)
            facts = [(alias, fact) for alias, fact in (c._m or {}).items() if isinstance(fact, dict)]
            ids = {alias: fact["id"] for alias, fact in facts}
            runs = {fact.get("run") for _, fact in facts}
            self.recorded.setdefault(sid, []).append((action_name, ids, runs))
        return record


_host: _Host | None = None
_registered: set[str] = set()
_lock = threading.Lock()
_runs = itertools.count(1)
_SID = "hostmedic"  # one session for every run (see the docstring)


def _get_host() -> _Host:
    global _host
    if _host is None:
        _host = _Host()
    return _host


def _value(val: Any) -> Any:
    """A literal, a reference "$alias.field", or {ref: alias.field, times|plus: n}."""
    if isinstance(val, str) and val.startswith("$") and "." in val:
        alias, field = val[1:].split(".", 1)
        return {alias: field}
    if isinstance(val, dict) and "ref" in val:
        alias, field = str(val["ref"]).split(".", 1)
        if "times" in val:
            return {"$mul": {"$l": {alias: field}, "$r": val["times"]}}
        if "plus" in val:
            return {"$add": {"$l": {alias: field}, "$r": val["plus"]}}
        return {alias: field}
    return val


def _where(where: dict[str, Any]) -> list[dict]:
    conds: list[dict] = []
    for name, spec in (where or {}).items():
        if isinstance(spec, dict) and spec and set(spec) <= set(_OPS) | {"exists"}:
            for op, val in spec.items():
                if op == "exists":
                    conds.append({"$ex" if val else "$nex": {name: 1}})
                elif _OPS[op] is None:
                    conds.append({name: _value(val)})
                else:
                    conds.append({_OPS[op]: {name: _value(val)}})
        else:
            conds.append({name: _value(spec)})
    return conds


def compile_fact(fm: dict[str, Any], first_alias: str | None) -> tuple[str, dict]:
    conds: list[dict] = [{"kind": fm["kind"]}]
    conds += _where(fm.get("where") or {})
    same = fm.get("same") or []
    if isinstance(same, list):
        conds += [{name: {first_alias: name}} for name in same]
    else:
        for name, ref in same.items():
            alias, field = ref.split(".", 1)
            conds.append({name: {alias: field}})
    if fm.get("after"):
        conds.append({"$gt": {"seq": {fm["after"]: "seq"}}})
    if fm.get("before"):
        conds.append({"$lt": {"seq": {fm["before"]: "seq"}}})
    if fm.get("within"):
        of, secs = fm["within"]["of"], fm["within"]["seconds"]
        conds.append({"$gte": {"t": {"$sub": {"$l": {of: "t"}, "$r": secs}}}})
        conds.append({"$lte": {"t": {"$add": {"$l": {of: "t"}, "$r": secs}}}})
    alias = fm["as"] + ("$not" if fm.get("absent") else "")
    return alias, (conds[0] if len(conds) == 1 else {"$and": conds})


def compile_rule(rule: Rule) -> dict[str, dict]:
    """The durable_rules ruleset definition of one rule: one engine rule per alternative,
    joining the facts that must be present (absence is confirmed afterwards, in Python)."""
    ruleset = {}
    for i, alt in enumerate(rule.data["when"]):
        first = alt["facts"][0]["as"]
        clauses = [dict([compile_fact(fm, first)]) for fm in alt["facts"] if not fm.get("absent")]
        ruleset[f"alt{i}"] = {"all": clauses, "run": f"{rule.id}#{i}"}
    return ruleset


def kinds_of(rule: Rule) -> set[str]:
    return {fm["kind"] for alt in rule.data["when"] for fm in alt["facts"]}


def _ruleset_name(rule: Rule, definition: dict) -> str:
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]
    return f"{rule.id.replace('-', '_')}_{digest}"


def _engine_fact(fact: Fact, sid: str, run: int) -> dict[str, Any]:
    """Scalar fields only: the engine joins on values, not on lists. Its own JSON parser
    refuses infinities and lone surrogates (a damaged file, an odd file name): a value it
    cannot take is left out, like a missing field, rather than failing the whole run."""
    out: dict[str, Any] = {}
    for k, v in fact.fields.items():
        if isinstance(v, float) and not math.isfinite(v):
            continue
        if isinstance(v, str):
            out[k] = v.encode("utf-8", "replace").decode("utf-8")
        elif isinstance(v, (int, float, bool)):
            out[k] = v
    out.update({"kind": fact.kind, "id": fact.id, "sid": sid, "run": run})
    return out


def match_rule(rule: Rule, facts: list[Fact]) -> list[Match]:
    """Every combination of facts that satisfies one of the rule's alternatives."""
    definition = compile_rule(rule)
    name = _ruleset_name(rule, definition)
    relevant = [f for f in facts if f.kind in kinds_of(rule)]
    if not relevant:
        return []
    by_id = {f.id: f for f in relevant}
    with _lock:
        host = _get_host()
        if name not in _registered:
            host.set_rulesets({name: copy.deepcopy(definition)})
            _registered.add(name)
        sid, run = _SID, next(_runs)
        try:
            for fact in relevant:
                try:
                    host.assert_fact(name, _engine_fact(fact, sid, run))
                except durable.MessageNotHandledException:
                    pass  # a fact no condition of this rule consumes
                except Exception:  # a duplicate (two facts with one id in a hand-made snapshot)
                    pass
            recorded = host.recorded.pop(sid, [])
        finally:  # the shared session is left empty, whatever happened
            # delete_state can crash the process after a half-matched join: retract instead.
            for fact in relevant:
                try:
                    host.retract_fact(name, _engine_fact(fact, sid, run))
                except Exception:  # MessageNotHandledException: it was never stored
                    pass
            host.recorded.pop(sid, None)
    matches = []
    for action, ids, runs in recorded:
        if runs != {run}:
            continue  # a fact left over from another run (one whose retraction failed)
        alt = int(action.rsplit("#", 1)[1])
        spec = rule.data["when"][alt]
        bound = {alias: by_id[i] for alias, i in ids.items() if i in by_id}
        if not any(_cancelled(fm, bound, spec["facts"][0]["as"], relevant)
                   for fm in spec["facts"] if fm.get("absent")):
            matches.append(Match(rule, alt, spec["name"], bound))
    return matches


# -- absence, confirmed once every fact is in -------------------------------------
# The same condition language as compile_fact, evaluated in Python: durable_rules'
# own absence ($not) is decided when the triggering fact arrives, and crashed the
# process now and then on large inputs.

def _resolve(val: Any, bound: dict[str, Fact]) -> Any:
    if isinstance(val, str) and val.startswith("$") and "." in val:
        alias, field = val[1:].split(".", 1)
        return bound[alias].fields.get(field) if alias in bound else None
    if isinstance(val, dict) and "ref" in val:
        alias, field = str(val["ref"]).split(".", 1)
        base = bound[alias].fields.get(field) if alias in bound else None
        if base is None:
            return None
        if "times" in val:
            return base * val["times"]
        return base + val["plus"] if "plus" in val else base
    return val


_COMPARE = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b}


def _holds(fact: Fact, fm: dict[str, Any], bound: dict[str, Fact], first: str) -> bool:
    """Does this fact satisfy the clause, given the facts already bound? Like the
    engine, a comparison never holds for a field the fact does not have."""
    f = fact.fields
    if fact.kind != fm["kind"]:
        return False
    for name, spec in (fm.get("where") or {}).items():
        ops = spec if isinstance(spec, dict) and spec and set(spec) <= set(_COMPARE) | {"exists"} \
            else {"eq": spec}
        for op, val in ops.items():
            if op == "exists":
                if (name in f) != bool(val):
                    return False
                continue
            want = _resolve(val, bound)
            try:
                if f.get(name) is None or want is None or not _COMPARE[op](f[name], want):
                    return False
            except TypeError:
                return False
    same = fm.get("same") or []
    pairs = [(n, f"{first}.{n}") for n in same] if isinstance(same, list) else list(same.items())
    for name, ref in pairs:
        alias, field = ref.split(".", 1)
        want = bound[alias].fields.get(field) if alias in bound else None
        if want is None or f.get(name) != want:
            return False
    for key, sign in (("after", 1), ("before", -1)):
        if fm.get(key):
            other = bound[fm[key]].fields.get("seq")
            if f.get("seq") is None or other is None or (f["seq"] - other) * sign <= 0:
                return False
    if fm.get("within"):
        other = bound[fm["within"]["of"]].fields.get("t")
        if f.get("t") is None or other is None or abs(f["t"] - other) > fm["within"]["seconds"]:
            return False
    return True


def _cancelled(fm: dict[str, Any], bound: dict[str, Fact], first: str, facts: list[Fact]) -> bool:
    return any(_holds(fact, fm, bound, first) for fact in facts if fact.kind == fm["kind"])
