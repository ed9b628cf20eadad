"""The report formats on the example incidents: HTML, Markdown and Prometheus say what the
findings say, for every case in tests/data/sosreports and the bundled example; the CLI
writes them where asked, with mode 0600."""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import CASES, EXAMPLE, REPO, analyse, case_tree
from hostmedic.engine.findings import SEVERITY_ORDER, evidence_text
from hostmedic.reports import html_report, markdown_report, prometheus_report, view

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "area", "base", "col", "source"}
SVG_EMPTY = {"rect", "line", "circle", "path", "polyline", "polygon"}


class TagBalance(HTMLParser):
    """Every element closed in order: a stray `<` from a host would unbalance it."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def parse_html(text: str) -> TagBalance:
    parser = TagBalance()
    parser.feed(text)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, parser.stack
    return parser


def all_findings(findings):
    for f in findings:
        yield f
        yield from all_findings(f.explains)


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=180, env=env)


@pytest.fixture(scope="module", params=[EXAMPLE, *CASES], ids=lambda p: p.name)
def case(request):
    tree = case_tree(request.param)
    expected = {}
    if (request.param / "expected.yaml").exists():
        expected = yaml.safe_load((request.param / "expected.yaml").read_text()) or {}
    return request.param.name, analyse(tree, command_line=f"diagnose --sosreport {tree}"), expected


def test_html_report_says_what_the_findings_say(case):
    name, analysis, expected = case
    page = html_report.render(analysis, f"diagnose --sosreport {name} --report r.html", now=1732180000.0)
    parsed = parse_html(page)
    esc = lambda s: html.escape(str(s), quote=True)  # noqa: E731 (Jinja's escaping, quotes as &#34;/&#39;)
    norm = lambda s: s.replace("&#x27;", "&#39;").replace("&quot;", "&#34;")  # noqa: E731
    host = analysis.base.meta["hostname"]
    assert norm(esc(host)) in page
    verdict = page[page.index('<header class="verdict'):page.index("</header>", page.index('<header class="verdict'))]
    if analysis.findings:
        lead = analysis.findings[0]
        assert view.SEVERITY_LABEL[lead.severity] in verdict
        assert norm(esc(lead.summary)) in verdict
    else:
        assert "No problem found" in verdict and ">OK<" in verdict
    role, _label, _why = view.host_role(analysis.base)
    if list(analysis.base.of_kind("domain")):  # libvirt domains: a KVM host, whatever else
        assert role == "host" and "KVM host" in verdict
    if expected.get("role") == "guest":
        assert role in ("guest", "unknown") and "KVM host" not in verdict
    elif expected.get("role") == "host":
        assert role != "guest"
    for f in all_findings(analysis.findings):
        assert f'<span class="rule-id">{f.rule}</span>' in page
        assert norm(esc(f.title)) in page and norm(esc(f.summary)) in page
        for fact in f.evidence:
            text = evidence_text(fact)
            span = fact.fields.get("match")
            if span:  # the matched part is highlighted
                assert f"<mark>{norm(esc(text[span[0]:span[1]]))}</mark>" in page
            else:
                assert norm(esc(text)) in page
        for st in f.steps + [s for r in f.remediations for s in r.get("steps", [])]:
            if st.get("command"):
                assert f"<pre><code>{norm(esc(st['command']))}</code></pre>" in page
        for ref in f.references:
            if ref.startswith(("http://", "https://")):
                assert f'<a href="{norm(esc(ref))}"' in page
    for ident in expected.get("expect") or []:
        if any(f.rule == ident for f in all_findings(analysis.findings)):
            assert f'<span class="rule-id">{ident}</span>' in page
    rows = page[page.index('id="collectors"'):]
    assert rows.count("<tr class=\"st-") == len(analysis.statuses)
    assert norm(esc(f"diagnose --sosreport {name} --report r.html")) in page
    assert norm(esc(analysis.base.meta["rule_pack_used"])) in page
    # self-contained: no URL the browser would fetch
    for tag, attrs in parsed.tags:
        assert not attrs.get("src"), (tag, attrs)
        if tag == "link":
            pytest.fail(f"external stylesheet or icon: {attrs}")
    assert "@import" not in page and "url(" not in page


def test_markdown_report_has_verdict_findings_commands_and_problems(case):
    name, analysis, _expected = case
    text = markdown_report.render(analysis, f"diagnose --sosreport {name} --format markdown")
    lines = text.splitlines()
    label = view.SEVERITY_LABEL[analysis.worst] if analysis.worst else "OK"
    assert lines[0].startswith(f"# {label}: ")
    assert f"`diagnose --sosreport {name} --format markdown`" in text
    for i, f in enumerate(analysis.findings, 1):
        assert any(line.startswith(f"## {i}. {view.SEVERITY_LABEL[f.severity]}: ") and f"`{f.rule}`" in line
                   for line in lines)
        for st in f.steps + [s for r in f.remediations for s in r.get("steps", [])]:
            if st.get("command"):
                assert re.search(r"^ +```sh\n +" + re.escape(st["command"]) + r"\n +```$", text, re.M), st["command"]
    for f in analysis.findings:  # the generic findings under a lead are named, not repeated
        for fact in f.evidence:
            if fact.fields.get("log_id") is not None:
                assert evidence_text(fact) in text  # in a code block, as it was
        for sub in f.explains:
            assert f"`{sub.rule}`" in text
    loud = [r for r in view.status_rows(analysis.statuses) if r.loud]
    assert ("## Collector problems" in text) == bool(loud)
    assert text.count("```") % 2 == 0  # every fence closed


def test_prometheus_report_is_valid_exposition_with_one_series_per_finding(case):
    name, analysis, _expected = case
    text = prometheus_report.render(analysis, now=1732180000.5)
    families = {fam.name: fam for fam in text_string_to_metric_families(text)}
    for metric in ("hostmedic_finding", "hostmedic_collector_status", "hostmedic_worst_severity",
                   "hostmedic_last_run_timestamp_seconds"):
        assert f"# HELP {metric} " in text and f"# TYPE {metric} gauge" in text
        assert metric in families
    host = analysis.base.meta["hostname"]
    findings = families["hostmedic_finding"].samples
    assert sum(s.value for s in findings) == len(list(all_findings(analysis.findings)))
    assert len({tuple(sorted(s.labels.items())) for s in findings}) == len(findings)  # no duplicate series
    for f in analysis.findings:
        assert any(s.labels == {"rule": f.rule, "severity": f.severity, "host": host, "explained_by": ""}
                   for s in findings)
    statuses = families["hostmedic_collector_status"].samples
    assert sum(s.value for s in statuses) == len(analysis.statuses)
    assert {(s.labels["collector"], s.labels["status"]) for s in statuses} == \
        {(st.fields["collector"], st.fields["status"]) for st in analysis.statuses}
    worst = families["hostmedic_worst_severity"].samples[0].value
    assert worst == (SEVERITY_ORDER[analysis.worst] if analysis.worst else 0)
    assert families["hostmedic_last_run_timestamp_seconds"].samples[0].value == 1732180000.5


def test_cli_writes_html_report_besides_the_terminal_output(tmp_path):
    out = tmp_path / "incident.html"
    r = cli("--sosreport", EXAMPLE, "--report", out)
    assert r.returncode == 2, r.stderr
    assert "nfs-mount-hang" in r.stdout  # the terminal report is still printed
    assert f"report written to {out}" in r.stderr
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "nfs-mount-hang" in page
    assert html.escape(f"diagnose --sosreport {EXAMPLE} --report {out}", quote=True).replace("&#x27;", "&#39;") in page


@pytest.mark.parametrize("fmt, marker", [("html", "<!DOCTYPE html>"), ("markdown", "# ERROR: git-mirror1"),
                                         ("prometheus", "# HELP hostmedic_finding ")])
def test_cli_formats_to_stdout_and_to_a_private_file(fmt, marker, tmp_path):
    r = cli("--sosreport", EXAMPLE, "--format", fmt)
    assert r.returncode == 2, r.stderr
    assert r.stdout.startswith(marker)
    out = tmp_path / f"report.{fmt}"
    r = cli("--sosreport", EXAMPLE, "--format", fmt, "-o", out)
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert out.read_text().startswith(marker)
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".hostmedic-")]  # no temp file left


def test_cli_refuses_a_report_path_in_a_missing_folder_before_collecting(tmp_path):
    r = cli("--sosreport", EXAMPLE, "--report", tmp_path / "nope" / "r.html")
    assert r.returncode == 3
    assert "its folder does not exist" in r.stderr and "Traceback" not in r.stderr


def test_a_healthy_host_shows_its_last_reboot_and_no_resource_charts_without_data():
    healthy = next(c for c in CASES if c.name == "healthy-debian12-guest")
    analysis = analyse(case_tree(healthy))
    assert not analysis.findings
    page = html_report.render(analysis)
    assert "No problem found" in page
    assert 'id="timeline"' in page and "lane-finding" not in page  # the last reboot, nothing else
    assert 'id="resources"' not in page  # no sysstat, no pressure files in that tree
