"""The JSON document: host, time window, collector status and findings."""
from __future__ import annotations

import json


def document(analysis, command_line: str = "") -> dict:
    base = analysis.base
    boots = [b.fields for b in base.of_kind("boot")]
    times = [t for b in boots for t in (b.get("first_t"), b.get("last_t")) if t is not None]
    return {
        "format": "hostmedic-diagnosis", "version": 1,
        "host": base.meta.get("hostname", "unknown"),
        "source": base.meta.get("source"),
        "window": {"start": min(times) if times else None, "end": max(times) if times else None,
                   "boots": sorted({b.get("boot") for b in boots if b.get("boot") is not None})},
        "worst": analysis.worst,
        "rule_pack": base.meta.get("rule_pack_used", base.meta.get("rule_pack")),
        "command": command_line,
        "collector_status": [s.fields for s in analysis.statuses],
        "findings": [f.to_json() for f in analysis.findings],
        "suppressed": [{"rule": f.rule, "severity": f.severity, "reason": reason}
                       for f, reason in analysis.suppressed],
    }


def render(analysis, command_line: str = "") -> str:
    return json.dumps(document(analysis, command_line), indent=2, sort_keys=False, default=str) + "\n"
