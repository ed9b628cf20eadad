"""Terminal text: readable in ten seconds at 3 a.m.

Findings worst first, each with its explanation, the evidence lines, and the
proposed fix commands; what could not be read comes last.
"""
from __future__ import annotations

import time

from hostmedic.engine.findings import Finding, evidence_text

_LABEL = {"critical": "CRITICAL", "error": "ERROR", "warning": "WARNING", "info": "INFO"}
MAX_EVIDENCE = 8


def _when(t) -> str:
    return time.strftime("%b %d %H:%M:%S", time.gmtime(t)) if isinstance(t, (int, float)) else "-"


def _finding(f: Finding, indent: str = "") -> list[str]:
    out = [f"{indent}{_LABEL[f.severity]:<8} {f.rule}: {f.summary}  [confidence: {f.confidence}]"]
    for line in f.explanation.splitlines():
        out.append(f"{indent}  {line}")
    out.append(f"{indent}  Evidence:")
    for fact in f.evidence[:MAX_EVIDENCE]:
        where = fact.source.describe()
        dom = f"[{fact.fields['domain']}] " if fact.fields.get("domain") else ""
        out.append(f"{indent}    {_when(fact.fields.get('t'))}  {dom}{evidence_text(fact)}   ({where})")
    if len(f.evidence) > MAX_EVIDENCE:
        out.append(f"{indent}    ... and {len(f.evidence) - MAX_EVIDENCE} more (see --format json)")
    n = 0
    if f.steps:
        out.append(f"{indent}  What to do:")
        for st in f.steps:
            n += 1
            out.append(f"{indent}    {n}. {st['say']}")
            if st.get("command"):
                out.append(f"{indent}         {st['command']}")
    if f.remediations:
        out.append(f"{indent}  Fix (proposed; nothing was changed):")
        for rem in f.remediations:
            out.append(f"{indent}    {rem['title']}  [{rem.get('scope', '?')}, risk: {rem.get('risk', '?')}]")
            for st in rem.get("steps", []):
                n += 1
                out.append(f"{indent}      {n}. {st['say']}")
                if st.get("command"):
                    out.append(f"{indent}           {st['command']}")
    for sub in f.explains:
        out.append(f"{indent}  Explains: {sub.rule} ({sub.severity}): {sub.summary}")
    return out


def render(analysis, command_line: str = "") -> str:
    base = analysis.base
    meta = base.meta
    findings = analysis.findings
    head = f"hostmedic: {meta.get('hostname', 'unknown host')} ({meta.get('source', {}).get('description', '')})"
    if findings:
        head += f": {len(findings)} finding(s), worst {_LABEL[findings[0].severity]}"
    else:
        head += ": no problem found"
    out = [head, ""]
    for f in findings:
        out += _finding(f)
        out.append("")
    for finding, reason in analysis.suppressed:
        out.append(f"Suppressed: {finding.rule} ({finding.severity}): {reason}")
    # Something absent or not applicable (no SMART in a guest, a file sos did not collect)
    # did not fail: one line for those, the problems in full.
    quiet = ("ok", "absent", "not applicable")

    def loud(s) -> bool:  # without the journal the diagnosis is half blind: always say so
        return s.fields.get("status") not in quiet or \
            (s.fields.get("collector") == "journal" and s.fields.get("status") == "absent")

    problems = [s for s in analysis.statuses if loud(s)]
    if problems:
        out.append("Could not read (the diagnosis went on without it):")
        for s in problems:
            fl = s.fields
            what = f" ({fl['what']})" if fl.get("what") else ""
            out.append(f"  {fl['collector']}{what}: {fl['status']}: {fl.get('detail', '')}")
            if fl.get("hint"):
                out.append(f"      -> {fl['hint']}")
    missing = [s.fields for s in analysis.statuses if s.fields.get("status") in quiet[1:] and not loud(s)]
    if missing:
        names = ", ".join(f"{m['collector']} ({m.get('what') or m['status']})" for m in missing)
        out.append(f"Not present here ({len(missing)}; hints in --format json): {names}")
    out.append(f"rule pack: {meta.get('rule_pack_used', meta.get('rule_pack', '?'))}")
    return "\n".join(out) + "\n"
