"""Faults, collector by collector: every command missing, denied, failing, hanging or
printing junk (real executables first on PATH), damaged or unreadable files, a corrupted
journal, a hung libvirtd, a sosreport with folders missing. The diagnosis completes within
its timeouts, never with a traceback, and the report says what could not be read."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Sequence

import pytest

from hostmedic.collectors import MODULES, Context, Options, run_all
from hostmedic.engine import analysis as flow
from hostmedic.engine import sources
from hostmedic.engine.facts import FactBase
from hostmedic.engine.patterns import prefilter
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import LocalSource, SosreportSource
from hostmedic.reports import renderer

from .fuzzkit import REPO

PACK = load_pack()
TIMEOUT = 0.4  # seconds per command in these tests
CASES = Path(REPO) / "tests" / "data" / "sosreports"

# What each fake command does. The words are what real tools print in these situations.
BEHAVIOURS = {
    "missing": None,  # no such program on PATH
    "denied": 'echo "${0##*/}: cannot open device: Permission denied" >&2; exit 1',
    "failed": 'echo "partial output"; echo "${0##*/}: giving up: device or resource busy" >&2; exit 2',
    "hang": "/bin/sleep 600 & exec /bin/sleep 600",  # a child too: the whole group must die
    "junk": "exec /usr/bin/head -c 30000 /dev/urandom",
    "empty": "exit 0",
}


SAID = {"missing": ("missing", "not installed"), "denied": ("denied",), "failed": ("failed", "exit status"),
        "hang": ("timeout", "no answer")}
# Collectors whose commands only add to a file they read first (nfsstat beside mountstats,
# dmesg beside the log files, cloud-init status beside its logs): without that file there
# is nothing to add to, and "absent" names the file instead.
QUIET = {"missing": ("nfs", "logfiles", "cloudinit"), "denied": ("nfs",), "failed": ("nfs",), "hang": ("nfs",)}


class FakePathSource(LocalSource):
    """This host, with a PATH holding only fake programs: each one is written, as a shell
    script with the chosen behaviour, the first time a collector asks for it."""

    def __init__(self, bindir: Path, behaviour: str, timeout: float, root: str):
        super().__init__(timeout=timeout, root=root)
        self.bindir, self.script, self.ran = bindir, BEHAVIOURS[behaviour], []

    def run(self, argv: Sequence[str], timeout: float | None = None, sos_paths: Sequence[str] = ()):
        self.ran.append(argv[0])
        exe = self.bindir / os.path.basename(argv[0])
        if self.script is not None and not exe.exists():
            exe.write_text(f"#!/bin/sh\n{self.script}\n")
            exe.chmod(0o755)
        return super().run(argv, timeout=timeout, sos_paths=sos_paths)


@pytest.fixture
def fake_path(tmp_path, monkeypatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    return bindir


def _silent_socket(path: Path) -> socket.socket:
    """A libvirt socket that accepts and never answers: a hung libvirtd."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(16)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(srv.accept()[0]) for _ in range(16)], daemon=True).start()
    return srv


def _context(source, **options) -> Context:
    return Context(source=source, facts=FactBase(), options=Options(**options),
                   interesting=prefilter(PACK.symptom_patterns()))


def _problems(base: FactBase) -> list:
    return [f for f in base.of_kind("collector_status") if f.fields["status"] not in ("ok", "absent", "not applicable")]


def _assert_clean(base: FactBase) -> None:
    """No collector crashed, and every problem tells the user what happened."""
    for fact in base.of_kind("collector_status"):
        f = fact.fields
        assert "internal error" not in f["detail"], f
        if f["status"] not in ("ok", "absent", "not applicable"):
            assert f["detail"] or f["what"], f


def _budget(source: FakePathSource) -> float:
    """Every command may take its timeout (journal text reading allows itself 60 s)."""
    return 20 + len(source.ran) * (TIMEOUT + 1.5)


@pytest.mark.parametrize("behaviour", list(BEHAVIOURS))
@pytest.mark.parametrize("module", MODULES)
def test_each_collector_survives_each_command_fault(module, behaviour, fake_path, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    sock = tmp_path / "libvirt-sock"
    srv = _silent_socket(sock) if behaviour == "hang" else None
    src = FakePathSource(fake_path, behaviour, TIMEOUT, str(root))
    ctx = _context(src, timeout=TIMEOUT, libvirt_uri=f"qemu:///system?socket={sock}")
    started = time.monotonic()
    run_all(ctx, [module])
    elapsed = time.monotonic() - started
    if srv:
        srv.close()
    _assert_clean(ctx.facts)
    assert elapsed < _budget(src), f"{module} took {elapsed:.1f} s for {len(src.ran)} commands"
    # the fault is said in the report: by its status word or in the detail
    said = " ".join(f"{f.fields['status']} {f.fields['detail']}" for f in ctx.facts.of_kind("collector_status"))
    if src.ran and behaviour in SAID and module not in QUIET.get(behaviour, ()):
        assert any(word in said for word in SAID[behaviour]), said


@pytest.mark.parametrize("behaviour", ["hang", "denied", "failed", "missing"])
def test_whole_local_diagnosis_completes_and_reports_what_failed(behaviour, fake_path, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(CASES / "healthy-debian12-guest" / "sosreport", root, symlinks=True)
    sock = tmp_path / "libvirt-sock"
    srv = _silent_socket(sock)
    src = FakePathSource(fake_path, behaviour, TIMEOUT, str(root))
    started = time.monotonic()
    base = flow.collect(src, PACK, Options(timeout=TIMEOUT, libvirt_uri=f"qemu:///system?socket={sock}"))
    analysis = flow.analyse(base, PACK)
    text = renderer("text").render(analysis, "diagnose")
    html = renderer("html").render(analysis, "diagnose")
    srv.close()
    assert time.monotonic() - started < _budget(src)
    _assert_clean(base)
    word = {"hang": "timeout", "denied": "denied", "failed": "failed", "missing": "missing"}[behaviour]
    failing = [f for f in _problems(base) if f.fields["status"] == word]
    assert failing, [f.fields for f in base.of_kind("collector_status")]
    for fact in failing[:5]:  # each one is named in the report
        what = fact.fields["what"] or fact.fields["collector"]
        assert what.split()[0] in text and what.split()[0] in html
    if behaviour == "hang":
        assert "did not answer" in text  # the hung libvirtd


def test_command_flooding_output_is_cut_not_hoarded(fake_path, monkeypatch):
    monkeypatch.setattr(sources, "MAX_READ_BYTES", 8 << 20)
    exe = fake_path / "journalctl"
    exe.write_text("#!/bin/sh\nexec /usr/bin/yes 'Nov 21 09:12:00 host kernel: a line of a huge journal'\n")
    exe.chmod(0o755)
    started = time.monotonic()
    r = LocalSource(timeout=30).run(["journalctl", "--no-pager"])
    assert time.monotonic() - started < 10
    assert r.ok and "cut" in r.detail and len(r.text) <= 8 << 20


def test_hung_process_group_is_killed(fake_path):
    exe = fake_path / "smartctl"
    marker = fake_path.parent / "child-alive"
    exe.write_text(f"#!/bin/sh\n(/bin/sleep 2; /usr/bin/touch {marker}) &\nexec /bin/sleep 600\n")
    exe.chmod(0o755)
    r = LocalSource(timeout=0.5).run(["smartctl", "--scan-open"])
    assert r.status == "timeout"
    time.sleep(2.5)
    assert not marker.exists()  # the background child died with its group


# -- files: damaged, unreadable, not files at all ---------------------------------------------

def _all_sos_files() -> dict[str, bytes]:
    """Every file path the sosreport fixtures hold, with one real content for each."""
    out: dict[str, bytes] = {}
    for case in sorted(CASES.iterdir()):
        tree = case / "sosreport"
        for path in sorted(tree.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out.setdefault(str(path.relative_to(tree)), path.read_bytes())
    return out


@pytest.mark.parametrize("damage", ["random", "truncated", "zeros", "folder"])
def test_damaged_files_of_this_host(damage, fake_path, tmp_path):
    root = tmp_path / "root"
    for rel, data in _all_sos_files().items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if damage == "folder":  # a folder where a file should be
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes({"random": os.urandom(len(data) % 4096 + 1), "truncated": data[:len(data) // 3],
                                "zeros": b"\0" * 4096}[damage])
    src = FakePathSource(fake_path, "missing", TIMEOUT, str(root))
    base = flow.collect(src, PACK, Options(timeout=TIMEOUT, libvirt_uri="test:///nonexistent-uri"))
    _assert_clean(base)
    renderer("text").render(flow.analyse(base, PACK), "diagnose")


def test_unreadable_files_say_permission_denied(tmp_path):
    """Run as nobody: root-only files are denied, and the report says so (real permissions)."""
    if shutil.which("setpriv") is None or os.getuid() != 0:
        pytest.skip("needs root and setpriv to drop privileges")
    root = tmp_path / "root"
    shutil.copytree(CASES / "healthy-debian12-guest" / "sosreport", root, symlinks=True)
    for path in root.rglob("*"):
        if path.is_file():
            path.chmod(0o600)
    tmp_path.chmod(0o755)
    script = textwrap.dedent(f"""
        import json
        from hostmedic.collectors import Options
        from hostmedic.engine import analysis as flow
        from hostmedic.engine.rulepack import load_pack
        from hostmedic.engine.sources import LocalSource
        base = flow.collect(LocalSource(timeout=5, root={str(root)!r}), load_pack(),
                            Options(timeout=5, libvirt_uri="test:///nonexistent-uri"))
        print(json.dumps([f.fields for f in base.of_kind("collector_status")]))
    """)
    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd="/", env={**os.environ, "HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    import json
    statuses = json.loads(done.stdout.splitlines()[-1])
    denied = [s for s in statuses if s["status"] == "denied"]
    assert any("/proc/meminfo" in s["what"] or "meminfo" in s["detail"] for s in denied) or \
           any("fstab" in s["what"] for s in denied), statuses
    assert all("internal error" not in s["detail"] for s in statuses)


# -- journals -----------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["random", "truncated-header", "truncated-half", "zeros-in-middle", "empty"])
def test_corrupted_journal_file(damage, tmp_path):
    sys.path.insert(0, str(Path(REPO) / "tests"))
    import helpers_journal as hj  # real journal files, written by systemd-journal-remote
    if not hj.journal_remote():
        pytest.skip("systemd-journal-remote is not installed")
    journal = hj.build_journal(tmp_path / "j" / "system.journal", hj.two_boots_export())[0]
    data = journal.read_bytes()
    damaged = {"random": os.urandom(len(data)), "truncated-header": data[:100], "truncated-half": data[:len(data) // 2],
               "zeros-in-middle": data[:len(data) // 3] + b"\0" * 8192 + data[len(data) // 3 + 8192:],
               "empty": b""}[damage]
    journal.write_bytes(damaged)
    done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--journal-file", journal,
                           "--format", "text"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert "journal" in done.stdout and (str(journal) in done.stdout or "entries read" in done.stdout)


# -- sosreports with folders missing ------------------------------------------------------------

@pytest.mark.parametrize("missing", ["sos_commands", "var", "proc", "etc", "sys", "sos_commands/logs",
                                     "sos_commands/systemd", "everything-but-version"])
def test_sosreport_with_folders_missing(missing, tmp_path):
    tree = tmp_path / "sos"
    shutil.copytree(CASES / "guest-nfs-hang" / "sosreport", tree, symlinks=True)
    if missing == "everything-but-version":
        for entry in tree.iterdir():
            if entry.name != "version.txt":
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    elif (tree / missing).exists():
        shutil.rmtree(tree / missing)
    done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--sosreport", tree, "--format", "text"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stdout
    if missing in ("sos_commands", "everything-but-version"):
        assert "no sos_commands folder" in done.stdout
    with SosreportSource(str(tree)) as src:
        base = flow.collect(src, PACK)
    _assert_clean(base)
    assert _problems(base) or [f for f in base.of_kind("collector_status") if f.fields["status"] == "absent"]
