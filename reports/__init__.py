"""Reports: renderers for findings (text, JSON, HTML, Markdown, Prometheus) and their templates."""
from __future__ import annotations

import importlib

# --format name -> module with render(analysis, command_line) -> str
FORMATS = {"text": "text", "json": "json_report", "html": "html_report", "markdown": "markdown_report",
           "prometheus": "prometheus_report"}


def renderer(name: str):
    return importlib.import_module(f"hostmedic.reports.{FORMATS[name]}")
