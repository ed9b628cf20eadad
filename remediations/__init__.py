"""Remediations: one module per fix.

Each module declares what it is and the four steps of its life:

    ID, TITLE           its public id (rules list it under `remediations:`) and one line
    SCOPE               guest (acts inside the VM) | host (acts on the KVM host, via libvirt)
    RISK                safe | disruptive | destructive (the worst step it can take)
    REVERSIBLE          whether rollback can restore the state before it
    NEEDS, TAKES        the target options it requires / also reads (--domain, --unit...)
    plan(values)        for findings: the steps proposed, shown in reports (None: not
                        applicable to this finding); nothing is touched
    preconditions(host, target) -> [problem]   what stops it from being applied now
    changes(host, target) -> [step]            the exact steps against the current state
                        (commands, libvirt calls, file diffs), shown before anything
                        happens; [] when the fix is already in place
    verify(host, target, done) -> [problem]    after applying: what is still wrong
    rollback            the started steps undone, last first (actions.py); a module may
                        define its own rollback(host, target, done)

`diagnose fix ID ...` (cli.py) drives them through runner.py: dry run by default, and on
--apply a lock, backups, verification, automatic rollback and an audit record. Diagnosing
never applies anything.
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
    "nfs-mount-options": "nfs_mount_options",
    "unit-after-network-online": "unit_after_network_online",
    "unit-limit-nofile": "unit_limit_nofile",
    "domain-sysrq-reboot": "domain_sysrq_reboot",
    "domain-destroy-start": "domain_destroy_start",
    "libvirt-guest-agent-channel": "libvirt_guest_agent_channel",
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


def apply_step(fix_id: str, say: str = "", **options: Any) -> dict[str, Any]:
    """The `diagnose fix` command that applies FIX_ID to this finding's target."""
    argv = ["diagnose", "fix", fix_id]
    for name, value in options.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item not in (None, "", False):
                argv += [f"--{name.replace('_', '-')}"] + ([] if item is True else [str(item)])
    return step(say or "Or let hostmedic do it (without --apply it only shows the exact change; "
                "with it, it backs up, verifies, and rolls back on failure):", argv + ["--apply"])


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
