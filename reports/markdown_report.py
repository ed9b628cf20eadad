"""Markdown for tickets and chat: the verdict, each finding with its evidence in code
blocks and its commands, and what could not be read.

Host text is escaped for Markdown: outside code it is backslash-escaped (so a log line
cannot open a link, a table cell, raw HTML or emphasis), inside code it sits in a fence
longer than any run of backticks it holds.
"""
from __future__ import annotations

import re

from hostmedic.reports import view

# Characters that open emphasis, code, links, raw HTML, tables or strike-through anywhere
# in a line; the ones that only matter at the start of a line are handled there.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_LINE_START = re.compile(r"^([-+=#]|\d+(?=[.)]))")


def md(text: object, line_start: bool = False) -> str:
    """Plain text on one line, every Markdown-active character escaped (and, for text that
    starts a line, what would make it a heading, list item or quote)."""
    one = _SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(text)))
    if line_start:
        one = _LINE_START.sub(lambda m: m.group(1) + "\\" if m.group(1)[0].isdigit() else "\\" + m.group(1), one)
    return one


def code(text: object) -> str:
    """An inline code span that no backtick inside can close."""
    s = " ".join(str(text).split())
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    tick = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{tick}{pad}{s}{pad}{tick}"


def fence(lines: list[str], lang: str = "", indent: str = "") -> list[str]:
    body = "\n".join(lines)
    run = max((len(m) for m in re.findall(r"`{3,}", body)), default=0)
    mark = "`" * max(3, run + 1)
    return [f"{indent}{mark}{lang}"] + [f"{indent}{line}" for line in body.splitlines() or [""]] + [f"{indent}{mark}"]


def rich(parts: list[tuple[bool, str]], line_start: bool = False) -> str:
    """Rule text with its `quoted` parts as code spans."""
    return "".join(code(t) if is_code else md(t, line_start and i == 0) for i, (is_code, t) in enumerate(parts))


def _steps(steps: list[view.Step]) -> list[str]:
    out = []
    for st in steps:
        lead = f"{st.number}. "
        out.append(lead + rich(st.say))
        if st.command:
            out += fence([st.command], "sh", " " * len(lead))
    return out


def _finding(f: view.FindingView) -> list[str]:
    out = [f"## {f.number}. {f.label}: {md(f.title)} ({code(f.rule)})", "", f"**{md(f.summary)}**", ""]
    for b in f.blocks:
        if b["kind"] == "list":
            out += [f"- {rich(item)}" for item in b["items"]]
        else:
            out.append(rich(b["parts"], line_start=True))
        out.append("")
    how = f"Confidence: **{md(f.confidence)}**"
    if f.matched:
        how += "; the rule matched: " + "; ".join(md(m) for m in f.matched)
    out += [how, ""]
    if f.evidence:
        out += ["**Evidence**", ""]
        out += fence([f"{e.time or '-':<23}  {e.text}   [{e.where}]" + (f" (domain {e.domain})" if e.domain else "")
                      for e in f.evidence], "text")
        if f.evidence_more:
            out.append(f"… and {f.evidence_more} more lines (see `--format json`)")
        out.append("")
    if f.joined:
        out += ["**Facts joined to the evidence**", ""]
        out += fence([f"{j.kind}: {j.text}   [{j.where}]" for j in f.joined], "text")
        out.append("")
    if f.steps or f.plans:
        out += ["**What to do** (proposed; nothing was changed)", ""]
        if f.steps:
            out += _steps(f.steps) + [""]
        for plan in f.plans:
            rev = {True: "reversible", False: "not reversible"}.get(plan.reversible, "reversibility unknown")
            out += [f"*{md(plan.title)}*: risk **{md(plan.risk)}**, scope {md(plan.scope)}, {rev} ({code(plan.id)})", ""]
            out += _steps(plan.steps) + [""]
    if f.references:
        out += ["**References**", ""]
        out += [f"- <{href}>" if href else f"- {code(text)}" for text, href in f.references]
        out.append("")
    if f.explains:
        out += ["**Also explains**", ""]
        out += [f"- {sub.label}: {code(sub.rule)}: {md(sub.summary)}" for sub in f.explains]
        out.append("")
    return out


def _cell(text: str) -> str:
    return md(text) or " "


def render(analysis, command_line: str = "") -> str:
    findings = view.findings(analysis)
    v = view.verdict(analysis, findings, command_line)
    out = [f"# {v.worst_label}: {md(v.host)} ({md(v.role_text)})", "", f"**{md(v.lead)}**", ""]
    if v.incident_start is not None:
        span = f" → {view.clock(v.incident_end)} ({v.incident_length})" if v.incident_end != v.incident_start else ""
        out.append(f"- Incident: {view.when(v.incident_start)}{span}")
    if v.window_start is not None:
        out.append(f"- Logs read: {view.minute(v.window_start)} → {view.minute(v.window_end)} UTC; boots analysed: "
                   f"{', '.join(str(b) for b in v.boots)}")
    out.append(f"- Findings: {v.raised} at warning or above" +
               (f", {v.findings - v.raised} for information" if v.findings != v.raised else ""))
    out.append(f"- Source: {md(v.source)}")
    out.append(f"- Rule pack: {md(v.rule_pack)}; hostmedic {md(v.tool_version or 'unknown')}")
    if command_line:
        out.append(f"- Reproduce: {code(command_line)}")
    out.append("")
    for f in findings:
        out += _finding(f)
    for finding, reason in analysis.suppressed:
        out.append(f"- Suppressed: {code(finding.rule)} ({md(finding.severity)}): {md(reason)}")
    if analysis.suppressed:
        out.append("")
    rows = view.status_rows(analysis.statuses)
    loud = [r for r in rows if r.loud]
    if loud:
        out += ["## Collector problems (the diagnosis went on without them)", "",
                "| collector | status | what | detail | what to do |", "|---|---|---|---|---|"]
        out += [f"| {_cell(r.collector)} | {_cell(r.status)} | {_cell(r.what)} | {_cell(r.detail)} | {_cell(r.hint)} |"
                for r in loud]
        out.append("")
    quiet = [r for r in rows if not r.loud and r.status != "ok"]
    if quiet:
        out += ["Not present here: " + ", ".join(f"{code(r.collector)} ({code(r.what or r.status)})" for r in quiet), ""]
    return "\n".join(out).rstrip("\n") + "\n"
