"""Prometheus text exposition, for node_exporter's textfile collector.

    diagnose --format prometheus -o /var/lib/prometheus/node-exporter/hostmedic.prom

One series per finding (rule, severity, host; the generic findings a specific one explains
too, with `explained_by`), the collector status, the worst severity as a number and the
time of the run. Findings of one rule in several boots share one series whose value is
their count, since a series may appear only once. Label values are escaped as the
exposition format says (backslash, double quote, newline).
"""
from __future__ import annotations

import time
from collections import Counter

from hostmedic.engine.findings import SEVERITY_ORDER


def label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float | int) -> str:
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    return str(int(value))


def _series(name: str, labels: dict[str, object], value: float | int) -> str:
    inner = ",".join(f'{k}="{label(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}"


def render(analysis, command_line: str = "", now: float | None = None) -> str:
    host = analysis.base.meta.get("hostname") or "unknown"
    out: list[str] = []

    def metric(name: str, kind: str, help_text: str, rows: list[tuple[dict, float]]) -> None:
        out.append(f"# HELP {name} {_help(help_text)}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(_series(name, labels, value) for labels, value in rows)

    findings: Counter = Counter()
    for lead in analysis.findings:
        findings[(lead.rule, lead.severity, "")] += 1
        for sub in lead.explains:
            findings[(sub.rule, sub.severity, lead.rule)] += 1
    metric("hostmedic_finding", "gauge",
           "Findings of the last diagnosis by rule and severity (value: how many, e.g. one per boot); "
           "explained_by names the specific finding that accounts for a generic one.",
           [({"rule": r, "severity": s, "host": host, "explained_by": e}, n)
            for (r, s, e), n in sorted(findings.items())])

    statuses: Counter = Counter()
    for s in analysis.statuses:
        statuses[(s.fields.get("collector", "?"), s.fields.get("status", "?"))] += 1
    metric("hostmedic_collector_status", "gauge",
           "Reads of the last diagnosis by collector and status (ok, absent, not applicable, missing, denied, "
           "failed, timeout); value: how many reads.",
           [({"collector": c, "status": st, "host": host}, n) for (c, st), n in sorted(statuses.items())])

    worst = analysis.worst
    metric("hostmedic_worst_severity", "gauge",
           "Worst severity found: 0 none, 1 info, 2 warning, 3 error, 4 critical.",
           [({"host": host}, SEVERITY_ORDER.get(worst, 0) if worst else 0)])
    metric("hostmedic_findings", "gauge", "Findings of the last diagnosis at warning or above (leading ones).",
           [({"host": host}, sum(1 for f in analysis.findings if SEVERITY_ORDER[f.severity] >= 2))])
    meta = analysis.base.meta
    metric("hostmedic_info", "gauge", "The hostmedic version and rule pack of the last run.",
           [({"host": host, "version": meta.get("hostmedic", "unknown"),
              "rule_pack": meta.get("rule_pack_used", meta.get("rule_pack", "unknown"))}, 1)])
    metric("hostmedic_last_run_timestamp_seconds", "gauge", "When the last diagnosis ran (Unix time).",
           [({"host": host}, round(now if now is not None else time.time(), 3))])
    return "\n".join(out) + "\n"
