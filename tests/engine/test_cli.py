"""The `diagnose` command end to end: exit statuses, the JSON contract, snapshots."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CASES = sorted(p.parent for p in (REPO / "tests" / "data" / "sosreports").glob("*/expected.yaml"))
EXAMPLE = REPO / "examples" / "nfs-hang-guest"


def diagnose(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=env)


def _findings(stdout):
    doc = json.loads(stdout)
    return [(f["rule"], f["severity"], f["summary"], [e["text"] for e in f["evidence"]],
             [x["rule"] for x in f["explains"]]) for f in doc["findings"]]


def test_this_machine_completes_with_honest_statuses():
    r = diagnose("--format", "json", "--timeout", "5")
    assert r.returncode in (0, 1, 2), r.stderr
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    statuses = {(s["collector"], s["status"]) for s in doc["collector_status"]}
    assert {c for c, _ in statuses} >= {"journal", "libvirt", "mounts", "memory"}
    for status in doc["collector_status"]:
        assert status["status"] in ("ok", "absent", "missing", "failed", "denied", "timeout",
                                    "not applicable")
        if status["status"] != "ok":
            assert status["hint"], f"{status['collector']} gave no hint"


def test_snapshot_of_this_machine_replays_the_same_findings(tmp_path):
    snap = tmp_path / "facts.json"
    assert diagnose("collect", "-o", snap, "--timeout", "5").returncode == 0
    assert oct(os.stat(snap).st_mode & 0o777) == "0o600"
    direct = diagnose("--facts", snap, "--format", "json")
    again = diagnose("--facts", snap, "--format", "json")
    assert direct.returncode in (0, 1, 2)
    assert _findings(direct.stdout) == _findings(again.stdout)


@pytest.mark.parametrize("case", CASES + ([EXAMPLE] if EXAMPLE.exists() else []), ids=lambda p: p.name)
def test_snapshot_round_trip_gives_identical_findings(case, tmp_path):
    tree = case / "sosreport" if (case / "sosreport").is_dir() else case
    direct = diagnose("--sosreport", tree, "--format", "json")
    snap = tmp_path / "facts.json"
    assert diagnose("collect", "--sosreport", tree, "-o", snap).returncode == 0
    replay = diagnose("--facts", snap, "--format", "json")
    assert direct.returncode == replay.returncode
    assert _findings(direct.stdout) == _findings(replay.stdout)


def test_json_contract_and_nagios_exit_status():
    if not EXAMPLE.exists():
        pytest.skip("the bundled example is not there")
    r = diagnose("--sosreport", EXAMPLE, "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["findings"], "the bundled example is an incident"
    worst = doc["findings"][0]["severity"]
    assert r.returncode == {"critical": 2, "error": 2, "warning": 1}[worst]
    for key in ("host", "window", "collector_status", "findings"):
        assert key in doc
    for f in doc["findings"]:
        assert f["severity"] in ("critical", "error", "warning", "info")
        assert f["title"] and f["evidence"] and "remediations" in f
        for e in f["evidence"]:
            assert e["source"]["name"]


def test_text_report_names_rule_evidence_and_fix():
    if not EXAMPLE.exists():
        pytest.skip("the bundled example is not there")
    out = diagnose("--sosreport", EXAMPLE).stdout
    assert "nfs-mount-hang" in out and "Evidence:" in out and "Fix (proposed" in out


@pytest.mark.parametrize("args,message", [
    (["--sosreport", "/nonexistent/sosreport"], "no such sosreport"),
    (["--facts", "/nonexistent/facts.json"], "cannot read the snapshot"),
    (["--no-such-option"], "unrecognized arguments"),
])
def test_could_not_run_exits_3_with_one_clear_line(args, message):
    r = diagnose(*args)
    assert r.returncode == 3
    assert message in r.stderr and "Traceback" not in r.stderr


def test_a_snapshot_that_is_not_one(tmp_path):
    bad = tmp_path / "facts.json"
    bad.write_text('{"hello": 1}')
    r = diagnose("--facts", bad)
    assert r.returncode == 3 and "facts.json" in r.stderr and "not a hostmedic fact snapshot" in r.stderr


def test_rules_commands():
    listed = diagnose("rules", "list").stdout
    for rule in ("fs-readonly-after-discard", "shutdown-hang", "nfs-mount-hang", "memballoon-oom"):
        assert rule in listed
    shown = diagnose("rules", "show", "memballoon-oom")
    assert shown.returncode == 0 and "autodeflate" in shown.stdout
    assert diagnose("rules", "show", "no-such-rule").returncode == 3
    tested = diagnose("rules", "test")
    assert tested.returncode == 0 and " 0 failed" in tested.stdout


def test_real_journal_files_of_a_hung_reboot(tmp_path):
    """Journal files written by systemd-journal-remote from the lab's wording: the
    previous boot hung on a stop job and its journal ends mid-shutdown."""
    sys.path.insert(0, str(REPO / "tests"))
    import helpers_journal

    if helpers_journal.journal_remote() is None:
        pytest.skip("systemd-journal-remote is not installed")
    helpers_journal.build_journal(tmp_path / "x.journal", helpers_journal.two_boots_export())
    r = diagnose("--journal-dir", tmp_path, "--format", "json")
    doc = json.loads(r.stdout)
    rules = {f["rule"]: f for f in doc["findings"]}
    assert r.returncode == 2
    assert "shutdown-hang" in rules and "hm-w4.service" in rules["shutdown-hang"]["summary"]
    assert "nfs-mount-hang" in rules
    assert {s["collector"] for s in doc["collector_status"]} == {"journal", "boots"}
