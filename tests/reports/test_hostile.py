"""Hostile host text: every string a host writes is shown as text, in every format.

A log line, host name, NFS server name or task name that holds `<script>`, quotes that would
close an attribute, `</style>`, or a reference with a javascript: URL must not become markup,
a link or a broken document. (The browser test runs the same page in Chromium.)
"""
from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from conftest import HOSTILE_HOST, HOSTILE_LINE, HOSTILE_SERVER, HOSTILE_TASK
from hostmedic.reports import html_report, markdown_report, prometheus_report
from hostmedic.reports.view import safe_url
from test_formats import parse_html


def test_html_shows_hostile_strings_as_text(hostile_analysis):
    page = html_report.render(hostile_analysis, "diagnose --sosreport '<b>x</b>'")
    parsed = parse_html(page)  # balanced: nothing a host wrote opened or closed an element
    for raw in (HOSTILE_SERVER, HOSTILE_TASK, HOSTILE_HOST, "<script>window.__pwned=2</script>", "<b>x</b>"):
        assert raw not in page
    assert "storage01&lt;script&gt;window.__pwned=1;alert(1)&lt;/script&gt;" in page
    assert "&lt;/style&gt;&lt;img/src=x/onerror=alert(2)&gt;" in page
    assert "web&#34;&gt;&lt;svg/onload=alert(3)&gt;\\x" in page
    tags = [t for t, _a in parsed.tags]
    assert tags.count("script") == 1 and tags.count("style") == 1  # ours only
    assert "img" not in tags and "textarea" not in tags
    assert not [(t, a) for t, a in parsed.tags if any(k.startswith("on") for k in a)]  # no event handler
    hrefs = [a["href"] for t, a in parsed.tags if t == "a"]
    assert hrefs and all(h.startswith(("https://", "http://", "#")) for h in hrefs), hrefs
    assert "https://example.com/ok" in hrefs
    assert not [h for h in hrefs if "x.example" in h]  # a quote inside the URL: text, not a link
    for shown in ("javascript:alert(4)", " JaVaScRiPt:alert(5)", "data:text/html,&lt;script&gt;alert(6)&lt;/script&gt;"):
        assert f'<span class="unsafe-ref">{shown}</span>' in page


def test_html_content_security_policy_allows_only_its_own_style_and_script(hostile_analysis):
    page = html_report.render(hostile_analysis)
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)[1]
    csp = csp.replace("&#39;", "'")
    assert "default-src 'none'" in csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", csp) and "unsafe-inline" not in csp
    assert 'style="' not in page  # inline style attributes would be blocked: there are none


def test_markdown_escapes_host_text_outside_code(hostile_analysis):
    text = markdown_report.render(hostile_analysis)
    # take out fenced blocks and code spans: what is left is rendered as Markdown
    prose = re.sub(r"^( *)(`{3,})[^\n]*\n.*?^\1\2$", "", text, flags=re.S | re.M)
    prose = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", prose)
    prose = re.sub(r"^- <https?://[^\s<>\"]+>$", "", prose, flags=re.M)  # references: checked URLs
    assert not re.search(r"(?<!\\)<", prose), [line for line in prose.splitlines() if "<" in line]
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", prose)  # no link opened by host text
    assert "storage01\\<script\\>" in text
    # the evidence line holds ``` itself: its fence is longer, so it cannot close early
    block = next(b for b in re.findall(r"^(`{3,})text\n(.*?)^\1$", text, re.S | re.M) if HOSTILE_LINE in b[1])
    assert len(block[0]) >= 4
    for ref in ("javascript:alert(4)", "data:text/html"):
        assert f"<{ref}" not in text  # never an autolink


def test_prometheus_escapes_label_values(hostile_analysis):
    text = prometheus_report.render(hostile_analysis)
    assert 'host="web\\"><svg/onload=alert(3)>\\\\x"' in text
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            assert sample.labels["host"] == HOSTILE_HOST
    assert all(line.startswith(("# HELP ", "# TYPE ", "hostmedic_")) for line in text.splitlines())


def test_only_http_and_https_references_become_links():
    assert safe_url("https://man7.org/linux/man-pages/man5/nfs.5.html")
    assert safe_url("http://example.com/a?b=c#d")
    for bad in ("javascript:alert(1)", " javascript:alert(1)", "JAVASCRIPT:x", "data:text/html,x", "vbscript:x",
                "file:///etc/passwd", "//evil.example/x", "https:", "https:///x", "https://a.example/\"x",
                "https://a.example/<x>", "https://a .example/", "ftp://a.example/"):
        assert safe_url(bad) is None, bad
