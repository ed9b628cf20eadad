"""Sosreport tarballs and folders as an attacker (or a broken disk) could shape them:
nothing is written outside a private temp dir, no link is followed out of the report,
decompression bombs are bounded, planted FIFOs do not hang the run, and a truncated or
damaged tarball gives what could be read, or one clear error naming it."""
from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from hostmedic.engine.sources import ABSENT, DENIED, FAILED, OK, SosreportError, SosreportSource

from .fuzzkit import REPO

CASE = Path(REPO) / "tests" / "data" / "sosreports" / "guest-nfs-hang" / "sosreport"
TOP = "sosreport-hm-client-2024-11-21-abcdef"


def _add_tree(tar: tarfile.TarFile, tree: Path = CASE, top: str = TOP) -> None:
    for path in sorted(tree.rglob("*")):
        tar.add(path, arcname=f"{top}/{path.relative_to(tree)}", recursive=False)


def _file(tar: tarfile.TarFile, name: str, data: bytes = b"pwned\n", **kw) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
    for k, v in kw.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _link(tar: tarfile.TarFile, name: str, target: str, hard: bool = False) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def _files_under(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Where the source may unpack: TMPDIR points here, and nothing may appear beside it."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_traversal_absolute_and_link_members_stay_inside(tmp_path, private_tmp):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("untouched\n")
    tarball = tmp_path / "evil.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        _add_tree(tar)
        _file(tar, f"{TOP}/../../../victim/dotdot.txt")           # path traversal
        _file(tar, str(victim / "absolute.txt"))                   # absolute member name
        _link(tar, f"{TOP}/escape", str(victim))                   # absolute symlink ...
        _file(tar, f"{TOP}/escape/through-link.txt")               # ... then a file through it
        _link(tar, f"{TOP}/up", "../../../victim")                 # relative symlink out
        _file(tar, f"{TOP}/up/through-relative.txt")
        _link(tar, f"{TOP}/hard", str(victim / "keep.txt"), hard=True)  # hardlink out
        _link(tar, f"{TOP}/hard2", "../../victim/keep.txt", hard=True)
        _file(tar, f"{TOP}/fifo", b"", type=tarfile.FIFOTYPE)       # special files
        _file(tar, f"{TOP}/dev-sda", b"", type=tarfile.BLKTYPE, devmajor=8, devminor=0)
        _link(tar, f"{TOP}/proc/mounts-link", "/etc/shadow")        # a sos-looking link out
        _link(tar, f"{TOP}/date", "sos_commands/date/date")         # a link inside: fine
    before_victim = _files_under(victim)
    before_tmp_parent = set(os.listdir(tmp_path))
    with SosreportSource(str(tarball)) as src:
        unpacked = Path(src._tmp)
        assert stat.S_IMODE(os.stat(unpacked).st_mode) == 0o700  # private
        assert str(unpacked).startswith(str(private_tmp))
        for p in Path(unpacked).rglob("*"):
            assert not (p.is_fifo() or p.is_block_device() or p.is_char_device()), p
            if p.is_symlink():
                assert os.path.realpath(p).startswith(str(unpacked)), p
            assert p.stat(follow_symlinks=False).st_nlink == 1 or p.is_dir(), p
        assert src.read("version.txt").ok or src.run(["uname", "-a"]).ok
        assert src.read("date").ok  # the link inside the tree still works
        assert src.read("proc/mounts-link").status in (ABSENT, DENIED)
        skipped = " ".join(src.problems)
        for name in ("dotdot.txt", "escape", "up"):  # an absolute name lands inside, made relative
            assert name in skipped, skipped
    assert _files_under(victim) == before_victim
    assert (victim / "keep.txt").read_text() == "untouched\n"
    assert set(os.listdir(tmp_path)) == before_tmp_parent
    assert not os.path.exists(unpacked)  # removed on close


def test_symlinks_in_a_folder_are_never_followed_out(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:$6$hash\n")
    tree = tmp_path / "sos"
    shutil.copytree(CASE, tree, symlinks=True)
    (tree / "proc" / "mounts").unlink()
    (tree / "proc" / "mounts").symlink_to(secret)                      # absolute link out
    (tree / "etc" / "fstab").unlink()
    (tree / "etc" / "fstab").symlink_to(os.path.relpath(secret, tree / "etc"))  # relative link out
    (tree / "sos_commands" / "evil").symlink_to(tmp_path, target_is_directory=True)  # a plugin folder out
    (tree / "var" / "log").mkdir(parents=True, exist_ok=True)
    (tree / "var" / "log" / "outside").symlink_to(tmp_path, target_is_directory=True)
    (tree / "loop").symlink_to("loop")                                   # a link loop
    with SosreportSource(str(tree)) as src:
        for rel in ("proc/mounts", "etc/fstab", "var/log/outside/secret.txt", "loop"):
            r = src.read(rel)
            assert r.status != OK and "root:" not in r.text, rel
        assert src.read("proc/mounts").status == DENIED
        assert src.listdir("var/log/outside") == [] and src.listdir("sos_commands/evil") == []
        assert not src.sos_files("secret")
    done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--sosreport", tree, "--format", "html"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1, 2), done.stderr
    assert "root:$6$hash" not in done.stdout and "outside the sosreport" in done.stdout


def test_fifo_and_device_in_a_folder_do_not_hang(tmp_path):
    tree = tmp_path / "sos"
    shutil.copytree(CASE, tree, symlinks=True)
    (tree / "proc" / "mounts").unlink()
    os.mkfifo(tree / "proc" / "mounts")  # open() for reading would block forever
    (tree / "proc" / "meminfo").unlink(missing_ok=True)
    (tree / "proc" / "meminfo").symlink_to("/dev/zero")  # endless, but outside: refused
    started = time.monotonic()
    with SosreportSource(str(tree)) as src:
        r = src.read("proc/mounts")
        assert r.status == FAILED and "regular" in r.detail
        assert src.read("proc/meminfo").status == DENIED
    done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--sosreport", tree, "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1, 2), done.stderr
    assert time.monotonic() - started < 120


def test_decompression_bomb_is_bounded(tmp_path, private_tmp, monkeypatch):
    """A 64 MiB member of zeros (64 KiB compressed) against a 4 MiB member cap, and enough
    1 MiB members to pass the total cap: what lands on disk stays under the caps."""
    monkeypatch.setattr(SosreportSource, "MAX_MEMBER", 4 << 20)
    monkeypatch.setattr(SosreportSource, "MAX_UNPACKED", 8 << 20)
    tarball = tmp_path / "bomb.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        _add_tree(tar)
        _file(tar, f"{TOP}/sos_commands/logs/bomb", b"\0" * (64 << 20))
        for i in range(12):
            _file(tar, f"{TOP}/var/log/filler{i}", b"A" * (1 << 20))
    assert tarball.stat().st_size < 1 << 20
    with SosreportSource(str(tarball)) as src:
        written = sum(p.stat().st_size for p in Path(src.root).rglob("*") if p.is_file() and not p.is_symlink())
        assert written <= 8 << 20
        assert not (Path(src.root) / "sos_commands/logs/bomb").exists()
        assert any("bomb: skipped, too large" in p for p in src.problems)
        assert any("filler" in p and "too large" in p for p in src.problems)
        assert src.read("version.txt").ok or src.run(["uname", "-a"]).ok


def test_member_count_and_scanned_size_are_bounded(tmp_path, private_tmp, monkeypatch):
    monkeypatch.setattr(SosreportSource, "MAX_MEMBERS", 200)
    tarball = tmp_path / "many.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        _add_tree(tar)
        for i in range(5000):
            _file(tar, f"{TOP}/many/f{i}", b"")
    started = time.monotonic()
    with SosreportSource(str(tarball)) as src:
        assert len(list(Path(src._tmp).rglob("*"))) <= 250  # 200 members and their folders
        assert any("members" in p for p in src.problems)
    monkeypatch.setattr(SosreportSource, "MAX_MEMBERS", 500_000)
    monkeypatch.setattr(SosreportSource, "MAX_SCANNED", 16 << 20)
    tarball = tmp_path / "huge-skips.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        _add_tree(tar)
        for i in range(8):
            _file(tar, f"{TOP}/z{i}", b"\0" * (8 << 20))
    with SosreportSource(str(tarball)) as src:
        assert any("the rest was not read" in p for p in src.problems)
    assert time.monotonic() - started < 60


@pytest.fixture(scope="module")
def real_tarball(tmp_path_factory) -> Path:
    tarball = tmp_path_factory.mktemp("tar") / f"{TOP}.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        _add_tree(tar)
    return tarball


@pytest.mark.parametrize("keep", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_truncated_tarball_is_read_as_far_as_it_goes(real_tarball, tmp_path, keep):
    data = real_tarball.read_bytes()
    cut = tmp_path / f"cut-{keep}.tar.xz"
    cut.write_bytes(data[:int(len(data) * keep)])
    done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--sosreport", cut, "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr
    if done.returncode == 3:  # nothing at all could be read: one line naming the file
        assert str(cut) in done.stderr and len(done.stderr.strip().splitlines()) == 1
    else:
        assert done.returncode in (0, 1, 2), done.stderr
        assert "truncated" in done.stdout and str(cut) in done.stdout


@pytest.mark.parametrize("data", [b"", b"\0" * 10240, os.urandom(65536), b"\xfd7zXZ\0" + os.urandom(4000),
                                  b"\x1f\x8b\x08" + os.urandom(4000)], ids=["empty", "zeros", "random", "xz-junk", "gz-junk"])
def test_not_a_tarball_is_one_clear_error(tmp_path, data):
    bad = tmp_path / "sosreport-x.tar.xz"
    bad.write_bytes(data)
    done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--sosreport", bad],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1, 2, 3) and "Traceback" not in done.stderr
    if done.returncode == 3:
        assert str(bad) in done.stderr and len(done.stderr.strip().splitlines()) == 1
    with pytest.raises(SosreportError, match=str(bad)) if done.returncode == 3 else _nothing():
        SosreportSource(str(bad)).close()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
