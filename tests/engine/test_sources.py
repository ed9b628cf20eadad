"""Sources: real commands with real timeouts, and sosreports read in place."""
import os
import tarfile
import time

import pytest

from hostmedic.engine.sources import LocalSource, SosreportError, SosreportSource, sos_mangle


def test_missing_command_is_a_status_not_an_exception():
    r = LocalSource().run(["hostmedic-no-such-command", "--x"])
    assert r.status == "missing" and "not installed" in r.detail


def test_failing_command_keeps_exit_status_and_first_stderr_line():
    r = LocalSource().run(["sh", "-c", "echo boom >&2; exit 3"])
    assert (r.status, r.rc) == ("failed", 3) and "boom" in r.detail


def test_denied_is_recognised_from_stderr():
    r = LocalSource().run(["sh", "-c", "echo 'open /x: Permission denied' >&2; exit 1"])
    assert r.status == "denied"


def test_hung_command_and_its_children_are_killed_at_the_timeout():
    start = time.monotonic()
    r = LocalSource(timeout=0.5).run(["sh", "-c", "sleep 30 & sleep 30"])
    assert r.status == "timeout"
    assert time.monotonic() - start < 5


def test_unreadable_file_is_denied_or_absent(tmp_path):
    assert LocalSource().read(str(tmp_path / "nope")).status == "absent"


@pytest.mark.parametrize("argv,name", [
    (["smartctl", "-a", "/dev/sda"], "smartctl_-a_.dev.sda"),
    (["systemctl", "list-units", "--failed"], "systemctl_list-units_--failed"),
    (["journalctl", "--no-pager", "--catalog", "--boot", "-1"], "journalctl_--no-pager_--catalog_--boot_-1"),
    (["/usr/bin/virsh", "-r", "list", "--all"], "virsh_-r_list_--all"),
])
def test_sos_file_names(argv, name):
    assert sos_mangle(argv) == name


def _tree(root):
    (root / "sos_commands" / "block").mkdir(parents=True)
    (root / "sos_commands" / "block" / "lsblk_-D").write_text("NAME DISC-ALN DISC-GRAN DISC-MAX DISC-ZERO\n")
    (root / "proc").mkdir()
    (root / "proc" / "meminfo").write_text("MemTotal:       79680 kB\n")
    (root / "version.txt").write_text("sosreport: 4.5.6\n")
    return root


def test_sosreport_folder_commands_and_files(tmp_path):
    src = SosreportSource(str(_tree(tmp_path / "sosreport-h-1")))
    assert src.run(["lsblk", "-D"]).text.startswith("NAME")
    assert src.run(["lsblk", "-D"]).name == "sos_commands/block/lsblk_-D"
    assert src.read("/proc/meminfo").text.startswith("MemTotal")
    assert src.run(["dmesg"]).status == "absent"


def test_symlink_out_of_the_tree_is_not_followed(tmp_path):
    root = _tree(tmp_path / "sos")
    secret = tmp_path / "secret"
    secret.write_text("do not read")
    os.symlink(secret, root / "proc" / "cmdline")
    r = SosreportSource(str(root)).read("/proc/cmdline")
    assert r.status == "denied" and "outside" in r.detail


def test_tarball_is_read_in_place_and_left_untouched(tmp_path):
    root = _tree(tmp_path / "sosreport-h-2026-11-20-abcdef")
    tarball = tmp_path / "sosreport.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(root, arcname=root.name)
    before = (tarball.read_bytes(), os.stat(tarball).st_mtime)
    with SosreportSource(str(tarball)) as src:
        assert src.read("/proc/meminfo").ok
        unpacked = src.root
        assert not unpacked.startswith(str(tmp_path))
    assert not os.path.exists(unpacked), "the private temp dir is removed on close"
    assert (tarball.read_bytes(), os.stat(tarball).st_mtime) == before


def test_traversal_members_are_skipped(tmp_path):
    tarball = tmp_path / "evil.tar.gz"
    payload = tmp_path / "payload"
    payload.write_text("x")
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(payload, arcname="sos/version.txt")
        tar.add(payload, arcname="../../escaped")
    with SosreportSource(str(tarball)) as src:
        assert any("escaped" in p for p in src.problems)
    assert not (tmp_path.parent / "escaped").exists()


def test_garbage_tarball_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.tar.xz"
    bad.write_bytes(b"not a tarball at all")
    with pytest.raises(SosreportError, match="bad.tar.xz"):
        SosreportSource(str(bad))
