"""Mounted file systems (/proc/mounts) and the fstab, with what rules join on:
the disk a file system sits on, the NFS server, and the systemd mount unit name."""
from __future__ import annotations

import re
from typing import Any

from hostmedic.engine.facts import Provenance
from hostmedic.engine.patterns import disk_of

NAME = "mounts"
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "glusterfs", "ceph", "fuse.sshfs", "9p"}
_PSEUDO_FS = {"proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "securityfs",
              "pstore", "debugfs", "tracefs", "mqueue", "hugetlbfs", "configfs", "fusectl",
              "bpf", "autofs", "binfmt_misc", "rpc_pipefs", "nsfs", "efivarfs", "overlay"}


def unit_name(path: str) -> str:
    """The systemd mount unit of a path, as `systemd-escape --path --suffix=mount` names it."""
    path = re.sub(r"/+", "/", path).strip("/")
    if not path:
        return "-.mount"
    out = []
    for i, ch in enumerate(path):
        if ch == "/":
            out.append("-")
        elif ch.isascii() and (ch.isalnum() or ch in ":_" or (ch == "." and i > 0)):
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
    return "".join(out) + ".mount"


def _unescape(field: str) -> str:
    """/proc/mounts and fstab write spaces and tabs as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mount_line(line: str) -> dict[str, Any] | None:
    parts = line.split()
    if len(parts) < 3 or parts[0].startswith("#"):
        return None
    device, mountpoint, fstype = _unescape(parts[0]), _unescape(parts[1]), parts[2]
    options = parts[3].split(",") if len(parts) > 3 else []
    fields: dict[str, Any] = {"device": device, "mountpoint": mountpoint, "fstype": fstype,
                              "options": ",".join(options), "ro": "ro" in options,
                              "discard": "discard" in options, "unit": unit_name(mountpoint),
                              "network": fstype in NETWORK_FS, "text": line.strip()}
    if fstype.startswith("nfs") and ":" in device:
        fields["server"], fields["export"] = device.rsplit(":", 1)[0].strip("[]"), device.rsplit(":", 1)[1]
    elif device.startswith("/dev/"):
        fields["disk"] = disk_of(device.rsplit("/", 1)[-1])
    return fields


def collect(ctx) -> None:
    mounts = ctx.source.read("/proc/mounts", sos_paths=["proc/mounts"])
    if not mounts.ok:
        mounts = ctx.source.run(["mount", "-l"], sos_paths=["sos_commands/filesys/mount_-l"])
    _add(ctx, "mount", mounts, skip_pseudo=True)
    fstab = ctx.source.read("/etc/fstab")
    _add(ctx, "fstab_entry", fstab, skip_pseudo=False)
    _discard(ctx)


_SIZE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<unit>[BKMGTPE]?)$")


def _discard(ctx) -> None:
    """Which block devices pass discards down (`lsblk -D`, which sos's block plugin saves):
    a virtual disk with DISC-MAX above 0 has discard='unmap' on the host side."""
    result = ctx.source.run(["lsblk", "-D"])
    if not result.ok:
        ctx.status(NAME, result, hint="cannot tell which disks pass discards to their storage")
        return
    rows = result.lines()
    header = rows[0].split() if rows else []
    if "DISC-MAX" not in header:
        ctx.status(NAME, "failed", detail=f"{result.name}: no DISC-MAX column", name=result.name)
        return
    col = header.index("DISC-MAX")
    for lineno, row in enumerate(rows[1:], 2):
        parts = row.split()
        if len(parts) <= col:
            continue
        name = re.sub(r"^[^\w]+", "", parts[0])  # tree drawing: "├─vda1", "`-vda1"
        m = _SIZE.match(parts[col])
        if not name or not m:
            continue
        ctx.add("block_discard", {"device": name, "disk": disk_of(name), "discard_max": parts[col],
                                  "supported": float(m["num"]) > 0,
                                  "text": f"{name}: DISC-MAX {parts[col]} (lsblk -D)"},
                Provenance("command", result.name, lineno))


def _add(ctx, kind: str, result, skip_pseudo: bool) -> None:
    if not result.ok:
        ctx.status(NAME, result, hint=f"{result.name} was not read, so {kind} facts are missing")
        return
    count = 0
    for lineno, line in enumerate(result.lines(), 1):
        if " on " in line and " type " in line:  # `mount -l` output
            m = re.match(r"^(\S+) on (\S+) type (\S+) \(([^)]*)\)", line)
            line = f"{m[1]} {m[2]} {m[3]} {m[4]}" if m else line
        fields = parse_mount_line(line)
        if fields is None or (skip_pseudo and fields["fstype"] in _PSEUDO_FS):
            continue
        ctx.add(kind, fields, Provenance("file", result.name, lineno))
        count += 1
    ctx.status(NAME, "ok", detail=f"{count} entries from {result.name}", name=result.name)
