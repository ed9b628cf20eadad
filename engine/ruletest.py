"""Running each rule's own examples: positives must fire the rule, negatives must not.

An example is real log wording (journalctl short text in `log`, console text in
`console`) plus any other facts it needs (`facts`), put through the same
symptom extraction, boot history and matching as a real run.
"""
from __future__ import annotations

from dataclasses import dataclass

from hostmedic.collectors import Context, boots
from hostmedic.collectors.logtext import add_log_line, parse_dmesg_text, parse_syslog_text
from hostmedic.engine.analysis import analyse
from hostmedic.engine.facts import FactBase, Provenance
from hostmedic.engine.rulepack import Rule, RulePack
from hostmedic.engine.sources import Source

# Examples carry no year: read their timestamps as if collected at the end of this one.
EXAMPLE_REFERENCE = 1767225599.0  # 2025-12-31 23:59:59 UTC


@dataclass
class ExampleResult:
    rule: str
    polarity: str  # positive | negative
    name: str
    passed: bool
    fired: list[str]


def example_facts(rule: Rule, example: dict) -> FactBase:
    base = FactBase(meta={"source": {"kind": "example", "description": f"{rule.path}: {example['name']}"}})
    ctx = Context(source=Source(), facts=base, interesting=lambda message: True)
    name = f"{rule.path} example {example['name']!r}"
    for line in parse_syslog_text(example.get("log") or "", EXAMPLE_REFERENCE, "journal"):
        add_log_line(ctx, "journal", line, "example", name)
    for line in parse_dmesg_text(example.get("console") or ""):
        add_log_line(ctx, "console", line, "example", name + " (console)", domain=example.get("domain"))
    for spec in example.get("facts") or []:
        fields = {k: v for k, v in spec.items() if k != "kind"}
        base.add(spec["kind"], fields, Provenance("example", name))
    boots.collect(ctx)
    return base


def _fired(analysis) -> set[str]:
    out = set()
    stack = list(analysis.findings)
    while stack:
        f = stack.pop()
        out.add(f.rule)
        stack += f.explains
    return out


def run_examples(pack: RulePack, only: list[str] | None = None) -> list[ExampleResult]:
    results = []
    for rule in pack.rules:
        if only and rule.id not in only:
            continue
        for polarity in ("positive", "negative"):
            for example in rule.data["examples"].get(polarity) or []:
                fired = _fired(analyse(example_facts(rule, example), pack, only=[rule.id]))
                ok = (rule.id in fired) == (polarity == "positive")
                results.append(ExampleResult(rule.id, polarity, example["name"], ok, sorted(fired)))
    return results
