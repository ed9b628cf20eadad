"""systemd drop-ins: write one, and read back what systemd will make of the unit.

A drop-in /etc/systemd/system/UNIT.d/hostmedic-WHAT.conf changes one setting and leaves
the vendor unit alone (`systemctl revert UNIT` or deleting the file undoes it). What the
unit ends up with is read through `systemd-analyze cat-config systemd/system/UNIT`
(with --root=DIR for a tree): systemd's own search path and drop-in order, so a later
drop-in (such as `systemctl edit`'s override.conf) that sets the same thing again is seen,
and named, instead of being silently outranked.
"""
from __future__ import annotations

import os
import re

from hostmedic.remediations.actions import Note, WriteFile

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")
DROPIN_BASE = "/etc/systemd/system"
_HEADER = re.compile(r"^# (/\S+)$")
_SECTION = re.compile(r"^\[([^\]]+)\]\s*$")


def path(unit: str, what: str) -> str:
    return f"{DROPIN_BASE}/{unit}.d/hostmedic-{what}.conf"


def exists(host, unit: str) -> bool:
    """Whether the unit has a unit file on the target system (a template counts)."""
    names = [unit]
    if "@" in unit:
        names.append(unit.split("@", 1)[0] + "@." + unit.rsplit(".", 1)[1])
    if any(os.path.exists(host.path(f"{d}/{n}")) for d in UNIT_DIRS for n in names):
        return True
    if host.systemd_running():  # generated units live elsewhere; ask the manager
        ran = host.run(["systemctl", "show", "--property=LoadState", "--value", "--", unit])
        return ran.ok and ran.out.strip() == "loaded"
    return False


def settings(host, unit: str) -> tuple[dict[tuple[str, str], list[tuple[str, str]]], str]:
    """Every assignment systemd reads for UNIT, in order: {(section, key): [(value, file)]},
    and the problem when it could not be read."""
    argv = ["systemd-analyze"]
    if host.offline:
        argv.append(f"--root={os.path.realpath(host.root)}")
    ran = host.run(argv + ["cat-config", f"systemd/system/{unit}"])
    if not ran.ok:
        return {}, ran.why()
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    current_file, section, pending = "", "", ""
    for raw in ran.out.splitlines():
        header = _HEADER.match(raw)
        if header and os.path.exists(header.group(1)):
            current_file, section, pending = header.group(1), "", ""
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        match = _SECTION.match(line)
        if match:
            section = match.group(1)
        elif "=" in line:
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append((value.strip(), current_file))
    return out, ""


def last(found, section: str, key: str) -> tuple[str | None, str]:
    """The value a single-valued setting ends up with, and the file that set it."""
    values = found.get((section, key)) or []
    if not values or values[-1][0] == "":
        return None, values[-1][1] if values else ""
    return values[-1]


def listed(found, section: str, key: str) -> list[str]:
    """A list setting (After=, Wants=): every value, an empty assignment resetting it."""
    out: list[str] = []
    for value, _ in found.get((section, key)) or []:
        out = [] if value == "" else out + value.split()
    return out


def write(host, fix_id: str, unit: str, what: str, section: str, lines: list[str],
          why: str) -> list:
    """The drop-in, then daemon-reload when a running systemd should see it now."""
    text = (f"# Written by hostmedic (diagnose fix {fix_id}): {why}\n"
            f"# Remove this file (or run `systemctl revert {unit}`) to undo.\n"
            f"[{section}]\n" + "".join(f"{line}\n" for line in lines))
    reload = [host.systemctl("daemon-reload")] if host.systemd_running() else []
    steps = [WriteFile(host, path(unit, what), text,
                       f"Add a drop-in to {unit}" + (", then reload systemd" if reload else ""),
                       then=reload)]
    if not reload:
        steps.append(Note("systemctl daemon-reload skipped: " + (
            "--root acts on a tree; systemd reads the drop-in when that system boots"
            if host.offline else "systemd is not running here (not PID 1)")))
    return steps


def live_problems(host, unit: str, what: str) -> list[str]:
    """On a running systemd: the manager has loaded our drop-in."""
    if not host.systemd_running():
        return []
    ran = host.run(["systemctl", "show", "--property=DropInPaths", "--value", "--", unit])
    if not ran.ok:
        return [ran.why()]
    if path(unit, what) not in ran.out.split():
        return [f"systemd has not loaded {path(unit, what)} (DropInPaths: {ran.out.strip() or 'none'})"]
    return []
