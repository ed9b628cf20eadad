"""Remediations: one module per fix.

Each module declares ID, TITLE, SCOPE (guest|host), RISK (safe|disruptive|destructive),
REVERSIBLE, and ``plan(values)``: the exact steps, shown to the user before anything
happens, or None when the fix does not apply to this finding. ``diagnose`` only proposes; nothing here writes to a host.
"""
from __future__ import annotations

import importlib
import shlex
from typing import Any

MODULES = {
    "fstrim-now": "fstrim_now",
    "enable-fstrim-timer": "enable_fstrim_timer",
    "libvirt-disk-discard-ignore": "libvirt_disk_discard_ignore",
    "memballoon-autodeflate": "memballoon_autodeflate",
    "nfs-server-check": "nfs_server_check",
    "mount-timeout": "mount_timeout",
    "unit-stop-timeout": "unit_stop_timeout",
    "libvirt-resume-after-space": "libvirt_resume_after_space",
}


def pick(values: dict[str, Any], name: str, default: str = "") -> Any:
    """The first value of a field among a finding's matched facts and its context."""
    for item in values.values():
        if isinstance(item, dict) and item.get(name) not in (None, ""):
            return item[name]
    for facts in (values.get("context") or {}).values():
        for fields in facts:
            if fields.get(name) not in (None, ""):
                return fields[name]
    return default


def step(say: str, argv: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"say": say}
    if argv:
        out["run"] = argv
        out["command"] = shlex.join(argv)
    return out


def plan(remediation_id: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """The plan of one fix for one finding; an unknown id is reported, not fatal."""
    module_name = MODULES.get(remediation_id)
    if module_name is None:
        return {"id": remediation_id, "title": f"unknown remediation {remediation_id!r}",
                "steps": [], "risk": "unknown"}
    module = importlib.import_module(f"hostmedic.remediations.{module_name}")
    steps = module.plan(values)
    if steps is None:
        return None
    return {"id": module.ID, "title": module.TITLE, "scope": module.SCOPE, "risk": module.RISK,
            "reversible": module.REVERSIBLE, "steps": steps}
