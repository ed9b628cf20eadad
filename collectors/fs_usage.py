"""How full each file system is, and which one holds each libvirt domain's disk image.

``fs_usage``: filesystem, mountpoint, size_kib, used_kib, avail_kib, use_percent, text.
``disk_backing`` (one per file-backed domain disk, from the ``domain_disk`` facts the
libvirt collector made): domain, target, source, mountpoint (the longest mountpoint that
is a prefix of the image path), filesystem, use_percent, avail_kib, size_kib, text.
A rule can then say "domain D paused: its disk vda (/srv/hm-tiny/hm-full.qcow2) lives on
/srv/hm-tiny, which is 100% full".

``df -al -x autofs`` (sos: sos_commands/filesys/df_-al_-x_autofs, linked as ``df`` at the top
of the report)::

    Filesystem     1K-blocks     Used Available Use% Mounted on
    proc                   0        0         0    - /proc
    /dev/vda       264212084 23419624  82971288  23% /
    tmpfs              65536    65536         0 100% /srv/hm-tiny

df asks every file system for its size, so a dead NFS server can hang it: on a timeout the
local file systems are read again alone (``df -l``).
"""
from __future__ import annotations

import posixpath
import re
from typing import Any

from hostmedic.engine.facts import Provenance
from hostmedic.engine.sources import TIMEOUT

NAME = "fs_usage"
ARGV = ["df", "-al", "-x", "autofs"]
SOS_PATHS = ["sos_commands/filesys/df_-al_-x_autofs", "df"]
_ROW = re.compile(r"^(?P<fs>.+?)\s+(?P<size>\d{1,30}|-)\s+(?P<used>\d{1,30}|-)\s+(?P<avail>\d{1,30}|-)\s+"
                  r"(?P<pct>\d{1,30}%|-)\s+(?P<mnt>/.*)$")


def parse_df(text: str) -> list[dict[str, Any]]:
    """Rows with a size (pseudo file systems print 0 and "-"); a device name too long for
    its column puts the numbers on the next line (older coreutils): joined back."""
    rows: list[dict[str, Any]] = []
    lines = text.splitlines()
    if not lines or not re.match(r"^Filesystem\s+1K-blocks\s", lines[0]):
        return rows
    pending = ""
    for lineno, raw in enumerate(lines[1:], 2):
        line = (pending + " " + raw.strip()).strip() if pending else raw.rstrip()
        m = _ROW.match(line)
        if not m:
            pending = line if len(line.split()) == 1 else ""
            continue
        pending = ""
        if m["size"] == "-" or m["size"] == "0":
            continue
        size, used, avail = (int(m[k]) if m[k] != "-" else 0 for k in ("size", "used", "avail"))
        rows.append({"filesystem": m["fs"].strip(), "mountpoint": m["mnt"], "size_kib": size,
                     "used_kib": used, "avail_kib": avail,
                     "use_percent": int(m["pct"].rstrip("%")) if m["pct"] != "-" else 0,
                     "text": line.strip(), "_line": lineno})
    return rows


def backing_of(path: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The file system holding path: the longest mountpoint prefix; of two rows with the
    same mountpoint, the later one (mounted on top) wins."""
    path = posixpath.normpath(path)
    best = None
    for row in rows:
        mnt = row["mountpoint"]
        if path == mnt or path.startswith(mnt.rstrip("/") + "/"):
            if best is None or len(mnt) >= len(best["mountpoint"]):
                best = row
    return best


def collect(ctx) -> None:
    res = ctx.source.run(ARGV, sos_paths=SOS_PATHS)
    if res.status == TIMEOUT:
        local = ctx.source.run(["df", "-al", "-l", "-x", "autofs"])
        ctx.status(NAME, res, hint="a network file system did not answer (a hung NFS mount?); "
                   "only local file systems were measured")
        res = local
    if not res.ok and not res.text.strip():
        ctx.status(NAME, res, hint="file system usage is unknown, so a full disk under a "
                   "paused domain cannot be named")
        return
    rows = parse_df(res.text)
    if not rows:
        ctx.status(NAME, "failed", name=res.name, detail=f"{res.name}: no df table in the output")
        return
    for row in rows:
        line = row.pop("_line")
        ctx.add("fs_usage", row, Provenance("command", res.name, line))
    n = _backing(ctx, rows, res.name)
    ctx.status(NAME, "ok", name=res.name, detail=f"{len(rows)} file system(s)"
               + (f", {n} domain disk(s) placed on them" if n else ""))


def _backing(ctx, rows: list[dict[str, Any]], name: str) -> int:
    count = 0
    for disk in list(ctx.facts.of_kind("domain_disk")):
        f = disk.fields
        source = f.get("source") or ""
        if f.get("source_type") not in (None, "file") or not source.startswith("/"):
            continue  # block devices, pools, network disks: df cannot tell
        row = backing_of(source, rows)
        if row is None:
            continue
        count += 1
        ctx.add("disk_backing", {
            "domain": f.get("domain"), "target": f.get("target"), "source": source,
            "mountpoint": row["mountpoint"], "filesystem": row["filesystem"],
            "use_percent": row["use_percent"], "avail_kib": row["avail_kib"],
            "size_kib": row["size_kib"],
            "text": f"{f.get('domain')} {f.get('target')}: {source} is on {row['mountpoint']} "
                    f"({row['filesystem']}, {row['use_percent']}% used, {row['avail_kib']} KiB "
                    f"free)"}, Provenance("derived", f"{name} + domain {f.get('domain')} disks"))
    return count
