"""The HTML report in a real headless Chromium (the DevTools protocol over websocket-client).

A reader opens it on a laptop and on a phone: no console error, no request but the file
itself, nothing wider than a phone's screen; a Copy button puts its command on the real
clipboard (clipboard permission granted with Browser.grantPermissions, read back with
navigator.clipboard.readText()); printing opens every fold and hides the buttons; a hostile
report runs no script. Screenshots and a PDF are kept as artefacts (the folder is printed).
Skipped when Chromium is not installed (`make deps` installs it; CI has it).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from cdp_browser import Browser, chromium_path
from conftest import REPO
from hostmedic.reports import html_report

CHROMIUM = chromium_path()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
ARTEFACTS = Path(os.environ.get("HOSTMEDIC_TEST_ARTEFACTS", REPO / "build" / "test-artefacts" / "reports"))


@pytest.fixture(scope="module")
def browser(request):
    pytest.importorskip("websocket", reason="websocket-client is in the `test` extra")
    b = Browser(CHROMIUM)
    b.call("Browser.grantPermissions", permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:  # shown even while pytest captures output
        with capture.global_and_fixture_disabled():
            print(f"\nreport screenshots and PDF (test artefacts, not committed): {ARTEFACTS}")
    yield b
    b.close()


@pytest.fixture
def page(browser):
    p = browser.page()
    yield p
    p.close()


def _write(tmp_path, analysis, name, command_line="diagnose --sosreport examples/nfs-hang-guest --report r.html"):
    path = tmp_path / name
    path.write_text(html_report.render(analysis, command_line))
    return path


def test_example_report_on_a_laptop_and_a_phone(example_analysis, page, tmp_path):
    path = _write(tmp_path, example_analysis, "nfs-hang-guest.html")
    page.open(path.as_uri(), width=1280, height=900)
    assert page.problems() == []
    assert page.requests() == [path.as_uri()]  # self-contained: no font, script, image or CSS fetched
    lead = page.eval("document.querySelector('.lead').innerText")
    assert lead == example_analysis.findings[0].summary
    assert page.eval("document.querySelector('header.verdict').getBoundingClientRect().top") < 40
    assert page.eval("document.querySelectorAll('svg.timeline circle.mark').length") >= 5
    assert page.eval("document.querySelectorAll('article.finding:not(.nested)').length") == \
        len(example_analysis.findings)
    page.screenshot(str(ARTEFACTS / "nfs-hang-guest-laptop.png"))
    page.screenshot(str(ARTEFACTS / "nfs-hang-guest-laptop-top.png"), full_page=False)

    page.open(path.as_uri(), width=390, height=844, mobile=True, scale=2)
    assert page.problems() == []
    # nothing but the timeline (which scrolls in its own box) is wider than the phone
    assert page.eval("document.documentElement.scrollWidth") <= 390
    assert page.eval("getComputedStyle(document.querySelector('.svg-scroll')).overflowX") == "auto"
    page.screenshot(str(ARTEFACTS / "nfs-hang-guest-phone.png"))
    assert (ARTEFACTS / "nfs-hang-guest-phone.png").stat().st_size > 10_000


def test_copy_button_puts_the_command_on_the_clipboard(example_analysis, page, tmp_path):
    path = _write(tmp_path, example_analysis, "copy.html")
    page.open(path.as_uri())
    commands = page.eval("Array.from(document.querySelectorAll('.cmd code'), c => c.textContent)")
    assert commands[0] == "rpcinfo -t storage01.example.net nfs"
    for index in (0, len(commands) - 1):  # a fix command, and the command line that reproduces the report
        page.click("button.copy", index)
        deadline = time.monotonic() + 5
        while page.eval(f"document.querySelectorAll('button.copy')[{index}].textContent") != "Copied":
            assert time.monotonic() < deadline, "the button never said Copied"
            time.sleep(0.05)
        assert page.eval("navigator.clipboard.readText()", await_promise=True) == commands[index]
    assert commands[-1] == "diagnose --sosreport examples/nfs-hang-guest --report r.html"
    assert page.problems() == []


def test_printing_opens_every_fold_and_hides_the_buttons(example_analysis, page, tmp_path):
    path = _write(tmp_path, example_analysis, "print.html")
    page.open(path.as_uri())
    closed = "document.querySelectorAll('details:not([open])').length"
    assert page.eval(closed) > 0
    page.eval("window.dispatchEvent(new Event('beforeprint'))")
    assert page.eval(closed) == 0
    page.eval("window.dispatchEvent(new Event('afterprint'))")
    assert page.eval(closed) > 0
    page.call("Emulation.setEmulatedMedia", media="print")
    assert page.eval("getComputedStyle(document.querySelector('button.copy')).display") == "none"
    page.call("Emulation.setEmulatedMedia", media="")
    pdf = ARTEFACTS / "nfs-hang-guest.pdf"
    page.pdf(str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 20_000
    assert page.problems() == []


def test_hostile_report_shows_markup_as_text_and_runs_nothing(hostile_analysis, page, tmp_path):
    path = _write(tmp_path, hostile_analysis, "hostile.html", "diagnose --sosreport '<img src=x onerror=alert(9)>'")
    page.open(path.as_uri())
    page.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
    time.sleep(0.2)
    assert page.problems() == []  # no dialog from alert(), no CSP violation, no error
    assert page.eval("typeof window.__pwned") == "undefined"
    assert page.eval("document.scripts.length") == 1
    assert page.eval("document.querySelectorAll('img, iframe, object, embed, textarea').length") == 0
    text = page.eval("document.body.innerText")
    assert "storage01<script>window.__pwned=1;alert(1)</script>" in text
    assert "</style><img/src=x/onerror=alert(2)>" in text
    assert 'web"><svg/onload=alert(3)>\\x' in page.eval("document.querySelector('h1').innerText")
    hrefs = page.eval("Array.from(document.querySelectorAll('a[href]'), a => a.getAttribute('href'))")
    assert all(h.startswith(("https://", "http://", "#")) for h in hrefs), hrefs
    assert "javascript:alert(4)" in text
    page.screenshot(str(ARTEFACTS / "hostile.png"))
    assert page.requests() == [path.as_uri()]
