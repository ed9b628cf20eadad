"""Load: many sosreports analysed in one process without growing (memory, threads, open
files, temp dirs), and concurrent diagnoses on one host that do not interfere.

The default run analyses LOAD_ITERATIONS sosreports (150); `make check-hardening` (which
`make test`, and so CI, runs too) sets HOSTMEDIC_LOAD_ITERATIONS=1000.
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

import psutil
import pytest

from hostmedic.engine import analysis as flow
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import SosreportSource
from hostmedic.reports import renderer

from .fuzzkit import REPO

ITERATIONS = int(os.environ.get("HOSTMEDIC_LOAD_ITERATIONS", "150"))
CASES = Path(REPO) / "tests" / "data" / "sosreports"
MIX = ["guest-nfs-hang", "host-readonly-discard", "healthy-debian12-guest", "guest-memballoon-oom",
       "guest-shutdown-hang", "host-edac-corrected-dimm"]
WARMUP = 30
PACK = load_pack()


def _findings(analysis) -> list[tuple]:
    return [(f.rule, f.severity, f.title, f.summary, len(f.evidence)) for f in analysis.findings]


def _one(path: str) -> list[tuple]:
    with SosreportSource(path) as src:
        base = flow.collect(src, PACK)
    analysis = flow.analyse(base, PACK)
    renderer("json").render(analysis, "diagnose")
    return _findings(analysis)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    """The case folders, and one as a tarball (unpacked and removed on every run)."""
    paths = [str(CASES / c / "sosreport") for c in MIX]
    tarball = tmp_path_factory.mktemp("load") / "sosreport-load-2024-11-21-abcdef.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(paths[0], arcname="sosreport-load-2024-11-21-abcdef")
    return paths + [str(tarball)]


def test_many_sosreports_in_one_process_do_not_grow(inputs):
    proc = psutil.Process()
    expected = {path: _one(path) for path in inputs}
    tmp_before = set(os.listdir(tempfile.gettempdir()))
    rss, fds, threads, timers = [], [], [], []
    for i in range(ITERATIONS):
        path = inputs[i % len(inputs)]
        assert _one(path) == expected[path], f"iteration {i}: {path} gave other findings"
        if i % 10 == 9:
            gc.collect()
            rss.append(proc.memory_info().rss)
            fds.append(proc.num_fds())
            # durable_rules re-arms its dispatch timers (threading.Timer) all the time: those
            # come and go; any other thread must not pile up
            threads.append(sum(1 for t in threading.enumerate() if not isinstance(t, threading.Timer)))
            timers.append(sum(1 for t in threading.enumerate() if isinstance(t, threading.Timer)))
    steady = rss[WARMUP // 10:]
    grown = (max(steady[-3:]) - min(steady[:3])) / 2 ** 20
    # durable_rules sessions used to leak ~1 MB per sosreport and crash past 1,024 runs
    assert grown < 8 + ITERATIONS * 0.01, f"RSS grew {grown:.1f} MiB over {ITERATIONS} sosreports: {rss}"
    assert max(fds) - min(fds) <= 2, fds
    assert max(threads) == min(threads), threads
    assert max(timers) < 40, timers
    leftovers = {n for n in set(os.listdir(tempfile.gettempdir())) - tmp_before if n.startswith("hostmedic-")}
    assert not leftovers, leftovers


def test_concurrent_analyses_in_threads_give_the_serial_findings(inputs):
    expected = {path: _one(path) for path in inputs}
    errors: list[str] = []

    def worker(n: int) -> None:
        for j in range(6):
            path = inputs[(n + j) % len(inputs)]
            try:
                got = _one(path)
            except Exception as err:  # reported below
                errors.append(f"{path}: {type(err).__name__}: {err}")
                continue
            if got != expected[path]:
                errors.append(f"{path}: other findings in thread {n}")

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=600)
    assert not errors, errors


def _cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hostmedic.engine.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def _comparable(doc: dict) -> list:
    return [(f["rule"], f["severity"], f["title"], len(f["evidence"])) for f in doc["findings"]]


def test_concurrent_diagnose_runs_on_one_host_do_not_interfere(inputs, tmp_path):
    """Eight `diagnose` processes at once (two on the same tarball, each with its own temp
    dir), and four `collect` runs writing one snapshot path: each result is what a run on
    its own gives, and the shared snapshot is one whole snapshot."""
    serial = {}
    for path in inputs:
        out, err = _cli("--sosreport", path, "--format", "json").communicate(timeout=300)
        serial[path] = _comparable(json.loads(out))
    runs = [(path, _cli("--sosreport", path, "--format", "json")) for path in inputs + [inputs[-1]]]
    snap = tmp_path / "facts.json"
    collects = [_cli("collect", "--sosreport", inputs[i], "-o", snap) for i in range(4)]
    for path, proc in runs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode in (0, 1, 2), err
        assert _comparable(json.loads(out)) == serial[path], path
    for proc in collects:
        proc.communicate(timeout=600)
        assert proc.returncode == 0
    doc = json.loads(snap.read_text())
    assert doc["format"] == "hostmedic-facts" and doc["facts"]
    assert [p.name for p in tmp_path.iterdir()] == ["facts.json"]
    report = tmp_path / "from-snapshot.json"
    done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--facts", snap, "--format", "json",
                           "-o", report], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode in (0, 1, 2), done.stderr
