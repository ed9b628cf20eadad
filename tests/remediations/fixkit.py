"""Helpers for the remediation tests: a system tree to fix, a libvirt test-driver
connection, and ways to run a fix (the API, and the real `diagnose fix` command)."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from hostmedic.remediations import runner
from hostmedic.remediations.host import Host
from hostmedic.remediations.target import Target

TESTS = Path(__file__).resolve().parent.parent
DATA = TESTS / "data"
FIXTURES = DATA / "remediations"
FSTAB = DATA / "sosreports" / "guest-nfs-hang" / "sosreport" / "etc" / "fstab"
LAB_XML = DATA / "libvirt" / "sos-kvmhost" / "etc" / "libvirt" / "qemu"
TEST_URI = "test:///default"


def make_tree(tmp_path) -> Path:
    """A guest's tree: its fstab (0644) and unit files in /usr/lib/systemd/system."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    shutil.copy(FSTAB, root / "etc" / "fstab")
    os.chmod(root / "etc" / "fstab", 0o644)
    units = root / "usr" / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    for unit in (FIXTURES / "units").iterdir():
        shutil.copy(unit, units / unit.name)
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and symlink under ROOT but hostmedic's own, with its content and mode
    (empty folders left by `systemctl disable` do not count)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel.startswith(("var/lib/hostmedic", "var/log/hostmedic", "run/hostmedic")):
            continue
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            out[rel] = ("file", path.read_text(), stat.S_IMODE(st.st_mode))
    return out


def lab_xml(name: str = "hm-full") -> str:
    return (LAB_XML / f"{name}.xml").read_text()


def define(conn, xml: str, start: bool = False):
    dom = conn.defineXML(xml)
    if start:
        dom.create()
    return dom


def fix(fix_id: str, root=None, conn=None, apply=True, yes=True, allow_disruptive=False, state=None,
        **target):
    """Run a fix through the API; without a root, STATE holds the lock, backups and audit log."""
    host = Host(root=str(root) if root else "/", libvirt_uri=TEST_URI, conn=conn,
                state_root=str(state) if state else None)
    return runner.run(fix_id, Target(**target), host, apply=apply, yes=yes,
                      allow_disruptive=allow_disruptive)


def diagnose(*args, stdin=subprocess.DEVNULL, **kw) -> subprocess.CompletedProcess:
    """The real command, in a new session: no controlling terminal, as under cron."""
    return subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", *map(str, args)],
                          capture_output=True, text=True, stdin=stdin, start_new_session=True,
                          timeout=120, **kw)


def audit_lines(root: Path) -> list[dict]:
    import json
    path = Path(root) / "var" / "log" / "hostmedic" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
