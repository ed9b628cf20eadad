"""Findings: what a rule concluded, with the evidence that proves it.

Matches of one rule are merged per `group_by` key into one finding; related facts
named in the rule's `context` are joined in; the explanation is rendered from
the matched fields; a specific finding takes the generic ones it explains
(`supersedes`) under its wing, so one incident leads with one root cause.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from hostmedic.engine.facts import Fact
from hostmedic.engine.matcher import Match
from hostmedic.engine.rulepack import Rule

SEVERITY_ORDER = {"critical": 4, "error": 3, "warning": 2, "info": 1}
CONFIDENCE_ORDER = {"high": 3, "medium": 2, "low": 1}


def duration(seconds: Any) -> str:
    """90 -> "1min 30s", the way systemd prints time spans."""
    try:
        secs = int(round(float(seconds)))
    except (TypeError, ValueError, OverflowError, TemplateError):  # TemplateError: an undefined field
        return "an unknown time"
    if secs < 60:
        return f"{secs}s"
    mins, secs = divmod(secs, 60)
    if mins < 60:
        return f"{mins}min {secs}s" if secs else f"{mins}min"
    hours, mins = divmod(mins, 60)
    return f"{hours}h {mins}min"


def mib(kib: Any) -> str:
    try:
        return f"{float(kib) / 1024:.0f} MiB"
    except (TypeError, ValueError, TemplateError):  # TemplateError: an undefined field
        return "an unknown amount"


def uniq(values: Any) -> list:
    """Distinct values, without the empty ones (missing fields render as undefined)."""
    out: list = []
    for v in values or []:
        if v not in (None, "") and not isinstance(v, Undefined) and v not in out:
            out.append(v)
    return out


def distinct(items: Any, attribute: str = "log_id", last: bool = False) -> list:
    """Matched facts once each (a fact joins several matches), by one of their fields;
    `last` keeps the latest of each (e.g. the longest a task was reported blocked)."""
    seen: dict = {}
    for item in items or []:
        if not isinstance(item, dict) or item.get(attribute) is None:
            continue
        if last or item[attribute] not in seen:
            seen[item[attribute]] = item
    return list(seen.values())


_ENV = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False,
                            trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update(duration=duration, mib=mib, uniq=uniq, distinct=distinct)
_ENV.globals.update(uniq=uniq)


def _render(source: str, variables: dict[str, Any]) -> str:
    """A rule's text filled in; a field that damaged input left out (or a template bug in a
    user's rule) gives the text as written and why, never an end to the diagnosis."""
    try:
        return _ENV.from_string(source).render(**variables).strip()
    except (TemplateError, TypeError, ValueError, ArithmeticError) as err:
        return f"{source.strip()}\n(hostmedic could not fill this in: {type(err).__name__}: {err})"


@dataclass
class Finding:
    rule: str
    title: str
    severity: str
    confidence: str
    summary: str
    explanation: str
    scope: str
    evidence: list[Fact]
    matches: list[Match]
    context: dict[str, list[Fact]] = field(default_factory=dict)
    group: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, str]] = field(default_factory=list)  # manual steps, rendered
    remediations: list[dict[str, Any]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    explains: list["Finding"] = field(default_factory=list)
    supersedes: list[str] = field(default_factory=list)

    @property
    def rank(self) -> tuple:
        return (SEVERITY_ORDER[self.severity], CONFIDENCE_ORDER[self.confidence])

    def evidence_ids(self) -> set[int]:
        ids = set()
        for fact in self.evidence:
            ids.add(fact.id)
            if fact.fields.get("log_id"):
                ids.add(fact.fields["log_id"])
        return ids

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "severity": self.severity, "title": self.title,
            "confidence": self.confidence, "scope": self.scope, "summary": self.summary,
            "explanation": self.explanation, "group": self.group,
            "matched": uniq(m.name for m in self.matches),
            "evidence": [evidence_json(f) for f in self.evidence],
            "steps": self.steps, "remediations": self.remediations, "references": self.references,
            "explains": [f.to_json() for f in self.explains],
        }


def evidence_json(fact: Fact) -> dict[str, Any]:
    f = fact.fields
    return {"kind": fact.kind, "text": evidence_text(fact), "time": f.get("t"), "boot": f.get("boot"),
            "match": f.get("match"), "domain": f.get("domain"),
            "source": {"origin": fact.source.origin, "name": fact.source.name, "line": fact.source.line}}


def evidence_text(fact: Fact) -> str:
    f = fact.fields
    return str(f.get("line") or f.get("message") or f.get("text") or
               ", ".join(f"{k}={v}" for k, v in f.items() if not isinstance(v, (list, dict))))


def _lookup(match: Match, name: str) -> Any:
    """A field of a match: "alias.field", or "field" from the first alias that has it."""
    if "." in name:
        alias, fname = name.split(".", 1)
        fact = match.facts.get(alias)
        return fact.fields.get(fname) if fact else None
    for fact in match.facts.values():
        if name in fact.fields:
            return fact.fields[name]
    return None


def _holds(fields: dict[str, Any], key: str, wanted: Any) -> bool:
    """A context condition: an equal value, or {exists: true|false} for a field's presence."""
    if isinstance(wanted, dict) and set(wanted) == {"exists"}:
        return (fields.get(key) is not None) == bool(wanted["exists"])
    return fields.get(key) == wanted


def _gather_context(rule: Rule, matches: list[Match], facts: list[Fact]) -> dict[str, list[Fact]]:
    out: dict[str, list[Fact]] = {}
    for name, spec in (rule.get("context") or {}).items():
        found: list[Fact] = []
        for match in matches:
            wanted = {k: _lookup(match, v) for k, v in (spec.get("same") or {}).items()}
            if any(v is None for v in wanted.values()):
                continue
            wanted.update(spec.get("where") or {})
            for fact in facts:
                if fact.kind == spec["kind"] and fact not in found and \
                        all(_holds(fact.fields, k, v) for k, v in wanted.items()):
                    found.append(fact)
        out[name] = found
    return out


def build_findings(rule: Rule, matches: list[Match], facts: list[Fact], remediations) -> list[Finding]:
    groups: dict[tuple, list[Match]] = {}
    for match in matches:
        key = tuple(_lookup(match, g) for g in rule.get("group_by") or [])
        groups.setdefault(key, []).append(match)
    findings = []
    for key, group in groups.items():
        evidence: list[Fact] = []
        lines: set[int] = set()  # one log line gives one evidence row, whatever kinds it gave
        for match in group:
            for fact in match.facts.values():
                log_id = fact.fields.get("log_id")
                if fact not in evidence and (log_id is None or log_id not in lines):
                    evidence.append(fact)
                    if log_id is not None:
                        lines.add(log_id)
        context = _gather_context(rule, group, facts)
        for extra in context.values():
            evidence += [f for f in extra if f not in evidence]
        evidence.sort(key=lambda f: (f.fields.get("seq") is None, f.fields.get("seq") or 0, f.id))
        variables = {alias: dict(fact.fields) for alias, fact in group[0].facts.items()}
        variables.update(
            matches=[{a: dict(f.fields) for a, f in m.facts.items()} for m in group],
            context={name: [dict(f.fields) for f in fs] for name, fs in context.items()},
            group=dict(zip(rule.get("group_by") or [], key)),
            all=lambda path: uniq(_lookup(m, path) for m in group))
        explanation = _render(rule.get("explain"), variables)
        findings.append(Finding(
            rule=rule.id, title=rule.title, severity=rule.severity, confidence=rule.get("confidence"),
            summary=_render(rule.get("summary"), variables),
            explanation=explanation, scope=rule.get("scope", "any"), evidence=evidence,
            matches=group, context=context, group=dict(zip(rule.get("group_by") or [], key)),
            steps=[{k: _render(v, variables) for k, v in st.items()}
                   for st in rule.get("steps") or []],
            remediations=[plan for rid in rule.get("remediations") or []
                          if (plan := remediations(rid, variables)) is not None],
            references=list(rule.get("references") or []), supersedes=list(rule.get("supersedes") or [])))
    return findings


def rank_and_group(findings: list[Finding]) -> list[Finding]:
    """Worst first; a finding explained by a more specific one moves under it."""
    findings = sorted(findings, key=lambda f: f.rank, reverse=True)
    leading: list[Finding] = []
    for finding in findings:
        parent = next((lead for lead in leading + findings
                       if lead is not finding and finding.rule in lead.supersedes
                       and lead.evidence_ids() & finding.evidence_ids()), None)
        if parent is not None:
            parent.explains.append(finding)
        else:
            leading.append(finding)
    return leading
