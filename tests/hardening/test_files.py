"""What hostmedic writes, and what it must never write.

Reports, snapshots, backups and audit logs are private (0600, folders 0700) and appear
atomically: a failure mid-write leaves the old file whole and no temp file behind, and a
symlink planted at the output path is replaced, never written through. Nothing given as
input (sosreport folder or tarball, snapshot, journal file, rule folder, configuration)
changes in content, mode or mtime, nor gains a file.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from hostmedic.engine import facts as facts_mod
from hostmedic.engine.facts import FactBase, Provenance, write_private_file

from .fuzzkit import REPO

CASE = Path(REPO) / "tests" / "data" / "sosreports" / "guest-nfs-hang" / "sosreport"


def _cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=REPO, **kw)


def _state(root: Path) -> dict[str, tuple]:
    """Content, mode and mtime of everything under root (or of root, a file)."""
    paths = [root] if root.is_file() else sorted(root.rglob("*"))
    out = {}
    for p in paths:
        st = os.lstat(p)
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else os.readlink(p) \
            if stat.S_ISLNK(st.st_mode) else ""
        out[str(p)] = (digest, stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size)
    return out


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_reports_and_snapshots_are_private(tmp_path):
    out, html, snap = tmp_path / "report.txt", tmp_path / "report.html", tmp_path / "facts.json"
    old = os.umask(0o022)
    try:
        done = _cli("--sosreport", CASE, "-o", out, "--report", html)
        assert done.returncode in (0, 1, 2), done.stderr
        assert _cli("collect", "--sosreport", CASE, "-o", snap).returncode == 0
    finally:
        os.umask(old)
    for path in (out, html, snap):
        assert _mode(path) == 0o600, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts.json", "report.html", "report.txt"]


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "report.txt"
    target.write_text("the previous report\n")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(facts_mod.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_private_file(str(target), "x" * 100_000)
    assert target.read_text() == "the previous report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]  # no temp file left


def test_full_disk_is_one_clear_error(tmp_path):
    """An 8 KiB file system for a bigger HTML report: one line naming the file, exit 3, the
    earlier report still whole, no temp file left (a real tmpfs, in a mount namespace)."""
    if os.getuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root to mount a small tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    script = (f'mount -t tmpfs -o size=8k tmpfs {small} && echo old > {small}/report.html && '
              f'"$@"; rc=$?; ls -A {small}; cat {small}/report.html; exit $rc')
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", sys.executable, "-m",
                           "hostmedic.engine.cli", "--sosreport", str(CASE), "--format", "html",
                           "-o", str(small / "report.html")], capture_output=True, text=True, timeout=300, cwd=REPO)
    if "mount:" in done.stderr and "permission denied" in done.stderr.lower():
        pytest.skip("mounting is not allowed here")
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [f"diagnose: cannot write {small / 'report.html'}: "
                                                "No space left on device"]
    assert done.stdout.split() == ["report.html", "old"]  # no temp file; the old report whole


def test_a_planted_symlink_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.conf"
    victim.write_text("precious\n")
    (tmp_path / "out").mkdir()
    planted = tmp_path / "out" / "report.html"
    planted.symlink_to(victim)
    snap_link = tmp_path / "out" / "facts.json"
    snap_link.symlink_to(victim)
    assert _cli("--sosreport", CASE, "--format", "html", "-o", planted).returncode in (0, 1, 2)
    assert _cli("collect", "--sosreport", CASE, "-o", snap_link).returncode == 0
    assert victim.read_text() == "precious\n"
    assert not planted.is_symlink() and _mode(planted) == 0o600
    assert not snap_link.is_symlink() and json.loads(snap_link.read_text())["format"] == "hostmedic-facts"


def test_snapshot_save_is_atomic_under_concurrent_writers(tmp_path):
    """Eight processes save different snapshots to one path: the file is always one whole
    snapshot, never a mix (rename is atomic)."""
    code = ("import sys\nfrom hostmedic.engine.facts import FactBase, Provenance\n"
            "b = FactBase(meta={'writer': sys.argv[2]})\n"
            "[b.add('x', {'text': sys.argv[2] * 500, 'n': i}, Provenance('file', 'f')) for i in range(2000)]\n"
            "for _ in range(5): b.save(sys.argv[1])\n")
    path = tmp_path / "facts.json"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(i)]) for i in range(8)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    base = FactBase.load(str(path))
    writer = base.meta["writer"]
    assert len(base.facts) == 2000 and all(f.fields["text"] == writer * 500 for f in base.facts)
    assert [p.name for p in tmp_path.iterdir()] == ["facts.json"]


# -- inputs are never modified --------------------------------------------------------------

@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    sos = tmp_path / "sos"
    shutil.copytree(CASE, sos, symlinks=True)
    tarball = tmp_path / "sosreport-hm-client-2024-11-21-abcdef.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(sos, arcname="sosreport-hm-client-2024-11-21-abcdef")
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(Path(REPO) / "rules" / "oom-kill.yaml", rules / "oom-kill.yaml")
    config = tmp_path / "config.yaml"
    config.write_text("suppress:\n  - rule: failed-units\n    reason: lab noise\n")
    for p in [tmp_path, *tmp_path.rglob("*")]:  # read-only inputs, as an archive would be
        if not p.is_symlink():
            os.chmod(p, (os.stat(p).st_mode & 0o777) & ~0o222 | (0o700 if p.is_dir() else 0))
    os.chmod(tmp_path, 0o755)
    return {"sos": sos, "tarball": tarball, "rules": rules, "config": config}


def test_inputs_are_never_modified(inputs, tmp_path):
    out = tmp_path.parent / f"{tmp_path.name}-out"
    out.mkdir()
    snap = out / "facts.json"
    assert _cli("collect", "--sosreport", inputs["sos"], "-o", snap).returncode == 0
    os.chmod(snap, 0o400)
    watched = [inputs["sos"], inputs["tarball"], inputs["rules"], inputs["config"], snap]
    before = {str(p): _state(p) for p in watched}
    runs = [
        ("--sosreport", inputs["sos"], "--rules", inputs["rules"], "--config", inputs["config"], "-o", out / "a.txt"),
        ("--sosreport", inputs["tarball"], "--format", "html", "-o", out / "b.html", "--report", out / "c.html"),
        ("--facts", snap, "--format", "json", "-o", out / "d.json"),
        ("collect", "--sosreport", inputs["tarball"], "-o", out / "e.json"),
        ("rules", "lint", inputs["rules"]),
        ("rules", "--rules", inputs["rules"], "test", "oom-kill"),
    ]
    for args in runs:
        done = _cli(*args)
        assert done.returncode in (0, 1, 2), (args, done.stderr)
    after = {str(p): _state(p) for p in watched}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "rules", "sos",
                                                          "sosreport-hm-client-2024-11-21-abcdef.tar.xz"]


@pytest.mark.parametrize("where", ["the snapshot", "inside the sosreport", "the sosreport tarball"])
def test_output_over_an_input_is_refused(inputs, tmp_path, where):
    snap = tmp_path.parent / f"{tmp_path.name}-snap.json"
    _cli("collect", "--sosreport", inputs["sos"], "-o", snap)
    before = _state(snap)
    args = {"the snapshot": ("--facts", snap, "-o", snap),
            "inside the sosreport": ("--sosreport", inputs["sos"], "-o", inputs["sos"] / "report.txt"),
            "the sosreport tarball": ("collect", "--sosreport", inputs["tarball"], "-o", inputs["tarball"])}[where]
    done = _cli(*args)
    assert done.returncode == 3 and "will not write" in done.stderr and "never modified" in done.stderr
    assert _state(snap) == before and not (inputs["sos"] / "report.txt").exists()


# -- backups and the audit log of an applied fix ------------------------------------------------

def test_backups_and_audit_log_are_private(tmp_path):
    sys.path.insert(0, str(Path(REPO) / "tests" / "remediations"))
    import fixkit
    root = fixkit.make_tree(tmp_path)
    old = os.umask(0o022)
    try:
        done = fixkit.diagnose("fix", "mount-timeout", "--mount", "/srv/artifacts", "--root", root, "--apply", "--yes")
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    audit = root / "var" / "log" / "hostmedic" / "audit.jsonl"
    assert _mode(audit) == 0o600
    backups = root / "var" / "lib" / "hostmedic" / "backups"
    assert _mode(backups) == 0o700
    saved = [p for p in backups.rglob("*")]
    assert saved
    for p in saved:
        assert _mode(p) == (0o700 if p.is_dir() else 0o600), p
    assert not [p for p in root.rglob(".hostmedic-*")]  # no temp file left anywhere
