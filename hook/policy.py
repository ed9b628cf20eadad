"""Which fixes the post-reboot hook may apply by itself: none, unless a policy file says so.

    # /etc/hostmedic/postboot-policy.yaml
    allow: [unit-stop-timeout, enable-fstrim-timer]   # remediation ids (diagnose fix --list)
    allow_disruptive: false                            # default false: safe steps only

A fix runs only when a finding proposes it with its exact target, and its id is listed.
It then goes through the same runner as `diagnose fix ID ... --apply --yes`: lock,
preconditions, backups, verification, rollback and the audit record. A disruptive or
destructive plan is refused unless allow_disruptive is true.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from hostmedic.remediations import MODULES


class PolicyError(Exception):
    """The policy file is unreadable or names an unknown fix; the message says which."""


@dataclass
class Policy:
    allow: set[str] = field(default_factory=set)
    allow_disruptive: bool = False
    path: str = ""


def load(path: str) -> Policy:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as err:
        raise PolicyError(f"cannot read the policy {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise PolicyError(f"the policy {path} is not valid YAML ({err})") from err
    data = data if data is not None else {}
    if not isinstance(data, dict) or set(data) - {"allow", "allow_disruptive"}:
        raise PolicyError(f"the policy {path} may hold only `allow: [fix-id, ...]` and "
                          "`allow_disruptive: true|false`")
    allow = data.get("allow") or []
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise PolicyError(f"the policy {path}: `allow` must be a list of fix ids")
    unknown = sorted(set(allow) - set(MODULES))
    if unknown:
        raise PolicyError(f"the policy {path} allows unknown fix(es) {', '.join(unknown)} "
                          "(`diagnose fix --list` shows the ids)")
    if not isinstance(data.get("allow_disruptive", False), bool):
        raise PolicyError(f"the policy {path}: `allow_disruptive` must be true or false")
    return Policy(set(allow), bool(data.get("allow_disruptive", False)), path)


def _apply_argv(remediation: dict[str, Any]) -> list[str] | None:
    """The `diagnose fix ID --target ... --apply` command a finding's plan proposes."""
    for step in remediation.get("steps") or []:
        run = step.get("run") or []
        if run[:3] == ["diagnose", "fix", remediation.get("id")]:
            return list(run)
    return None


def _findings(findings) -> list:
    out = []
    for f in findings:
        out += [f] + _findings(f.explains)
    return out


def apply_allowed(analysis, policy: Policy, root: str = "/", libvirt_uri: str = "qemu:///system") -> list[dict]:
    """Apply every fix the findings propose and the policy allows; what happened to each."""
    from hostmedic.remediations import runner
    from hostmedic.remediations.cli import FixUsage, parser, target_of
    from hostmedic.remediations.host import Host
    from hostmedic.remediations.target import BadValue

    done: list[dict] = []
    seen: set[tuple[str, ...]] = set()
    for finding in _findings(analysis.findings):
        for rem in finding.remediations:
            argv = _apply_argv(rem)
            if rem.get("id") not in policy.allow or argv is None or tuple(argv) in seen:
                continue
            seen.add(tuple(argv))
            record = {"fix": rem["id"], "rule": finding.rule, "command": " ".join(argv)}
            try:
                args = parser().parse_args(argv[2:])
                target = target_of(args, runner.load(rem["id"]))
            except (FixUsage, BadValue, runner.UnknownFix) as err:
                done.append({**record, "result": "error", "message": str(err)})
                continue
            host = Host(root=root, libvirt_uri=libvirt_uri)
            outcome = runner.run(rem["id"], target, host, apply=True, yes=True,
                                 allow_disruptive=policy.allow_disruptive)
            done.append({**record, "result": outcome.result, "message": outcome.message,
                         "audit": outcome.audit, "backup": outcome.backup})
    return done
