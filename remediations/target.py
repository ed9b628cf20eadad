"""What a fix is asked to act on, and the checks that keep host text out of trouble.

Every value that ends up in a file (a drop-in, fstab) or in a command is checked here
first: a unit name, a time span, a limit. Nothing is ever passed through a shell.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

UNIT_TYPES = ("service", "socket", "target", "device", "mount", "automount", "swap", "timer",
              "path", "slice", "scope")
_UNIT = re.compile(r"^[A-Za-z0-9:_.\\@-]+\.(?:" + "|".join(UNIT_TYPES) + r")$")
_SPAN_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(usec|us|msec|ms|seconds|second|sec|s|minutes|minute|"
                        r"min|m|hours|hour|hr|h|days|day|d|weeks|week|w)?")
_SECONDS = {"us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1, "sec": 1, "second": 1,
            "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600,
            "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400,
            "w": 604800, "week": 604800, "weeks": 604800}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$", re.I)


class BadValue(ValueError):
    """A value given on the command line that a fix will not use."""


@dataclass
class Target:
    """The object of one fix and its settings, as given on the command line."""

    domain: str = ""
    disks: list[str] = field(default_factory=list)
    unit: str = ""
    mount: str = ""
    server: str = ""
    stop_timeout: str = "30s"
    mount_timeout: str = "30s"
    nofile: str = "65536:524288"
    min_free: str = "1G"
    automount: bool | None = None  # nfs-mount-options: on unless --no-automount
    soft: bool = False
    timeo: int | None = None
    retrans: int | None = None
    accept_data_risk: bool = False
    restart: bool = False

    def describe(self) -> dict:
        """The fields that name what was acted on, for the plan header and the audit log."""
        out = {k: getattr(self, k) for k in ("domain", "unit", "mount", "server") if getattr(self, k)}
        if self.disks:
            out["disks"] = list(self.disks)
        return out

    def name(self) -> str:
        return self.domain or self.unit or self.mount or self.server or ""


def unit_name(name: str) -> str:
    """A unit name as systemctl takes it: no suffix means .service."""
    if not any(name.endswith("." + kind) for kind in UNIT_TYPES):
        name += ".service"
    if not _UNIT.match(name) or len(name) > 255:
        raise BadValue(f"{name!r} is not a systemd unit name")
    return name


def seconds(span: str) -> float:
    """A systemd time span ("30s", "1min 30s", "90") in seconds; "infinity" is inf."""
    text = span.strip()
    if text == "infinity":
        return float("inf")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    total, pos = 0.0, 0
    for match in _SPAN_PART.finditer(text):
        if text[pos:match.start()].strip() or not match.group(0).strip():
            raise BadValue(f"{span!r} is not a time span (e.g. 30s, 2min, 1min 30s)")
        total += float(match.group(1)) * _SECONDS[match.group(2) or "s"]
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        raise BadValue(f"{span!r} is not a time span (e.g. 30s, 2min, 1min 30s)")
    return total


def time_span(span: str, spaces: bool = True) -> str:
    """A checked time span, spelled as given (it goes into a file as is); an fstab option
    cannot hold a space, so there it must be one word (90s, not 1min 30s)."""
    seconds(span)
    if not re.fullmatch(r"[0-9a-z. ]+" if spaces else r"[0-9a-z.]+", span.strip()):
        raise BadValue(f"{span!r} is not a time span" + (" (e.g. 30s, 2min, 1min 30s)" if spaces
                                                         else " without spaces (e.g. 30s, 2min, 90s)"))
    return span.strip()


def count(value, name: str) -> int:
    """A positive whole number (timeo=, retrans=)."""
    if not isinstance(value, int) or value <= 0:
        raise BadValue(f"{name} must be a positive whole number, not {value!r}")
    return value


def nofile(value: str) -> tuple[str, str]:
    """LimitNOFILE= as (soft, hard): "N" means both, "S:H" each."""
    match = re.fullmatch(r"(\d+|infinity)(?::(\d+|infinity))?", value.strip())
    if not match:
        raise BadValue(f"{value!r} is not a file limit (e.g. 65536 or 65536:524288)")
    soft, hard = match.group(1), match.group(2) or match.group(1)
    if float(soft if soft != "infinity" else "inf") > float(hard if hard != "infinity" else "inf"):
        raise BadValue(f"{value!r}: the soft limit is above the hard one")
    return soft, hard


def size_bytes(value: str) -> int:
    """1G, 500M, 2048 (bytes)."""
    match = _SIZE.match(value.strip())
    if not match:
        raise BadValue(f"{value!r} is not a size (e.g. 1G, 500M)")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[match.group(2).upper()]
    return int(float(match.group(1)) * scale)


def mount_path(value: str) -> str:
    """A mount point: an absolute path without the characters fstab cannot hold raw."""
    if not value.startswith("/") or "\n" in value or "\0" in value:
        raise BadValue(f"{value!r} is not a mount point (an absolute path such as /mnt/nfs)")
    return value.rstrip("/") or "/"
