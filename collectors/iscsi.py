"""iSCSI initiator sessions (open-iscsi): one ``iscsi_session`` fact per session.

Fields: target (IQN), portal (ip:port,tpgt), sid, iface, connection_state (LOGGED IN,
TRANSPORT WAIT, ...), session_state (LOGGED_IN, FAILED, FREE), internal_state (NO CHANGE,
REOPEN, ...), disks (attached SCSI disks, "sdb,sdc" or "none"), disk_states, text.

``iscsiadm -m session -P 3`` (sos: sos_commands/iscsi/iscsiadm_-m_session_-P_3)::

    Target: iqn.2001-04.com.nas-0-1-vol2
        Current Portal: 10.2.20.247:3260,1
            SID: 69
            iSCSI Connection State: TRANSPORT WAIT
            iSCSI Session State: FREE
            Internal iscsid Session State: REOPEN
                Attached scsi disk sdc      State: transport-offline

With no session iscsiadm prints "iscsiadm: No active sessions." and exits 21; without
open-iscsi there is nothing to check (not an error).
"""
from __future__ import annotations

import re
from typing import Any

from hostmedic.engine.facts import Provenance
from hostmedic.engine.sources import ABSENT, MISSING

NAME = "iscsi"
ARGV = ["iscsiadm", "-m", "session", "-P", "3"]
_FIELDS = {"current portal": "portal", "sid": "sid", "iface name": "iface",
           "iscsi connection state": "connection_state", "iscsi session state": "session_state",
           "internal iscsid session state": "internal_state"}


def parse_sessions(text: str) -> list[dict[str, Any]]:
    sessions: list[dict[str, Any]] = []
    target, current = None, None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = re.match(r"^Target:\s*(?P<iqn>\S+)", line)
        if m:
            target, current = m["iqn"], None
            continue
        m = re.match(r"^(?P<k>[A-Za-z][\w ]+?):\s*(?P<v>.*)$", line)
        if m and m["k"].lower() in _FIELDS:
            key = _FIELDS[m["k"].lower()]
            if key == "portal" or current is None:
                current = {"target": target or "unknown", "disks": [], "disk_states": [],
                           "_line": lineno}
                sessions.append(current)
            current[key] = int(m["v"]) if key == "sid" and m["v"].isdecimal() and len(m["v"]) <= 18 else m["v"]
            continue
        d = re.match(r"^Attached scsi disk (?P<disk>\S+)\s+State:\s*(?P<state>\S+)", line)
        if d and current is not None:
            current["disks"].append(d["disk"])
            current["disk_states"].append(f"{d['disk']} {d['state']}")
    for s in sessions:
        s["disks"] = ",".join(s["disks"]) or "none"
        s["disk_states"] = ", ".join(s["disk_states"]) or "none"
        for key in ("connection_state", "session_state", "internal_state"):
            s.setdefault(key, "unknown")
        s["text"] = (f"{s['target']} via {s.get('portal', '?')} (SID {s.get('sid', '?')}): "
                     f"connection {s['connection_state']}, session {s['session_state']}, "
                     f"disks {s['disk_states']}")
    return sessions


def collect(ctx) -> None:
    res = ctx.source.run(ARGV, sos_paths=["sos_commands/iscsi/iscsiadm_-m_session_-P_3"])
    if res.status == MISSING or (res.status == ABSENT and ctx.source.kind == "sosreport"):
        ctx.status(NAME, "not applicable", name=res.name,
                   hint="nothing to check unless this host should have iSCSI disks "
                        "(they need open-iscsi)",
                   detail="iscsiadm is not installed (no open-iscsi): no iSCSI sessions to check"
                   if res.status == MISSING else "not collected: sos runs its iscsi plugin only "
                   "where open-iscsi is installed")
        return
    no_sessions = "No active sessions" in res.text or "No active sessions" in res.detail
    if no_sessions:
        ctx.status(NAME, "ok", name=res.name, detail="no active iSCSI sessions")
        return
    sessions = parse_sessions(res.text)
    if not res.ok and not sessions:  # a failure, not "0 sessions", even with some output
        hint = ("sos saves it with its iscsi plugin (installed open-iscsi only)"
                if ctx.source.kind == "sosreport" else "run diagnose as root")
        ctx.status(NAME, res, hint=hint)
        return
    for s in sessions:
        line = s.pop("_line")
        ctx.add("iscsi_session", s, Provenance("command", res.name, line))
    ctx.status(NAME, "ok", name=res.name, detail=f"{len(sessions)} iSCSI session(s)")
