"""The fleet report as one self-contained HTML page (no script; inline CSS allowed by hash).

It lists the hosts worst first with a link to each host's own runbook, which rule
fired on how many hosts, and the hosts that could not be diagnosed with the reason.
"""
from __future__ import annotations

import time

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from hostmedic.reports import view
from hostmedic.reports.html_report import TEMPLATES, _csp_hash, _static

_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)


def render(doc: dict) -> str:
    css = _static("fleet.css")
    csp = (f"default-src 'none'; style-src {_csp_hash(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    links = {h["name"]: h["report"] for h in doc["hosts"]}
    return _ENV.get_template("fleet.html.j2").render(
        doc=doc, css=Markup(css), csp=csp, labels={**view.SEVERITY_LABEL, "failed": "FAILED"},
        links=links, generated=view.when(doc.get("generated") or time.time()))
