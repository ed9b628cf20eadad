"""The systemd unit of the post-reboot hook, and installing, removing and inspecting it.

    /etc/systemd/system/hostmedic-postboot.service   the oneshot unit (enabled: multi-user.target wants it)
    /etc/hostmedic/postboot.yaml                     its settings (mode 0600: a webhook URL may hold a token)
    /etc/hostmedic/postboot-policy.yaml              the fixes it may apply (only with --policy)

With --root DIR every path is under DIR and `systemctl --root DIR` enables the unit
(nothing is reloaded or started); without it, systemd is reloaded when it runs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from hostmedic.engine.facts import write_private_file
from hostmedic.hook import policy as policies
from hostmedic.hook.postboot import POLICY, REPORTS, SETTINGS, HookError, Settings, load_settings, under

UNIT = "hostmedic-postboot.service"
UNIT_DIR = "etc/systemd/system"

TEMPLATE = """\
# Written by `diagnose hook install`; remove with `diagnose hook uninstall`.
[Unit]
Description=hostmedic: diagnose the previous and the current boot
After=multi-user.target

[Service]
Type=oneshot
ExecStart={exec_start}
# Reports are written mode 0600; the run never holds the boot up (it starts after
# multi-user.target) and yields the CPU and disk to everything else.
UMask=0077
Nice=10
IOSchedulingClass=idle
TimeoutStartSec=30min

[Install]
WantedBy=multi-user.target
"""


def _quote(word: str) -> str:
    """One word of a systemd command line: specifiers (%) and variables ($) doubled,
    quoted when it holds a space, a quote or a backslash."""
    word = word.replace("%", "%%").replace("$", "$$")
    if re.search(r"[\s\"'\\;]", word) or not word:
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def diagnose_command() -> list[str]:
    """How systemd should start `diagnose`: the executable next to this Python (a venv's
    bin/), else the one on PATH, else this Python with -m."""
    beside = os.path.join(os.path.dirname(sys.executable), "diagnose")
    if os.access(beside, os.X_OK):
        return [os.path.abspath(beside)]
    found = shutil.which("diagnose")
    if found:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "hostmedic.engine.cli"]


def render(command: list[str] | None = None) -> str:
    argv = (command or diagnose_command()) + ["hook", "run"]
    return TEMPLATE.format(exec_start=" ".join(_quote(w) for w in argv))


def _systemd_running(root: str) -> bool:
    return os.path.realpath(root) == "/" and os.path.isdir("/run/systemd/system")


def _systemctl(root: str, *args: str) -> subprocess.CompletedProcess:
    argv = ["systemctl"] + ([f"--root={os.path.realpath(root)}"] if os.path.realpath(root) != "/" else []) + list(args)
    if shutil.which("systemctl") is None:
        raise HookError("systemctl is not installed here: the hook needs systemd")
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def install(root: str, settings: Settings, policy_file: str | None = None) -> list[str]:
    """Write the unit, its settings (and policy) and enable it; what was done, line by line."""
    if not os.path.isdir(root):
        raise HookError(f"--root {root}: no such directory")
    said = []
    if policy_file:
        allowed = policies.load(policy_file)  # refuse a bad policy now, not after the next boot
        with open(policy_file, encoding="utf-8") as fh:
            text = fh.read()
        os.makedirs(os.path.dirname(under(root, POLICY)), exist_ok=True)
        write_private_file(under(root, POLICY), text)
        settings.policy = "/" + POLICY
        said.append(f"policy {under(root, POLICY)}: may apply {', '.join(sorted(allowed.allow)) or 'nothing'}"
                    + (" (disruptive plans too)" if allowed.allow_disruptive else ""))
    unit_path = under(root, f"{UNIT_DIR}/{UNIT}")
    os.makedirs(os.path.dirname(unit_path), exist_ok=True)
    os.makedirs(os.path.dirname(under(root, SETTINGS)), exist_ok=True)
    write_private_file(under(root, SETTINGS), settings.to_yaml())
    write_private_file(unit_path, render())
    os.chmod(unit_path, 0o644)  # systemd reads units as any user (systemctl cat, analyze)
    said.append(f"unit {unit_path}")
    said.append(f"settings {under(root, SETTINGS)}: keep {settings.keep} reports"
                + (", webhook set" if settings.webhook else ""))
    if _systemd_running(root):
        _systemctl(root, "daemon-reload")
    done = _systemctl(root, "enable", UNIT)
    if done.returncode != 0:
        raise HookError(f"systemctl enable {UNIT} failed: {done.stderr.strip() or done.stdout.strip()}")
    said.append(f"enabled: it runs after each boot (reports in {under(root, REPORTS)})")
    return said


def uninstall(root: str) -> list[str]:
    said = []
    unit_path = under(root, f"{UNIT_DIR}/{UNIT}")
    if os.path.exists(unit_path):
        done = _systemctl(root, "disable", UNIT)
        if done.returncode != 0:
            raise HookError(f"systemctl disable {UNIT} failed: {done.stderr.strip() or done.stdout.strip()}")
        os.unlink(unit_path)
        said.append(f"disabled and removed {unit_path}")
    for rel in (SETTINGS, POLICY):
        if os.path.exists(under(root, rel)):
            os.unlink(under(root, rel))
            said.append(f"removed {under(root, rel)}")
    if _systemd_running(root):
        _systemctl(root, "daemon-reload")
    if not said:
        said.append("the hook is not installed")
    if os.path.isdir(under(root, REPORTS)):
        said.append(f"reports kept in {under(root, REPORTS)}")
    return said


def status(root: str) -> tuple[bool, list[str]]:
    """(installed and enabled, lines to show)."""
    unit_path = under(root, f"{UNIT_DIR}/{UNIT}")
    if not os.path.exists(unit_path):
        return False, [f"not installed ({unit_path} does not exist); `diagnose hook install` adds it"]
    enabled = _systemctl(root, "is-enabled", UNIT).stdout.strip() or "unknown"
    lines = [f"unit {unit_path}: {enabled}"]
    settings = load_settings(under(root, SETTINGS))
    lines.append(f"settings {under(root, SETTINGS)}: keep {settings.keep}, boots {settings.boots}, "
                 f"timeout {settings.timeout:g} s, webhook {'set' if settings.webhook else 'none'}, "
                 f"policy {settings.policy or 'none (no fix is ever applied)'}")
    if _systemd_running(root):
        shown = _systemctl(root, "show", UNIT, "--property=ActiveState,Result,ExecMainExitTimestamp")
        lines.append("last run: " + ", ".join(shown.stdout.split()))
    folder = under(root, REPORTS)
    reports = sorted(n for n in os.listdir(folder) if n.endswith(".html")) if os.path.isdir(folder) else []
    lines.append(f"reports {folder}: {len(reports)}" + (f", newest {reports[-1]}" if reports else ""))
    return enabled == "enabled", lines
