"""Helpers for the journal and logfiles collector tests (imported, not a conftest).

Fixtures live in tests/data/journal/ (see its README.md for how each was made).
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "journal"

BOOT_PREV = "6f0c4a2b8e1d4f3a9b7c5d2e1f0a3b4c"  # ends mid-shutdown (hard cut)
BOOT_CUR = "0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a"
MACHINE_ID = "3f2a9c0e5b7d4e1f8a6c2b0d9e7f5a13"
PREV_START = 1732180200.0  # 2024-11-21 09:10:00 UTC
CUR_START = 1732181100.0  # 2024-11-21 09:25:00 UTC


def journal_remote() -> str | None:
    for path in ("/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"):
        if os.access(path, os.X_OK):
            return path
    return shutil.which("systemd-journal-remote")


def export_entry(fields: list[tuple[str, str | bytes]]) -> bytes:
    """One entry in Journal Export Format; bytes values (or values with a newline) are
    written in the binary form: NAME, newline, little-endian 64-bit size, data, newline."""
    out = b""
    for name, value in fields:
        data = value if isinstance(value, bytes) else value.encode()
        if isinstance(value, bytes) or b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return out + b"\n"


def odd_entries() -> bytes:
    """Entries real journals hold now and then, in the current boot after the fixture's last."""
    base = int(CUR_START * 1e6)

    def head(sec: float) -> list[tuple[str, str | bytes]]:
        us = int(sec * 1e6)
        return [("__REALTIME_TIMESTAMP", str(base + us)), ("__MONOTONIC_TIMESTAMP", str(1_200_000 + us)),
                ("_BOOT_ID", BOOT_CUR), ("_MACHINE_ID", MACHINE_ID), ("_HOSTNAME", "hm-client")]

    return b"".join([
        # MESSAGE that is not UTF-8
        export_entry(head(7.0) + [("_TRANSPORT", "stdout"), ("PRIORITY", "3"), ("SYSLOG_IDENTIFIER", "hm-odd"),
                                  ("_PID", "501"), ("_SYSTEMD_UNIT", "hm-odd.service"),
                                  ("MESSAGE", b"bad byte \xff\xfe in output")]),
        # MESSAGE given twice: journalctl shows the first
        export_entry(head(7.1) + [("_TRANSPORT", "journal"), ("PRIORITY", "4"), ("SYSLOG_IDENTIFIER", "hm-dup"),
                                  ("_PID", "502"), ("MESSAGE", "first copy"), ("MESSAGE", "second copy")]),
        # a kernel entry without SYSLOG_IDENTIFIER
        export_entry(head(7.2) + [("_TRANSPORT", "kernel"), ("PRIORITY", "6"),
                                  ("MESSAGE", "virtio_balloon virtio3: Out of puff! Can't get 1 pages")]),
        # no _PID, only SYSLOG_PID; a multi-line message
        export_entry(head(7.3) + [("_TRANSPORT", "syslog"), ("PRIORITY", "4"), ("SYSLOG_IDENTIFIER", "hm-legacy"),
                                  ("SYSLOG_PID", "777"), ("MESSAGE", "line one\nline two")]),
        # no MESSAGE at all: skipped, as journalctl does
        export_entry(head(7.4) + [("_TRANSPORT", "journal"), ("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", "hm-nomsg"),
                                  ("CODE_FILE", "x.c")]),
    ])


def build_journal(out: Path, export: bytes) -> list[Path]:
    """Write journal file(s) at out (FILE.journal) from export-format bytes with the real
    systemd-journal-remote; returns the files it made (it may rotate into name@...journal)."""
    tool = journal_remote()
    assert tool, "systemd-journal-remote is not installed"
    out.parent.mkdir(parents=True, exist_ok=True)
    before = set(out.parent.glob("*.journal"))
    proc = subprocess.run([tool, f"--output={out}", "-"], input=export, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    made = sorted(set(out.parent.glob("*.journal")) - before)
    assert made, proc.stderr.decode(errors="replace")
    return made


def two_boots_export(with_odd: bool = True) -> bytes:
    data = (DATA / "two_boots.export").read_bytes()
    return data + (odd_entries() if with_odd else b"")


def make_sosreport(top: Path, files: dict[str, str | Path], name: str = "sosreport-hm-client-2024-11-21-qwerty") -> Path:
    """A sosreport folder: rel path -> fixture file (Path) or text (str)."""
    root = top / name
    for rel, content in files.items():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, dest)
        else:
            dest.write_text(content, encoding="utf-8")
    (root / "sos_commands").mkdir(parents=True, exist_ok=True)
    return root


SOS_DATE = "Thu Nov 21 09:30:12 UTC 2024\n"
SOS_UPTIME = " 09:30:12 up 5 min,  0 users,  load average: 0.31, 0.22, 0.09\n"


def sos_files(*, full: bool = True, pair: bool = True, syslog: bool = False, dmesg: bool = False,
              list_boots: bool = False, extra: dict[str, str | Path] | None = None) -> dict[str, str | Path]:
    """The files a Debian sos 4.0 report of the fixture host holds (choose which)."""
    files: dict[str, str | Path] = {
        "sos_commands/date/date": SOS_DATE,
        "sos_commands/date/date_--utc": SOS_DATE,
        "sos_commands/host/uptime": SOS_UPTIME,
        "sos_commands/logs/journalctl_--disk-usage":
            "Archived and active journals take up 16.0M in the file system.\n",
        "sos_commands/libvirt/journalctl_--no-pager_--unit_libvirtd":
            "Nov 21 09:25:04 hm-client libvirtd[450]: libvirt version: 9.0.0, package: 9.0.0-4 (Debian)\n",
        "version.txt": "sosreport: 4.0\n",
    }
    if full:
        files["sos_commands/logs/journalctl_--no-pager"] = DATA / "journalctl_--no-pager.txt"
    if pair:
        files["sos_commands/logs/journalctl_--no-pager_--catalog_--boot"] = \
            DATA / "journalctl_--no-pager_--catalog_--boot.txt"
        files["sos_commands/logs/journalctl_--no-pager_--catalog_--boot_-1"] = \
            DATA / "journalctl_--no-pager_--catalog_--boot_-1.txt"
    if syslog:
        files["var/log/syslog"] = DATA / "syslog"
        files["var/log/kern.log"] = DATA / "kern.log"
    if dmesg:
        files["sos_commands/kernel/dmesg"] = DATA / "dmesg"
    if list_boots:  # sos's systemd plugin
        files["sos_commands/systemd/journalctl_--list-boots"] = DATA / "journalctl_--list-boots.txt"
    files.update(extra or {})
    return files
