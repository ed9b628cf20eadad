"""Analyse every host's snapshot here, and write the fleet report.

Beside FLEET.html: FLEET.json (the same, for scripts) and FLEET-hosts/ with each host's
own runbook (HTML) and JSON report, which the fleet report links to. Every file is
written with mode 0600.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

from hostmedic.engine import analysis as flow
from hostmedic.engine.facts import FactBase, SnapshotError, write_private_file
from hostmedic.engine.findings import SEVERITY_ORDER
from hostmedic.fleet.ansible_run import HostRun
from hostmedic.reports import renderer


@dataclass
class HostResult:
    name: str  # inventory name
    hostname: str = ""  # what the host calls itself
    worst: str | None = None  # None: nothing found (or not diagnosed)
    findings: list[dict] = field(default_factory=list)  # leading findings: rule, severity, title, summary
    rules: list[str] = field(default_factory=list)  # every rule that fired, explained ones too
    report: str = ""  # the runbook, relative to the fleet report
    json: str = ""
    problems: int = 0  # collector problems
    reason: str = ""  # why it could not be diagnosed

    @property
    def failed(self) -> bool:
        return bool(self.reason)

    def rank(self) -> tuple:
        return (0 if self.failed else 1, -SEVERITY_ORDER.get(self.worst or "", 0), self.name)


def slug(name: str, taken: set[str]) -> str:
    """A file name for a host: its inventory name made safe, made unique."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "host"
    out, n = base, 2
    while out in taken:
        out, n = f"{base}-{n}", n + 1
    taken.add(out)
    return out


def _all_rules(findings) -> list[str]:
    out: list[str] = []
    for f in findings:
        out += [f.rule] + _all_rules(f.explains)
    return out


def analyse(runs: list[HostRun], pack, config, output: str, command_line: str) -> list[HostResult]:
    """Analyse each snapshot and write each host's HTML and JSON reports next to output."""
    stem = os.path.splitext(os.path.basename(output))[0]
    folder = os.path.join(os.path.dirname(os.path.abspath(output)), f"{stem}-hosts")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    taken: set[str] = set()
    results = []
    for run in runs:
        result = HostResult(run.name, reason=run.reason)
        results.append(result)
        if run.reason or not run.snapshot:
            result.reason = result.reason or f"{run.name}: no snapshot"
            continue
        try:
            base = FactBase.load(run.snapshot)
        except SnapshotError as err:
            result.reason = f"{run.name}: the snapshot that came back is unreadable ({err})"
            continue
        base.meta["rule_pack_used"] = pack.version
        base.meta["inventory_name"] = run.name
        done = flow.analyse(base, pack)
        done.suppress(config)
        name = slug(run.name, taken)
        write_private_file(os.path.join(folder, f"{name}.html"), renderer("html").render(done, command_line))
        write_private_file(os.path.join(folder, f"{name}.json"), renderer("json").render(done, command_line))
        result.hostname = base.meta.get("hostname", "")
        result.worst = done.worst
        result.findings = [{"rule": f.rule, "severity": f.severity, "title": f.title, "summary": f.summary}
                           for f in done.findings]
        result.rules = sorted(set(_all_rules(done.findings)))
        result.report = f"{stem}-hosts/{name}.html"
        result.json = f"{stem}-hosts/{name}.json"
        result.problems = sum(1 for s in done.statuses if s.fields.get("status") != "ok")
    return sorted(results, key=HostResult.rank)


def rule_table(results: list[HostResult], pack) -> list[dict]:
    """Which rule fired on how many hosts, worst first, then the most widespread."""
    rows: dict[str, dict] = {}
    for r in results:
        for rule_id in r.rules:
            rule = pack.get(rule_id)
            row = rows.setdefault(rule_id, {
                "rule": rule_id, "severity": rule.severity if rule else "info",
                "title": rule.title if rule else rule_id, "hosts": []})
            row["hosts"].append(r.name)
    for row in rows.values():
        row["count"] = len(row["hosts"])
    return sorted(rows.values(), key=lambda row: (-SEVERITY_ORDER.get(row["severity"], 0), -row["count"],
                                                  row["rule"]))


def document(results: list[HostResult], rules: list[dict], inventory: str, command_line: str,
             now: float | None = None) -> dict:
    diagnosed = [r for r in results if not r.failed]
    worst = max((r.worst for r in diagnosed if r.worst), key=lambda s: SEVERITY_ORDER.get(s, 0), default=None)
    return {
        "format": "hostmedic-fleet", "version": 1, "generated": now if now is not None else time.time(),
        "inventory": inventory, "command": command_line, "worst": worst,
        "counts": {"hosts": len(results), "diagnosed": len(diagnosed), "failed": len(results) - len(diagnosed),
                   **{sev: sum(1 for r in diagnosed if r.worst == sev) for sev in SEVERITY_ORDER},
                   "clean": sum(1 for r in diagnosed if r.worst is None)},
        "hosts": [{"name": r.name, "hostname": r.hostname, "worst": r.worst, "findings": r.findings,
                   "rules": r.rules, "report": r.report, "json": r.json,
                   "collector_problems": r.problems} for r in diagnosed],
        "rules": rules,
        "failed": [{"name": r.name, "reason": r.reason} for r in results if r.failed],
    }


def text(doc: dict) -> str:
    c = doc["counts"]
    lines = [f"Fleet: {c['hosts']} host(s), {c['diagnosed']} diagnosed, {c['failed']} failed; "
             f"worst: {(doc['worst'] or 'nothing found').upper() if doc['worst'] else 'nothing found'}"]
    if doc["hosts"]:
        lines.append("")
        lines.append("Hosts, worst first:")
        for h in doc["hosts"]:
            leads = ", ".join(f["rule"] for f in h["findings"]) or "no finding"
            lines.append(f"  {(h['worst'] or 'ok').upper():<9} {h['name']:<24} {leads}   -> {h['report']}")
    if doc["rules"]:
        lines.append("")
        lines.append("Rules across the fleet:")
        for row in doc["rules"]:
            lines.append(f"  {row['rule']:<30} {row['severity']:<8} {row['count']} host(s): "
                         + ", ".join(row["hosts"]))
    if doc["failed"]:
        lines.append("")
        lines.append("Not diagnosed:")
        for f in doc["failed"]:
            lines.append(f"  {f['name']}: {f['reason']}")
    return "\n".join(lines) + "\n"
