"""Whole sosreports through the real command line: every case under tests/data/sosreports,
and every case of the shared real-data corpus (../shared/corpus/cases, when it is there).

Each case is `<case>/sosreport/` (a tree at the paths sos 4.x writes) plus `<case>/expected.yaml`:

    expect: [rule ids a correct diagnosis reports at warning or above]
    forbid: [rule ids that would be wrong]
    role:   guest | host
    notes:  what happened, where the wording comes from

`diagnose --sosreport CASE --format json` must exit 0, 1 or 2, report every expected id that the
rule pack has (a finding, or one explained under another), none of the forbidden ones, and
nothing at warning or above for a case that expects nothing. Expected ids the pack does not
have yet (the catalog is larger than the pack) are not asserted; forbids always are.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from hostmedic.engine.rulepack import load_pack

REPO = Path(__file__).resolve().parents[1]
LOCAL_CASES = REPO / "tests" / "data" / "sosreports"
CORPUS_CASES = REPO.parent / "shared" / "corpus" / "cases"
PACK = load_pack()
RAISED = {"warning", "error", "critical"}  # "at warning or above"
CLI_TIMEOUT = 180

# Cases whose failure is a known bug in engine/, collectors/ or rules/ (not in the data):
# {case id: reason}. Marked xfail(strict=True), so a fix turns them into an XPASS failure
# and the entry must be removed.
KNOWN_BUGS: dict[str, str] = {}


def _case_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "expected.yaml").is_file())


def _params() -> list:
    params = [pytest.param(p, id=f"local/{p.name}") for p in _case_dirs(LOCAL_CASES)]
    corpus = _case_dirs(CORPUS_CASES)
    if corpus:
        params += [pytest.param(p, id=f"corpus/{p.name}") for p in corpus]
    else:
        params.append(pytest.param(None, id="corpus/absent"))
    for i, p in enumerate(params):
        case = p.id
        if case in KNOWN_BUGS:
            params[i] = pytest.param(*p.values, id=case,
                                     marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case]))
    return params


def load_expected(case_dir: Path) -> dict:
    data = yaml.safe_load((case_dir / "expected.yaml").read_text()) or {}
    return {"expect": list(data.get("expect") or []), "forbid": list(data.get("forbid") or []),
            "role": data.get("role"), "notes": data.get("notes"), "lead": data.get("lead")}


def diagnose(path: Path | str, env: dict | None = None) -> tuple[int, dict, str]:
    """Run the CLI as a user would; return (exit status, JSON document, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "hostmedic.engine.cli", "--sosreport", str(path), "--format", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=CLI_TIMEOUT,
        env={**os.environ, **(env or {})})
    assert proc.stdout.strip(), f"no JSON on stdout (exit {proc.returncode}); stderr:\n{proc.stderr}"
    try:
        doc = json.loads(proc.stdout)
    except ValueError as err:
        raise AssertionError(f"stdout is not JSON ({err}); stderr:\n{proc.stderr}") from None
    return proc.returncode, doc, proc.stderr


def all_findings(doc: dict) -> list[dict]:
    """Every finding, the ones explained under another included."""
    out: list[dict] = []
    stack = list(doc.get("findings") or [])
    while stack:
        finding = stack.pop(0)
        out.append(finding)
        stack[:0] = list(finding.get("explains") or [])
    return out


def raised_ids(doc: dict) -> set[str]:
    return {f["rule"] for f in all_findings(doc) if f.get("severity") in RAISED}


def summary(doc: dict) -> str:
    lines = [f"  {f['rule']} [{f['severity']}] {f.get('summary', '')}" for f in all_findings(doc)]
    problems = [f"  {s.get('collector')}: {s.get('status')} {s.get('detail', '')}"
                for s in doc.get("collector_status") or [] if s.get("status") not in ("ok", "absent")]
    return "findings:\n" + ("\n".join(lines) or "  (none)") + (
        "\ncollector problems:\n" + "\n".join(problems) if problems else "")


def check_case(rc: int, doc: dict, expected: dict, stderr: str = "") -> None:
    assert rc in (0, 1, 2), f"exit status {rc} (3 = the diagnosis could not run); stderr:\n{stderr}"
    found = raised_ids(doc)
    if not found:
        assert rc == 0, f"exit status {rc} with nothing at warning or above\n{summary(doc)}"
    top = {f.get("severity") for f in doc.get("findings") or []}
    if top & RAISED:
        assert rc in (1, 2), f"exit status {rc} with findings at warning or above\n{summary(doc)}"
    if top & {"error", "critical"}:
        assert rc == 2, f"exit status {rc} with an error or critical finding\n{summary(doc)}"
    checkable = [rule for rule in expected["expect"] if PACK.get(rule) is not None]
    missing = [rule for rule in checkable if rule not in found]
    assert not missing, f"expected {missing} at warning or above\n{summary(doc)}"
    wrong = sorted(set(expected["forbid"]) & found)
    assert not wrong, f"forbidden {wrong} reported\n{summary(doc)}"
    if not expected["expect"]:
        assert not found, f"a case that expects nothing got {sorted(found)}\n{summary(doc)}"
    if expected.get("lead"):  # one incident, one leading finding: the root cause comes first
        leading = (doc.get("findings") or [{}])[0].get("rule")
        assert leading == expected["lead"], f"leading finding {leading}, not {expected['lead']}\n{summary(doc)}"


@pytest.mark.parametrize("case_dir", _params())
def test_sosreport_case(case_dir):
    if case_dir is None:
        pytest.skip(f"the shared corpus is not here ({CORPUS_CASES})")
    expected = load_expected(case_dir)
    rc, doc, stderr = diagnose(case_dir / "sosreport")
    check_case(rc, doc, expected, stderr)


# --------------------------------------------------------------------------- the cases themselves
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@pytest.mark.parametrize("case_dir", [pytest.param(p, id=p.name) for p in _case_dirs(LOCAL_CASES)])
def test_local_case_is_well_formed(case_dir):
    raw = yaml.safe_load((case_dir / "expected.yaml").read_text())
    assert set(raw) <= {"expect", "forbid", "role", "notes", "sources", "lead"}, f"unknown keys {set(raw)}"
    assert raw.get("lead") is None or raw["lead"] in raw["expect"]
    assert isinstance(raw.get("expect"), list) and isinstance(raw.get("forbid"), list)
    assert raw.get("role") in ("guest", "host")
    assert isinstance(raw.get("notes"), str) and len(raw["notes"]) > 40, "say what happened and where the wording comes from"
    for rule in raw["expect"] + raw["forbid"]:
        assert _ID.match(rule), f"{rule!r} is not a catalog-style id"
    assert not set(raw["expect"]) & set(raw["forbid"])
    root = case_dir / "sosreport"
    assert (root / "version.txt").is_file() and (root / "sos_commands").is_dir(), "not a sosreport tree"
    # a case under test data stays small: only the files the case needs
    for path in root.rglob("*"):
        if path.is_file():
            assert path.stat().st_size < 256 * 1024, f"{path} is too big for a test case"


MISSION_RULES = ["fs-readonly-after-discard", "shutdown-hang", "nfs-mount-hang", "memballoon-oom"]


@pytest.mark.parametrize("rule", MISSION_RULES)
def test_each_mission_rule_has_a_positive_and_a_negative_case(rule):
    cases = [load_expected(p) for p in _case_dirs(LOCAL_CASES)]
    assert any(rule in c["expect"] for c in cases), f"no local case expects {rule}"
    assert any(rule in c["forbid"] for c in cases), f"no local case forbids {rule}"
    assert any(rule in c["expect"] and c["role"] == "host" for c in cases) or \
        PACK.get(rule) is None or PACK.get(rule).get("scope", "any") == "guest", f"no host case for {rule}"


# --------------------------------------------------------------------------- tarballs
# guest-shutdown-hang-el9-tailed holds a symlink (sos's layout for output over its size limit).
TARBALL_CASES = ["guest-nfs-hang", "guest-shutdown-hang-el9-tailed"]


@pytest.mark.parametrize("case", TARBALL_CASES)
def test_tarball_gives_the_same_findings_and_is_left_untouched(tmp_path, case):
    case_dir = LOCAL_CASES / case
    if not case_dir.is_dir():
        pytest.skip(f"{case_dir} is missing")
    expected = load_expected(case_dir)
    tarball = tmp_path / "sosreport-host-2026-11-20-abcdef.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(case_dir / "sosreport", arcname="sosreport-host-2026-11-20-abcdef")
    os.chmod(tarball, 0o444)
    os.utime(tarball, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    before = (hashlib.sha256(tarball.read_bytes()).hexdigest(), tarball.stat().st_mtime_ns,
              tarball.stat().st_size)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()

    rc, doc, stderr = diagnose(tarball, env={"TMPDIR": str(private_tmp)})
    check_case(rc, doc, expected, stderr)
    rc_dir, doc_dir, _ = diagnose(case_dir / "sosreport")
    assert rc == rc_dir
    assert raised_ids(doc) == raised_ids(doc_dir)
    assert sorted(f["rule"] for f in all_findings(doc)) == sorted(f["rule"] for f in all_findings(doc_dir))
    assert doc["host"] == doc_dir["host"] == (case_dir / "sosreport/sos_commands/host/hostname").read_text().strip()

    after = (hashlib.sha256(tarball.read_bytes()).hexdigest(), tarball.stat().st_mtime_ns,
             tarball.stat().st_size)
    assert after == before, "the tarball was modified"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sosreport-host-2026-11-20-abcdef.tar.xz", "tmp"]
    assert list(private_tmp.iterdir()) == [], "the unpacked copy was left behind"
