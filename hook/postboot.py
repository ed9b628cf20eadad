"""What the post-reboot unit runs: diagnose the previous and the current boot, keep the
report, tell the journal (and a webhook), and apply only what a policy allows.

    reports   /var/lib/hostmedic/reports/hostmedic-<run>-<UTC time>-<boot>.{html,json}, mode 0600,
              the last N runs kept (settings `keep`)
    journal   one line with HOSTMEDIC_RULES=, HOSTMEDIC_SEVERITY=, HOSTMEDIC_REPORT= fields
              (journalctl SYSLOG_IDENTIFIER=hostmedic-postboot, or MESSAGE_ID=SUMMARY_MESSAGE_ID)
    webhook   the JSON report POSTed when `webhook` is set; a failure is logged, never fatal
    fixes     none, unless the policy file allows that remediation id (hook/policy.py)
"""
from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from hostmedic.collectors import Options
from hostmedic.engine import analysis as flow
from hostmedic.engine.config import load_config
from hostmedic.engine.facts import write_private_file
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import DEFAULT_TIMEOUT, LocalSource
from hostmedic.hook import policy as policies
from hostmedic.reports import renderer
from hostmedic.reports.json_report import document

SETTINGS = "etc/hostmedic/postboot.yaml"
POLICY = "etc/hostmedic/postboot-policy.yaml"
REPORTS = "var/lib/hostmedic/reports"
JOURNAL_SOCKET = "/run/systemd/journal/socket"
SUMMARY_MESSAGE_ID = "3c7e5a1f9b2d4c6e8a0f1b3d5c7e9a2b"  # every post-boot summary
IDENT = "hostmedic-postboot"
PRIORITY = {"critical": 2, "error": 3, "warning": 4, "info": 6, None: 6}
WEBHOOK_TIMEOUT = 10.0
# hostmedic-<run number>-<UTC time>-<boot id>: runs sort by number, since the clock may be
# wrong right after a boot (no NTP yet) and must not make a new report look old.
_REPORT_NAME = re.compile(r"^hostmedic-(?P<n>\d{6,})-\d{8}T\d{6}Z-[0-9a-f]{8}\.(?:html|json)$")


class HookError(Exception):
    """The hook cannot run (bad settings or policy); the message says what to fix."""


@dataclass
class Settings:
    keep: int = 10
    webhook: str | None = None
    policy: str | None = None  # path on the target system (under --root when given)
    timeout: float = DEFAULT_TIMEOUT
    boots: int = 2

    def to_yaml(self) -> str:
        data = {k: v for k, v in vars(self).items() if v is not None}
        return ("# Written by `diagnose hook install`; read by `diagnose hook run` after each boot.\n"
                + yaml.safe_dump(data, sort_keys=False))


def under(root: str, path: str) -> str:
    return os.path.join(os.path.realpath(root), path.lstrip("/"))


def check_webhook(url: str | None) -> str | None:
    if url and not re.match(r"^https?://[^\s/]+", url):
        raise HookError(f"--webhook {url!r}: give an http:// or https:// URL")
    return url


def load_settings(path: str) -> Settings:
    if not os.path.exists(path):
        return Settings()
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as err:
        raise HookError(f"cannot read the hook settings {path}: {err}") from err
    if not isinstance(data, dict):
        raise HookError(f"{path}: expected keep, webhook, policy, timeout, boots")
    known = {k: data[k] for k in ("keep", "webhook", "policy", "timeout", "boots") if k in data}
    try:
        settings = Settings(**known)
        settings.keep, settings.boots = int(settings.keep), int(settings.boots)
        settings.timeout = float(settings.timeout)
    except (TypeError, ValueError) as err:
        raise HookError(f"{path}: {err}") from err
    if settings.keep < 1:
        raise HookError(f"{path}: keep must be at least 1")
    check_webhook(settings.webhook)
    return settings


@dataclass
class RunResult:
    html: str
    json: str
    worst: str | None
    rules: list[str]
    removed: list[str] = field(default_factory=list)  # older reports rotated out
    fixes: list[dict] = field(default_factory=list)
    journal: bool = False
    webhook: str = ""  # "", "sent", or what went wrong
    message: str = ""


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip().replace("-", "")[:8] or "00000000"
    except OSError:
        return "00000000"


def _runs(folder: str) -> dict[int, list[str]]:
    """Run number -> its report files; only files this hook names."""
    runs: dict[int, list[str]] = {}
    for name in os.listdir(folder):
        m = _REPORT_NAME.match(name)
        if m:
            runs.setdefault(int(m["n"]), []).append(name)
    return runs


def _stem(folder: str, now: float) -> str:
    number = max(_runs(folder), default=0) + 1
    return f"hostmedic-{number:06d}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}-{_boot_id()}"


def rotate(folder: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` runs (an HTML and a JSON file each)."""
    runs = _runs(folder)
    removed = []
    for number in sorted(runs)[:-keep]:
        for name in runs[number]:
            os.unlink(os.path.join(folder, name))
            removed.append(name)
    return sorted(removed)


def summary_fields(result: RunResult, host: str) -> dict[str, str]:
    """The journal entry: one line of MESSAGE, and the facts as HOSTMEDIC_* fields."""
    rules = ",".join(result.rules)
    worst = result.worst or "none"
    message = (f"hostmedic post-boot diagnosis of {host}: "
               + (f"{worst} ({rules})" if result.rules else "nothing at info or above")
               + f"; report {result.html}")
    fields = {"MESSAGE": message, "MESSAGE_ID": SUMMARY_MESSAGE_ID, "PRIORITY": str(PRIORITY.get(result.worst, 6)),
              "SYSLOG_IDENTIFIER": IDENT, "HOSTMEDIC_RULES": rules, "HOSTMEDIC_SEVERITY": worst,
              "HOSTMEDIC_REPORT": result.html, "HOSTMEDIC_REPORT_JSON": result.json,
              "HOSTMEDIC_FINDINGS": str(len(result.rules))}
    if result.fixes:
        fields["HOSTMEDIC_FIXES"] = "; ".join(f"{f['fix']}: {f['result']}" for f in result.fixes)
    if result.webhook:
        fields["HOSTMEDIC_WEBHOOK"] = result.webhook
    return fields


def to_journal(fields: dict[str, str], socket_path: str = JOURNAL_SOCKET) -> bool:
    """Send through systemd-python when a journal runs here; whether it was sent."""
    if not os.path.exists(socket_path):
        return False
    try:
        from systemd import journal
    except ImportError:
        return False
    fields = dict(fields)
    try:
        journal.send(fields.pop("MESSAGE"), **fields)
    except OSError:
        return False
    return True


def post_webhook(url: str, doc: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT) -> str:
    """POST the JSON report; "sent", or one line saying what went wrong."""
    body = json.dumps(doc, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"hostmedic/{flow.tool_version()}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
            return "sent" if 200 <= response.status < 300 else f"failed: HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return f"failed: HTTP {err.code} {err.reason}"
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        return f"failed: {reason}"


def run(settings: Settings, root: str = "/", options: Options | None = None,
        only: list[str] | None = None, now: float | None = None,
        journal: Callable[[dict[str, str]], bool] = to_journal,
        webhook: Callable[[str, dict], str] = post_webhook) -> RunResult:
    """One post-boot run. Collection reads this host (or options.journal_dir); reports,
    fixes and the policy live under root."""
    allowed = policies.load(under(root, settings.policy)) if settings.policy else None
    config = load_config(None)
    pack = load_pack(config.rule_dirs)
    options = options or Options(timeout=settings.timeout, boots=settings.boots)
    with LocalSource(timeout=settings.timeout) as source:
        base = flow.collect(source, pack, options, only)
    base.meta["rule_pack_used"] = pack.version
    analysis = flow.analyse(base, pack)
    analysis.suppress(config)
    command = "diagnose hook run" + (f" --root {root}" if os.path.realpath(root) != "/" else "")
    folder = under(root, REPORTS)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    stem = _stem(folder, time.time() if now is None else now)
    html, json_path = os.path.join(folder, stem + ".html"), os.path.join(folder, stem + ".json")
    fixes = policies.apply_allowed(analysis, allowed, root) if allowed and allowed.allow else []
    doc = document(analysis, command)
    doc["postboot"] = {"report": html, "fixes": fixes}
    write_private_file(html, renderer("html").render(analysis, command))
    write_private_file(json_path, json.dumps(doc, indent=2, default=str) + "\n")
    removed = rotate(folder, settings.keep)
    rules = list(dict.fromkeys(f.rule for f in analysis.findings))
    result = RunResult(html=html, json=json_path, worst=analysis.worst, rules=rules, removed=removed,
                       fixes=fixes)
    if settings.webhook:
        result.webhook = webhook(settings.webhook, doc)
    fields = summary_fields(result, base.meta.get("hostname", "this host"))
    result.message = fields["MESSAGE"]
    result.journal = journal(fields)
    return result
