"""Fact snapshots are input too: truncated, binary, invalid UTF-8, empty, deeply nested or
hand-edited with values of the wrong type, `diagnose --facts` gives a report or one clear
error naming the file (exit 3), never a traceback."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostmedic.engine import analysis as flow
from hostmedic.engine.facts import Fact, FactBase, SnapshotError
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import SosreportSource
from hostmedic.reports import FORMATS, renderer

from .fuzzkit import FUZZ_FEW, REPO, decode, mutate

CASE = Path(REPO) / "tests" / "data" / "sosreports" / "guest-nfs-hang" / "sosreport"
PACK = load_pack()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "facts.json"
    with SosreportSource(str(CASE)) as src:
        flow.collect(src, PACK).save(str(path))
    return path


def _diagnose(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--facts", path, "--format", "json"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def _clear(done: subprocess.CompletedProcess, path: Path) -> None:
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    if done.returncode == 3:
        lines = [l for l in done.stderr.splitlines() if not l.startswith(("warning:", "note:"))]
        assert len(lines) == 1 and str(path) in lines[0], done.stderr
    else:
        assert done.returncode in (0, 1, 2) and json.loads(done.stdout)["findings"] is not None


@pytest.mark.parametrize("how", ["truncate", "invalid_utf8", "nul", "empty", "whitespace", "splice", "numbers"])
def test_damaged_snapshot_text(snapshot, tmp_path, how):
    text = snapshot.read_text()
    bad = tmp_path / "facts.json"
    bad.write_bytes(mutate(text, how, len(text) // 2, b"\xff{").encode("utf-8", "surrogatepass"))
    _clear(_diagnose(bad), bad)


@pytest.mark.parametrize("data", [b"\0" * 100, b"[]", b"{}", b'{"format": "hostmedic-facts", "version": 1, "facts": 5}',
                                  b"[" * 100000 + b"]" * 100000, b'{"a": ' + b"9" * 5000 + b"}",
                                  b'{"format": "hostmedic-facts", "version": 1, "facts": [["a"]]}',
                                  b'{"format": "hostmedic-facts", "version": 1, "facts": [{"kind": 5, "fields": {}, "source": {"origin": "x", "name": "y"}}]}'],
                         ids=["zeros", "list", "empty-object", "facts-not-a-list", "deep", "huge-number", "fact-a-list", "kind-a-number"])
def test_not_a_snapshot(tmp_path, data):
    bad = tmp_path / "facts.json"
    bad.write_bytes(data)
    _clear(_diagnose(bad), bad)


VALUES = st.sampled_from([None, "x", "", -1, 10 ** 30, 1.5, float("inf"), float("nan"), True, [], {},
                          [1, "a"], {"a": 1}, "9" * 50, "\ud800"])


@FUZZ_FEW
@given(st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from(["t", "boot", "message", "seq", "device",
                                                                    "unit", "server", "seconds", "text", "*"]),
                          VALUES), min_size=1, max_size=6))
def test_fields_of_the_wrong_type(snapshot, changes):
    """In process: analysis either copes, or the CLI turns the error into one line naming
    the snapshot (checked once below); the engine itself never fails on odd values."""
    doc = json.loads(snapshot.read_text())
    doc = copy.deepcopy(doc)
    for pos, key, value in changes:
        fact = doc["facts"][pos % len(doc["facts"])]
        key = key if key != "*" else sorted(fact["fields"])[pos % len(fact["fields"])] if fact["fields"] else "x"
        fact["fields"][key] = value
    base = FactBase(meta=doc["meta"], facts=[Fact.from_json(x) for x in doc["facts"]])
    try:
        analysis = flow.analyse(base, PACK)
        for fmt in FORMATS:
            renderer(fmt).render(analysis, "diagnose --facts x")
    except (TypeError, ValueError, AttributeError, KeyError):
        pass  # the CLI's one-line error (below); anything else (the engine's own errors) fails


def test_wrong_types_through_the_cli_are_one_line(snapshot, tmp_path):
    doc = json.loads(snapshot.read_text())
    for fact in doc["facts"]:
        if fact["kind"] == "log":
            fact["fields"]["boot"] = "zero"
            fact["fields"]["message"] = ["not", "text"]
    bad = tmp_path / "facts.json"
    bad.write_text(json.dumps(doc))
    done = _diagnose(bad)
    _clear(done, bad)
