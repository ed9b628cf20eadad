"""What a report shows, worked out once for every format.

The verdict (host, its role, the time window, the worst severity, the leading cause),
each finding with its evidence split around the part a pattern matched, its steps
numbered, its references checked before they become links, and the collector status
sorted problems first. Renderers only lay this out; every string in it is still raw
host text, which each renderer escapes for its own format.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hostmedic.engine.facts import Fact
from hostmedic.engine.findings import Finding, duration, evidence_text

MAX_EVIDENCE = 200  # per finding; the JSON report has them all
SEVERITY_LABEL = {"critical": "CRITICAL", "error": "ERROR", "warning": "WARNING", "info": "INFO"}
SEVERITY_RANK = {"critical": 4, "error": 3, "warning": 2, "info": 1}
# Status order in the collector table: what went wrong first, what was read last.
STATUS_ORDER = {"failed": 0, "timeout": 1, "denied": 2, "missing": 3, "absent": 4, "not applicable": 5, "ok": 6}
QUIET = ("ok", "absent", "not applicable")
# DMI strings of hypervisors' virtual hardware (sos copies /sys/class/dmi/id; it never runs
# systemd-detect-virt).
_VIRTUAL_DMI = re.compile(r"QEMU|KVM|VMware|VirtualBox|Xen|Bochs|Microsoft Corporation|Amazon EC2|"
                          r"Google Compute Engine|OpenStack|oVirt|RHEV|Parallels", re.I)


def when(t: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if isinstance(t, (int, float)) else ""


def minute(t: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if isinstance(t, (int, float)) else ""


def clock(t: Any) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t)) if isinstance(t, (int, float)) else ""


def safe_url(ref: str) -> str | None:
    """The reference as a link target, only for http(s) URLs with a host."""
    try:
        parts = urlsplit(ref.strip())
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc and not re.search(r"[\s\"'<>`]", ref.strip()):
        return ref.strip()
    return None


def inline(text: str) -> list[tuple[bool, str]]:
    """Text split at `backticks` into (is_code, part): rule authors quote commands that way."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: leave the text alone
        return [(False, str(text))]
    return [(i % 2 == 1, p) for i, p in enumerate(parts) if p]


def blocks(text: str) -> list[dict[str, Any]]:
    """An explanation as paragraphs and bullet lists ("- " lines)."""
    out: list[dict[str, Any]] = []
    for line in str(text).splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(("- ", "* ")):
            if not out or out[-1]["kind"] != "list":
                out.append({"kind": "list", "items": []})
            out[-1]["items"].append(inline(line[2:]))
        else:
            out.append({"kind": "para", "parts": inline(line)})
    return out


@dataclass
class Evidence:
    text: str
    pre: str
    hit: str
    post: str
    t: float | None
    time: str
    boot: Any
    domain: str | None
    kind: str
    where: str  # file or command, and line
    origin: str


@dataclass
class Joined:
    kind: str
    text: str
    where: str


@dataclass
class Step:
    number: int
    say: list[tuple[bool, str]]
    say_text: str
    command: str | None


@dataclass
class Plan:
    id: str
    title: str
    scope: str
    risk: str
    reversible: Any
    steps: list[Step]


@dataclass
class FindingView:
    anchor: str
    number: str
    rule: str
    title: str
    severity: str
    confidence: str
    scope: str
    summary: str
    explanation: str
    blocks: list[dict[str, Any]]
    matched: list[str]
    evidence: list[Evidence]
    evidence_more: int
    joined: list[Joined]
    steps: list[Step]
    plans: list[Plan]
    references: list[tuple[str, str | None]]  # (text, safe link or None)
    explains: list["FindingView"] = field(default_factory=list)

    @property
    def label(self) -> str:
        return SEVERITY_LABEL.get(self.severity, self.severity.upper())


def _evidence(fact: Fact) -> Evidence:
    text = evidence_text(fact)
    f = fact.fields
    pre, hit, post = text, "", ""
    span = f.get("match")
    if isinstance(span, (list, tuple)) and len(span) == 2 and all(isinstance(x, int) for x in span) \
            and 0 <= span[0] < span[1] <= len(text):
        pre, hit, post = text[:span[0]], text[span[0]:span[1]], text[span[1]:]
    t = f.get("t") if isinstance(f.get("t"), (int, float)) else None
    return Evidence(text=text, pre=pre, hit=hit, post=post, t=t, time=when(t), boot=f.get("boot"),
                    domain=f.get("domain"), kind=fact.kind, where=fact.source.describe(),
                    origin=fact.source.origin)


def is_log_evidence(fact: Fact) -> bool:
    """A symptom read from a log line (it has the line), not a fact joined to it."""
    return fact.fields.get("log_id") is not None or "match" in fact.fields


def finding_view(f: Finding, number: str) -> FindingView:
    logs = [fact for fact in f.evidence if is_log_evidence(fact)]
    joined = [Joined(fact.kind, evidence_text(fact), fact.source.describe())
              for fact in f.evidence if not is_log_evidence(fact)]
    n = 0
    steps = []
    for st in f.steps:
        n += 1
        steps.append(Step(n, inline(st.get("say", "")), st.get("say", ""), st.get("command") or None))
    plans = []
    for rem in f.remediations:
        plan_steps = []
        for st in rem.get("steps", []):
            n += 1
            plan_steps.append(Step(n, inline(st.get("say", "")), st.get("say", ""), st.get("command") or None))
        plans.append(Plan(str(rem.get("id", "")), str(rem.get("title", "")), str(rem.get("scope", "?")),
                          str(rem.get("risk", "unknown")), rem.get("reversible"), plan_steps))
    view = FindingView(
        anchor=f"finding-{number.replace('.', '-')}", number=number, rule=f.rule, title=f.title,
        severity=f.severity, confidence=f.confidence, scope=f.scope, summary=f.summary,
        explanation=f.explanation, blocks=blocks(f.explanation),
        matched=list(dict.fromkeys(m.name for m in f.matches if getattr(m, "name", None))),
        evidence=[_evidence(fact) for fact in logs[:MAX_EVIDENCE]],
        evidence_more=max(0, len(logs) - MAX_EVIDENCE), joined=joined, steps=steps, plans=plans,
        references=[(str(r), safe_url(str(r))) for r in f.references])
    view.explains = [finding_view(sub, f"{number}.{i}") for i, sub in enumerate(f.explains, 1)]
    return view


@dataclass
class StatusRow:
    collector: str
    what: str
    status: str
    detail: str
    hint: str
    loud: bool  # a problem the reader must see (not merely absent here)

    @property
    def detail_parts(self) -> list[tuple[bool, str]]:
        return inline(self.detail)

    @property
    def hint_parts(self) -> list[tuple[bool, str]]:
        return inline(self.hint)


def status_rows(statuses: list[Fact]) -> list[StatusRow]:
    rows = []
    for s in statuses:
        fl = s.fields
        status = str(fl.get("status", "?"))
        # without the journal the diagnosis is half blind: always say so
        loud = status not in QUIET or (fl.get("collector") == "journal" and status == "absent")
        rows.append(StatusRow(str(fl.get("collector", "?")), str(fl.get("what") or ""), status,
                              str(fl.get("detail") or ""), str(fl.get("hint") or ""), loud))
    rows.sort(key=lambda r: (not r.loud, STATUS_ORDER.get(r.status, 0), r.collector))
    return rows


def host_role(base) -> tuple[str, str, str]:
    """("host"|"guest"|"physical"|"unknown", a short label, why we think so)."""
    domains = list(base.of_kind("domain"))
    if domains:
        return "host", "KVM host", f"{len(domains)} libvirt domain(s) found"
    host = next(iter(base.of_kind("host")), None)
    fields = host.fields if host else {}
    virt = str(fields.get("virt") or "")
    if virt and virt != "none":
        return "guest", f"{virt} guest", f"systemd-detect-virt says {virt}"
    dmi = " ".join(str(fields.get(k) or "") for k in ("sys_vendor", "product_name")).strip()
    if dmi and _VIRTUAL_DMI.search(dmi):
        return "guest", "guest", f"virtual hardware: {dmi}"
    if virt == "none":
        return "physical", "physical machine", "systemd-detect-virt says none, and no libvirt domains"
    return "unknown", "role unknown", "no virtualisation facts and no libvirt domains in what was read"


@dataclass
class Verdict:
    host: str
    role: str
    role_text: str
    role_why: str
    worst: str | None
    worst_label: str
    lead: str
    lead_anchor: str
    source: str
    window_start: float | None
    window_end: float | None
    boots: list
    incident_start: float | None
    incident_end: float | None
    findings: int
    raised: int  # at warning or above
    rule_pack: str
    tool_version: str
    collected_at: float | None
    command_line: str

    @property
    def incident_length(self) -> str:
        if self.incident_start is None or self.incident_end is None:
            return ""
        return duration(self.incident_end - self.incident_start)


def _times(views: list[FindingView]) -> list[float]:
    out = []
    for v in views:
        out += [e.t for e in v.evidence if e.t is not None]
        out += _times(v.explains)
    return out


def verdict(analysis, views: list[FindingView], command_line: str) -> Verdict:
    base = analysis.base
    meta = base.meta
    boots = [b.fields for b in base.of_kind("boot")]
    span = [t for b in boots for t in (b.get("first_t"), b.get("last_t")) if isinstance(t, (int, float))]
    incident = _times(views)
    role, role_text, role_why = host_role(base)
    worst = analysis.worst
    lead = views[0].summary if views else "No problem found at warning or above."
    if views and views[0].severity == "info":
        lead = f"Nothing at warning or above; for information: {views[0].summary}"
    return Verdict(
        host=str(meta.get("hostname") or "unknown host"), role=role, role_text=role_text, role_why=role_why,
        worst=worst,
        worst_label=SEVERITY_LABEL.get(worst, "OK") if worst else "OK", lead=lead,
        lead_anchor=views[0].anchor if views else "",
        source=str((meta.get("source") or {}).get("description", "")),
        window_start=min(span) if span else None, window_end=max(span) if span else None,
        boots=sorted({b.get("boot") for b in boots if b.get("boot") is not None}),
        incident_start=min(incident) if incident else None, incident_end=max(incident) if incident else None,
        findings=len(views), raised=sum(1 for v in views if v.severity != "info"),
        rule_pack=str(meta.get("rule_pack_used", meta.get("rule_pack", "?"))),
        tool_version=str(meta.get("hostmedic", "")), collected_at=meta.get("collected_at"),
        command_line=command_line)


def findings(analysis) -> list[FindingView]:
    return [finding_view(f, str(i)) for i, f in enumerate(analysis.findings, 1)]
