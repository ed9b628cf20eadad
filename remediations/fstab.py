"""fstab: find one entry, change its options and nothing else, and have util-linux check it.

Only the options field of the one matching line is rewritten; comments, spacing and every
other line stay byte for byte. `findmnt --verify --tab-file FILE` runs before and after the
edit (an edit must not add a parse error, nor an error on its entry), and the options are
read back through util-linux's own parser (`findmnt --tab-file FILE --mountpoint M`).
Note that findmnt checks targets and sources against the running system, also for a tree
given with --root.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

FSTAB = "/etc/fstab"
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "glusterfs", "ceph", "fuse.sshfs",
              "fuse.glusterfs", "davfs", "ncpfs", "ocfs2", "gfs2"}
NFS = {"nfs", "nfs4"}
_SUMMARY = re.compile(r"(\d+) parse errors?, (\d+) errors?, (\d+) warnings?")


def decode(text: str) -> str:
    """fstab's octal escapes (\\040 is a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


@dataclass
class Entry:
    index: int  # line index in the file
    parts: list[str]  # fields and the whitespace between them, as written
    source: str
    target: str
    fstype: str
    options: list[str]


def entries(text: str) -> list[Entry]:
    out = []
    for index, line in enumerate(text.splitlines()):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = re.split(r"(\s+)", line.strip())
        fields = parts[0::2]
        if len(fields) < 3:
            continue
        options = fields[3].split(",") if len(fields) > 3 else ["defaults"]
        out.append(Entry(index, parts, decode(fields[0]), decode(fields[1]).rstrip("/") or "/",
                         fields[2], options))
    return out


def find(text: str, mountpoint: str) -> list[Entry]:
    return [e for e in entries(text) if e.target == mountpoint]


def option_map(options: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for opt in options:
        key, sep, value = opt.partition("=")
        out[key] = value if sep else None
    return out


def merged(options: list[str], add: dict[str, str | None], remove: set[str] = frozenset()) -> list[str]:
    """OPTIONS with ADD set (replacing a different value in place) and REMOVE taken out."""
    out, seen = [], set()
    for opt in options:
        key = opt.partition("=")[0]
        if key in remove:
            continue
        if key in add:
            if key in seen:
                continue
            opt = key if add[key] is None else f"{key}={add[key]}"
            seen.add(key)
        out.append(opt)
    out += [key if value is None else f"{key}={value}" for key, value in add.items() if key not in seen]
    return out


def with_options(text: str, entry: Entry, options: list[str]) -> str:
    """TEXT with ENTRY's options field replaced; every other byte kept."""
    lines = text.splitlines(keepends=True)
    line = lines[entry.index]
    body = line.rstrip("\r\n")
    ending, trailing = line[len(body):], body[len(body.rstrip()):]
    indent = body[:len(body) - len(body.lstrip())]
    parts = list(entry.parts)
    if len(parts) >= 7:
        parts[6] = ",".join(options)
    else:  # no options field: add it, with the usual dump and pass fields
        parts += [" ", ",".join(options), " ", "0", " ", "0"]
    lines[entry.index] = indent + "".join(parts) + trailing + ending
    return "".join(lines)


@dataclass
class Check:
    """What `findmnt --verify` said about a table."""

    ran: bool
    parse_errors: int = 0
    errors: int = 0
    warnings: int = 0
    by_target: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""


def verify(host, path: str) -> Check:
    ran = host.run(["findmnt", "--verify", "--tab-file", path])
    text = ran.out + ran.err
    summary = _SUMMARY.search(text)
    if summary is None:
        return Check(False, text=text.strip())
    by_target: dict[str, list[str]] = {}
    current = ""
    for line in ran.out.splitlines():
        if line and not line[0].isspace():
            current = line.strip()
        elif line.strip().startswith("[E]"):
            by_target.setdefault(current, []).append(line.strip())
    return Check(True, *map(int, summary.groups()), by_target=by_target, text=text.strip())


def read_back(host, path: str, mountpoint: str) -> list[str] | None:
    """The entry's options as util-linux parses them, or None when it finds no entry."""
    ran = host.run(["findmnt", "--tab-file", path, "--mountpoint", mountpoint, "--json",
                    "--output", "TARGET,OPTIONS"])
    if not ran.ok:
        return None
    try:
        found = json.loads(ran.out)["filesystems"]
    except (ValueError, KeyError):
        return None
    return found[0]["options"].split(",") if found else None


def mountpoint_of(host, value: str) -> str:
    """A mount point from a path or a mount unit name (mnt-nfs.mount -> /mnt/nfs)."""
    if value.endswith(".mount") and not value.startswith("/"):
        ran = host.run(["systemd-escape", "--unescape", "--path", "--", value[:-len(".mount")]])
        if ran.ok and ran.out.strip():
            return ran.out.strip()
    return value
