"""The post-reboot hook: its unit (checked by systemd-analyze verify), install, status and
uninstall into a temporary root (systemctl --root), and runs on real journal files
(tests/helpers_journal.py): rotated reports with mode 0600, the journal entry (sent to a
real systemd-journald in a private mount namespace and read back with journalctl), the
webhook (a real HTTP server on 127.0.0.1), and fixes only when a policy allows them."""
from __future__ import annotations

import http.server
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers_journal as hj  # noqa: E402

from hostmedic.collectors import Options  # noqa: E402
from hostmedic.engine.cli import main  # noqa: E402
from hostmedic.hook import postboot, unit  # noqa: E402

UNIT_FILE = "etc/systemd/system/hostmedic-postboot.service"
WORKER_UNIT = "[Unit]\nDescription=hm worker\n\n[Service]\nExecStart=/bin/sleep infinity\n\n" \
              "[Install]\nWantedBy=multi-user.target\n"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


@pytest.fixture(scope="module")
def journal_dir(tmp_path_factory) -> Path:
    if hj.journal_remote() is None:
        pytest.skip("systemd-journal-remote is not installed")
    out = tmp_path_factory.mktemp("journal")
    hj.build_journal(out / "system.journal", hj.two_boots_export())
    return out


def _run(root: Path, journal_dir: Path, settings: postboot.Settings | None = None, sent=None, **kw):
    settings = settings or postboot.Settings()
    options = Options(timeout=settings.timeout, boots=settings.boots, journal_dir=str(journal_dir))
    journal = (lambda fields: sent.append(fields) or True) if sent is not None else (lambda fields: False)
    return postboot.run(settings, str(root), options, ["journal", "boots"], journal=journal, **kw)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- the unit --------------------------------------------------------------------------------

def test_the_unit_is_a_oneshot_after_multi_user_and_verifies(tmp_path):
    _need("systemd-analyze")
    text = unit.render()
    assert "Type=oneshot" in text and "After=multi-user.target" in text
    assert "WantedBy=multi-user.target" in text and "UMask=0077" in text
    exec_start = next(l for l in text.splitlines() if l.startswith("ExecStart="))
    assert exec_start.endswith(" hook run") and os.path.isabs(exec_start.split("=", 1)[1].split()[0])
    path = tmp_path / unit.UNIT
    path.write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_a_python_fallback_command_is_quoted_for_systemd(tmp_path):
    _need("systemd-analyze")
    text = unit.render([sys.executable, "-m", "hostmedic.engine.cli"])
    path = tmp_path / unit.UNIT
    path.write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
    assert unit._quote("/opt/my tools/diagnose") == '"/opt/my tools/diagnose"'
    assert unit._quote("100%") == "100%%" and unit._quote("$HOME") == "$$HOME"


def test_install_status_uninstall_in_a_temporary_root(tmp_path, capsys):
    _need("systemctl")
    _need("systemd-analyze")
    root = tmp_path / "root"
    root.mkdir()
    policy = tmp_path / "policy.yaml"
    policy.write_text("allow: [unit-stop-timeout]\n")
    assert main(["hook", "install", "--root", str(root), "--keep", "3", "--policy", str(policy),
                 "--webhook", "https://hooks.example.org/T0/secret"]) == 0
    unit_path = root / UNIT_FILE
    wants = root / "etc/systemd/system/multi-user.target.wants" / unit.UNIT
    assert unit_path.is_file() and _mode(unit_path) == 0o644
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/" + unit.UNIT
    settings = root / "etc/hostmedic/postboot.yaml"
    assert _mode(settings) == 0o600  # the webhook URL may hold a token
    saved = postboot.load_settings(str(settings))
    assert (saved.keep, saved.webhook, saved.policy) == (3, "https://hooks.example.org/T0/secret",
                                                          "/etc/hostmedic/postboot-policy.yaml")
    assert (root / "etc/hostmedic/postboot-policy.yaml").read_text() == policy.read_text()
    proc = subprocess.run(["systemctl", f"--root={root}", "is-enabled", unit.UNIT], capture_output=True, text=True)
    assert proc.stdout.strip() == "enabled"
    verify = subprocess.run(["systemd-analyze", "verify", str(unit_path)], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    capsys.readouterr()

    assert main(["hook", "status", "--root", str(root)]) == 0
    shown = capsys.readouterr().out
    assert ": enabled" in shown and "keep 3" in shown and "webhook set" in shown and "secret" not in shown

    assert main(["hook", "uninstall", "--root", str(root)]) == 0
    assert not unit_path.exists() and not wants.exists() and not wants.is_symlink()
    assert not settings.exists()
    capsys.readouterr()
    assert main(["hook", "status", "--root", str(root)]) == 3
    assert "not installed" in capsys.readouterr().out


def test_install_refuses_a_bad_policy_and_writes_nothing(tmp_path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    policy = tmp_path / "policy.yaml"
    policy.write_text("allow: [reboot-everything]\n")
    assert main(["hook", "install", "--root", str(root), "--policy", str(policy)]) == 3
    assert "unknown fix(es) reboot-everything" in capsys.readouterr().err
    assert list(root.iterdir()) == []
    assert main(["hook", "install", "--root", str(root), "--webhook", "file:///etc/passwd"]) == 3
    assert "http:// or https://" in capsys.readouterr().err


# -- a run -----------------------------------------------------------------------------------

def test_runs_keep_the_last_n_reports_private(tmp_path, journal_dir):
    root = tmp_path / "root"
    root.mkdir()
    sent: list[dict] = []
    results = [_run(root, journal_dir, postboot.Settings(keep=2), sent) for _ in range(3)]
    folder = root / postboot.REPORTS
    names = sorted(os.listdir(folder))
    assert len(names) == 4  # two runs, HTML and JSON each
    assert [n.split("-")[1] for n in names] == ["000002", "000002", "000003", "000003"]
    assert results[2].removed == [os.path.basename(results[0].html), os.path.basename(results[0].json)]
    assert _mode(folder) == 0o700
    for name in names:
        assert _mode(folder / name) == 0o600
    doc = json.loads(Path(results[2].json).read_text())
    assert {"nfs-mount-hang", "shutdown-hang"} <= {f["rule"] for f in doc["findings"]}
    assert doc["postboot"] == {"report": results[2].html, "fixes": []}
    assert Path(results[2].html).read_text().startswith("<!DOCTYPE html>")
    fields = sent[-1]
    assert fields["HOSTMEDIC_SEVERITY"] == "error" and fields["PRIORITY"] == "3"
    assert fields["HOSTMEDIC_RULES"].split(",")[:2] == ["nfs-mount-hang", "shutdown-hang"]
    assert fields["HOSTMEDIC_REPORT"] == results[2].html
    assert fields["SYSLOG_IDENTIFIER"] == "hostmedic-postboot" and "\n" not in fields["MESSAGE"]


def test_rotation_touches_only_its_own_files(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    mine = [f"hostmedic-{n:06d}-20241121T092{n}00Z-0d9e8f7a.{ext}" for n in (1, 2, 3) for ext in ("html", "json")]
    for name in mine + ["notes.txt", "hostmedic-latest.html"]:
        (folder / name).write_text("x")
    removed = postboot.rotate(str(folder), 1)
    assert removed == sorted(mine[:4])
    assert sorted(os.listdir(folder)) == sorted(mine[4:] + ["notes.txt", "hostmedic-latest.html"])


def test_a_fix_is_applied_only_when_the_policy_allows_it(tmp_path, journal_dir):
    _need("systemd-analyze")
    for allow, applied in ((None, False), (["enable-fstrim-timer"], False), (["unit-stop-timeout"], True)):
        root = tmp_path / f"root-{applied}-{bool(allow)}"
        (root / "etc/systemd/system").mkdir(parents=True)
        (root / "etc/systemd/system/hm-w4.service").write_text(WORKER_UNIT)
        settings = postboot.Settings()
        if allow is not None:
            (root / "etc/hostmedic").mkdir(parents=True)
            (root / "etc/hostmedic/postboot-policy.yaml").write_text(json.dumps({"allow": allow}))
            settings.policy = "/etc/hostmedic/postboot-policy.yaml"
        sent: list[dict] = []
        result = _run(root, journal_dir, settings, sent)
        dropin = root / "etc/systemd/system/hm-w4.service.d/hostmedic-stop-timeout.conf"
        assert dropin.exists() is applied, allow
        if applied:
            assert [(f["fix"], f["result"]) for f in result.fixes] == [("unit-stop-timeout", "applied")]
            assert "TimeoutStopSec=30s" in dropin.read_text()
            audit = (root / "var/log/hostmedic/audit.jsonl").read_text().splitlines()
            assert json.loads(audit[-1])["result"] == "applied"
            assert sent[-1]["HOSTMEDIC_FIXES"] == "unit-stop-timeout: applied"
        else:
            assert result.fixes == [] and "HOSTMEDIC_FIXES" not in sent[-1]


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.got.append((self.path, self.headers["Content-Type"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_webhook_gets_the_json_and_a_failing_one_is_not_fatal(tmp_path, journal_dir):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hooks/hostmedic"
        sent: list[dict] = []
        result = _run(tmp_path / "a", journal_dir, postboot.Settings(webhook=url), sent)
        assert result.webhook == "sent"
        path, ctype, body = _Receiver.got[-1]
        assert (path, ctype) == ("/hooks/hostmedic", "application/json")
        doc = json.loads(body)
        assert doc["format"] == "hostmedic-diagnosis" and doc["postboot"]["report"] == result.html
        assert sent[-1]["HOSTMEDIC_WEBHOOK"] == "sent"
    finally:
        server.shutdown()
        server.server_close()
    sent = []
    result = _run(tmp_path / "b", journal_dir, postboot.Settings(webhook=url), sent)  # nothing listens now
    assert result.webhook.startswith("failed:") and "refused" in result.webhook.lower()
    assert os.path.exists(result.html) and sent[-1]["HOSTMEDIC_WEBHOOK"] == result.webhook


def test_the_summary_reaches_a_real_journal(tmp_path, journal_dir):
    """`diagnose hook run` in a private mount namespace with its own systemd-journald:
    the entry is read back with journalctl, fields and all."""
    journald = next((p for p in ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")
                     if os.access(p, os.X_OK)), None)
    if os.geteuid() != 0 or shutil.which("unshare") is None or journald is None:
        pytest.skip("needs root, unshare and systemd-journald")
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare --mount is not allowed here")
    root = tmp_path / "root"
    root.mkdir()
    diagnose = os.path.join(os.path.dirname(sys.executable), "diagnose")
    script = f"""
set -e
mount -t tmpfs hostmedic-test /run
mount -t tmpfs hostmedic-test /var/log/journal
mkdir -p /run/systemd/journal
{journald} </dev/null >/dev/null 2>&1 &
JOURNALD=$!
trap 'kill $JOURNALD; wait $JOURNALD' EXIT
for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
{diagnose} hook run --root {root} --journal-dir {journal_dir} > {tmp_path}/stdout
journalctl --sync 2>/dev/null || sleep 0.5
journalctl --no-pager -o json SYSLOG_IDENTIFIER=hostmedic-postboot > {tmp_path}/entries
"""
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    entries = [json.loads(l) for l in (tmp_path / "entries").read_text().splitlines() if l.strip()]
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["MESSAGE_ID"] == postboot.SUMMARY_MESSAGE_ID and entry["PRIORITY"] == "3"
    assert entry["HOSTMEDIC_SEVERITY"] == "error"
    assert entry["HOSTMEDIC_RULES"].startswith("nfs-mount-hang,shutdown-hang")
    report = entry["HOSTMEDIC_REPORT"]
    assert report.startswith(str(root / postboot.REPORTS)) and os.path.isfile(report)
    assert entry["MESSAGE"].startswith("hostmedic post-boot diagnosis of hm-client: error (")
    assert (tmp_path / "stdout").read_text() == ""  # said in the journal, not twice
