"""The HTML runbook: one self-contained file to read instead of the logs.

Inline CSS, JavaScript and SVG only: no network, no CDN, no web font, so it opens the
same on an air-gapped laptop, a phone and on paper. Jinja2 escapes every value
(autoescape), and a Content-Security-Policy allows only this file's own style and
script (by hash): a log line that holds markup shows as text and could not run even if
it slipped through.
"""
from __future__ import annotations

import base64
import hashlib
import os
import time

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from hostmedic.reports import charts, timeline, view

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update(when=view.when, clock=view.clock, minute=view.minute)


def _static(name: str) -> str:
    with open(os.path.join(TEMPLATES, name), encoding="utf-8") as fh:
        return fh.read()


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def context(analysis, command_line: str = "", now: float | None = None) -> dict:
    findings = view.findings(analysis)
    verdict = view.verdict(analysis, findings, command_line)
    incident = (verdict.incident_start, verdict.incident_end) if verdict.incident_start is not None else None
    css, js = _static("report.css"), _static("report.js")
    csp = (f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return {
        "v": verdict, "findings": findings, "timeline": timeline.build(analysis.base, findings),
        "cards": charts.cards(analysis.base, incident), "statuses": view.status_rows(analysis.statuses),
        "suppressed": [(f.rule, f.severity, f.summary, reason) for f, reason in analysis.suppressed],
        "generated": view.when(now if now is not None else time.time()),
        "css": Markup(css), "js": Markup(js), "csp": csp, "labels": view.SEVERITY_LABEL,
    }


def render(analysis, command_line: str = "", now: float | None = None) -> str:
    return _ENV.get_template("report.html.j2").render(**context(analysis, command_line, now))
