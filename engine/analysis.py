"""The flow: source -> collectors -> facts -> symptoms -> rules -> findings.

`collect` fills a fact base from a source; `analyse` turns a fact base into
findings. The two halves meet only at the fact base, so a saved snapshot
replays the second half exactly.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from importlib import metadata

from hostmedic import remediations
from hostmedic.collectors import Context, Options, run_all
from hostmedic.engine.facts import Fact, FactBase
from hostmedic.engine.findings import Finding, build_findings, rank_and_group
from hostmedic.engine.matcher import match_rule
from hostmedic.engine.patterns import extract_symptoms, prefilter
from hostmedic.engine.redact import redact_base
from hostmedic.engine.rulepack import RulePack
from hostmedic.engine.sources import Source


def tool_version() -> str:
    try:
        return metadata.version("hostmedic")
    except metadata.PackageNotFoundError:
        return "unknown"


def collect(source: Source, pack: RulePack, options: Options | None = None,
            only: list[str] | None = None, progress=None, redact: bool = True) -> FactBase:
    """Every collector's facts; secrets in them masked unless `redact` is False (--no-redact)."""
    base = FactBase(meta={
        "source": {"kind": source.kind, "description": source.description},
        "collected_at": time.time(), "hostmedic": tool_version(),
        "collected_by": socket.gethostname(), "rule_pack": pack.version,
    })
    for problem in getattr(source, "problems", []):
        base.status("source", "failed", detail=problem, hint="the rest of the report was read")
    ctx = Context(source=source, facts=base, options=options or Options(),
                  interesting=prefilter(pack.symptom_patterns()))
    run_all(ctx, only, progress)
    base.meta["hostname"] = _hostname(base)
    if redact:
        redact_base(base)
    return base


def _hostname(base: FactBase) -> str:
    for fact in base.of_kind("host"):
        if fact.fields.get("hostname"):
            return fact.fields["hostname"]
    for fact in base.of_kind("log"):
        if fact.fields.get("host") and not fact.fields.get("domain"):
            return fact.fields["host"]
    return "unknown"


@dataclass
class Analysis:
    base: FactBase
    findings: list[Finding]
    symptoms: list[Fact] = field(default_factory=list)
    suppressed: list[tuple[Finding, str]] = field(default_factory=list)  # (finding, reason)

    def suppress(self, config) -> None:
        """Move the findings the user's configuration suppresses out of the report."""
        host = self.base.meta.get("hostname", "")
        kept = []
        for finding in self.findings:
            rule = config.suppressed(finding.rule, host)
            if rule is None:
                kept.append(finding)
            else:
                self.suppressed.append((finding, rule.reason or f"suppressed in {config.path}"))
        self.findings = kept

    @property
    def statuses(self) -> list[Fact]:
        return list(self.base.of_kind("collector_status"))

    @property
    def worst(self) -> str | None:
        return self.findings[0].severity if self.findings else None


def analyse(base: FactBase, pack: RulePack, only: list[str] | None = None,
            redact: bool = True) -> Analysis:
    """Findings of every rule (or only the named ones; symptoms always come from the
    whole pack, since rules share symptom kinds). Secrets are masked first (a no-op on a
    redacted base), so a snapshot saved with --no-redact still gives a redacted report."""
    if redact and "redacted" not in base.meta:  # set once a base has been through redact_base
        redact_base(base)
    symptoms = extract_symptoms(base, pack.symptom_patterns())
    next_id = max((f.id for f in base.facts), default=0) + 1
    for offset, fact in enumerate(symptoms):
        fact.id = next_id + offset
    facts = [f for f in base.facts if f.kind != "log"] + symptoms
    findings: list[Finding] = []
    for rule in pack.rules:
        if only and rule.id not in only:
            continue
        matches = match_rule(rule, facts)
        if matches:
            findings += build_findings(rule, matches, facts, remediations.plan)
    return Analysis(base=base, findings=rank_and_group(findings), symptoms=symptoms)
