"""NFS client statistics: per mount from /proc/self/mountstats, client-wide from nfsstat.

``nfs_mount_stats`` (joins ``mount`` facts on mountpoint and server): server, export,
mountpoint, fstype, vers, proto, hard, timeo, age_s, ops, retrans (transmissions beyond
one per request), major_timeouts (each one logged "nfs: server X not responding"),
op_timeouts ("WRITE 3, COMMIT 1" or "none"), worst_op, connects, bad_xids, text.

``nfs_client_rpc``: calls, retrans, authrefrsh, retrans_percent, text (from ``nfsstat -c``;
sos saves ``nfsstat -o all``, which holds the same "Client rpc stats" block).

/proc/self/mountstats (sos copies it with its filesys plugin)::

    device 192.168.1.1:/srv/test mounted on /mnt/nfs/test with fstype nfs4 statvers=1.1
        opts:   rw,vers=4.0,...,hard,proto=tcp,timeo=600,retrans=2,...
        age:    13968
        xprt:   tcp 832 0 1 0 11 6428 6428 0 12154 0 24 26 5726
        per-op statistics
                READ: 1298 1298 0 207680 1210292152 6 79386 79407

Per operation: requests, transmissions, major timeouts, bytes sent, bytes received,
queue ms, round trip ms, total ms (and errors on newer kernels). Reading these files
never touches the server, so a dead server cannot hang this collector.
"""
from __future__ import annotations

import re
from typing import Any

from hostmedic.engine.facts import Provenance
from hostmedic.engine.sources import MISSING

NAME = "nfs"
_DEVICE = re.compile(r"^device (?P<device>\S+) mounted on (?P<mountpoint>\S+) with fstype "
                     r"(?P<fstype>\S+)(?: statvers=(?P<statvers>\S+))?")
_OP = re.compile(r"^\s*(?P<op>[A-Z_0-9]+):\s+(?P<nums>\d{1,30}(?:\s+\d{1,30}){7,})\s*$")


def _unescape(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def parse_mountstats(text: str) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        m = _DEVICE.match(raw)
        if m:
            current = None
            if not m["fstype"].startswith("nfs"):
                continue
            device = _unescape(m["device"])
            server, _, export = device.rpartition(":")
            current = {"device": device, "server": server.strip("[]"), "export": export,
                       "mountpoint": _unescape(m["mountpoint"]), "fstype": m["fstype"],
                       "ops": 0, "retrans": 0, "major_timeouts": 0, "_ops": {}, "_line": lineno,
                       "_head": raw.strip()}
            mounts.append(current)
            continue
        if current is None:
            continue
        line = raw.strip()
        if line.startswith("opts:"):
            opts = dict((o.split("=", 1) + [""])[:2] for o in line[5:].strip().split(","))
            current.update(vers=opts.get("vers", "unknown"), proto=opts.get("proto", "unknown"),
                           hard="soft" not in opts, timeo=_int(opts.get("timeo")))
        elif line.startswith("age:"):
            current["age_s"] = _int(line[4:].strip())
        elif line.startswith("xprt:"):
            parts = line[5:].split()
            if parts and parts[0] == "tcp" and len(parts) > 8:
                current["connects"], current["bad_xids"] = _int(parts[3]), _int(parts[8])
            elif parts and parts[0] == "udp" and len(parts) > 5:
                current["bad_xids"] = _int(parts[5])
        else:
            o = _OP.match(raw)
            if o:
                nums = [int(n) for n in o["nums"].split()]
                ops, trans, timeouts = nums[0], nums[1], nums[2]
                current["ops"] += ops
                current["retrans"] += max(trans - ops, 0)
                current["major_timeouts"] += timeouts
                if timeouts:
                    current["_ops"][o["op"]] = timeouts
    for mnt in mounts:
        ops = mnt.pop("_ops")
        worst = sorted(ops.items(), key=lambda kv: -kv[1])
        mnt["op_timeouts"] = ", ".join(f"{op} {n}" for op, n in worst) or "none"
        mnt["worst_op"] = worst[0][0] if worst else "none"
        mnt["text"] = (f"{mnt.pop('_head')}: {mnt['ops']} requests, {mnt['retrans']} "
                       f"retransmissions, {mnt['major_timeouts']} major timeouts")
        for k in [k for k, v in mnt.items() if v is None]:
            del mnt[k]
    return mounts


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def parse_client_rpc(text: str) -> tuple[dict[str, Any], int] | None:
    """The "Client rpc stats:" block of nfsstat -c / -o all: (fields, line of the numbers)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("Client rpc stats:") and i + 2 < len(lines):
            names, values = lines[i + 1].split(), lines[i + 2].split()
            row = {n: _int(v) for n, v in zip(names, values)}
            if row.get("calls") is None:
                return None
            fields = {k: v for k, v in row.items() if v is not None}
            fields["retrans_percent"] = round(100.0 * (row.get("retrans") or 0) / row["calls"], 2) \
                if row["calls"] else 0.0
            fields["text"] = f"Client rpc stats: calls {row['calls']}, retrans {row.get('retrans')}"
            return fields, i + 3
    return None


def collect(ctx) -> None:
    stats = ctx.source.read("/proc/self/mountstats", sos_paths=["proc/self/mountstats"])
    mounts = parse_mountstats(stats.text) if stats.ok else []
    for mnt in mounts:
        line = mnt.pop("_line")
        ctx.add("nfs_mount_stats", mnt, Provenance("file", stats.name, line))
    rpc = ctx.source.run(["nfsstat", "-c"], sos_paths=["sos_commands/nfs/nfsstat_-o_all"])
    parsed = parse_client_rpc(rpc.text) if rpc.text else None
    if parsed:
        ctx.add("nfs_client_rpc", parsed[0], Provenance("command", rpc.name, parsed[1]))
    if not stats.ok:
        ctx.status(NAME, stats, hint="NFS mount statistics are missing; `mount -t nfs,nfs4` "
                   "still shows what is mounted")
    elif not mounts and not parsed:
        ctx.status(NAME, "not applicable", name=stats.name, detail="no NFS mounts",
                   hint="nothing to check: this host has no NFS mounts")
    else:
        detail = f"{len(mounts)} NFS mount(s)"
        if not parsed and rpc.status != MISSING and mounts:
            detail += f"; {rpc.name}: {rpc.detail or 'no client RPC statistics'}"
        ctx.status(NAME, "ok", name=stats.name, detail=detail)
