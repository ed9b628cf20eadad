"""The record of every apply: a JSON line in /var/log/hostmedic/audit.jsonl (under --root
when given), and, where a systemd journal runs, a structured journal entry.

The file is opened O_APPEND and never rewritten: one line per attempt (applied, already
in place, refused, rolled back, failed). The journal entry carries the same facts as
HOSTMEDIC_* fields, so `journalctl HOSTMEDIC_FIX=fstrim-now` or
`journalctl MESSAGE_ID=<AUDIT_MESSAGE_ID>` finds every apply.
"""
from __future__ import annotations

import getpass
import json
import os
import time
from typing import Any

AUDIT_FILE = "var/log/hostmedic/audit.jsonl"
JOURNAL_SOCKET = "/run/systemd/journal/socket"  # where sd_journal_send() writes
AUDIT_MESSAGE_ID = "8e0f7c2a4b6d4e1f9a3c5b7d9e1f2a4c"  # one id for every hostmedic apply record
# How bad each result is, as a syslog priority (notice, warning, error).
PRIORITY = {"applied": 5, "unchanged": 6, "refused": 4, "rolled-back": 3, "failed": 3,
            "rollback-failed": 2}


def entry(fix, target, host, result: str, **more: Any) -> dict[str, Any]:
    """The audit record of one attempt."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    out = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "fix": fix.ID,
           "title": fix.TITLE, "scope": fix.SCOPE, "risk": fix.RISK, "target": target.describe(),
           "root": os.path.realpath(host.root), "user": user, "uid": os.getuid(),
           "sudo_user": os.environ.get("SUDO_USER", ""), "pid": os.getpid(), "result": result}
    if fix.SCOPE == "host":
        out["libvirt_uri"] = host.libvirt_uri
    out.update({k: v for k, v in more.items() if v not in (None, "", [])})
    return out


def append(host, record: dict[str, Any]) -> str:
    """Add one line to the audit log; returns its path."""
    path = host.state_path(AUDIT_FILE)
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # private even when it was made (or loosened) by someone else
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def journal_fields(record: dict[str, Any]) -> dict[str, str]:
    """What the journal entry carries: MESSAGE, PRIORITY and HOSTMEDIC_* fields."""
    target = record.get("target") or {}
    what = ", ".join(f"{k} {v if isinstance(v, str) else ','.join(v)}" for k, v in target.items())
    message = f"hostmedic fix {record['fix']}" + (f" on {what}" if what else "") + f": {record['result']}"
    if record.get("reason"):
        message += f" ({record['reason']})"
    fields = {"MESSAGE": message, "MESSAGE_ID": AUDIT_MESSAGE_ID,
              "PRIORITY": str(PRIORITY.get(record["result"], 5)),
              "SYSLOG_IDENTIFIER": "hostmedic",
              "HOSTMEDIC_FIX": record["fix"], "HOSTMEDIC_RESULT": record["result"],
              "HOSTMEDIC_RISK": record["risk"], "HOSTMEDIC_SCOPE": record["scope"],
              "HOSTMEDIC_ROOT": record["root"], "HOSTMEDIC_USER": record["user"]}
    for key in ("domain", "unit", "mount", "server"):
        if target.get(key):
            fields[f"HOSTMEDIC_{key.upper()}"] = str(target[key])
    if target.get("disks"):
        fields["HOSTMEDIC_DISKS"] = ",".join(target["disks"])
    for key in ("backup", "reason", "libvirt_uri", "sudo_user"):
        if record.get(key):
            fields[f"HOSTMEDIC_{key.upper()}"] = str(record[key])
    if record.get("problems"):
        fields["HOSTMEDIC_PROBLEMS"] = "; ".join(record["problems"])
    return fields


def to_journal(record: dict[str, Any], socket_path: str = JOURNAL_SOCKET) -> bool:
    """Send the record to the journal when one runs here; whether it was sent."""
    if not os.path.exists(socket_path):
        return False
    try:
        from systemd import journal
    except ImportError:
        return False
    fields = journal_fields(record)
    try:
        journal.send(fields.pop("MESSAGE"), **fields)
    except OSError:
        return False
    return True
