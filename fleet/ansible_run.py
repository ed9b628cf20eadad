"""Run the collection playbook (collect.yml) on every host with ansible-playbook.

Ansible does the scheduling (forks), the connections (its ssh settings, the user's
ansible.cfg, inventory variables, become) and host key checking exactly as the user
configured it: hostmedic runs plain `ansible-playbook` from the user's folder and sets
nothing about keys. The callback beside the playbook (callback_plugins/hostmedic_fleet.py)
writes each host's outcome to a file; hostmedic reads it to say which host came back
with a snapshot and, for the others, why not, in one sentence.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

from hostmedic.engine.ssh_source import explain_failure

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "collect.yml")
LAST_TASK = "Bring the snapshot back"


class FleetError(Exception):
    """Ansible could not run at all; the message says why and what to do."""


@dataclass
class HostRun:
    name: str  # the inventory host name
    snapshot: str | None = None  # the fetched fact snapshot
    reason: str = ""  # why there is none


def snapshot_name(host: str) -> str:
    """The fetched file's name (the playbook's `inventory_hostname | hash('sha1')`): an
    inventory name never becomes a path."""
    return hashlib.sha1(host.encode("utf-8")).hexdigest() + ".json"


def ansible_playbook() -> str:
    here = os.path.dirname(sys.executable)  # the virtual environment hostmedic runs from
    found = shutil.which("ansible-playbook", path=os.pathsep.join([here, os.environ.get("PATH", "")]))
    if not found:
        raise FleetError("ansible-playbook is not installed: pip install 'hostmedic[fleet]' "
                         "(ansible-core), or your distribution's ansible-core package")
    return found


def reason(event: dict) -> str:
    """One sentence for a host's failed or unreachable task."""
    host, res = event.get("host", "?"), event.get("res") or {}
    msg = str(res.get("msg") or "")
    if event.get("event") == "unreachable":
        return explain_failure(host, msg.replace("Task failed: ", ""))
    said = "\n".join(str(res.get(k) or "") for k in ("stderr", "module_stdout", "module_stderr", "msg"))
    if "hostmedic: python" in said or "python3" in said and ("not found" in said or "No such file" in said):
        line = next((l.strip() for l in said.splitlines() if "python" in l), "")
        return f"python3 is missing or too old on {host} ({line})"
    detail = next((l.strip() for l in reversed(str(res.get("stderr") or "").splitlines()) if l.strip()), "")
    text = f"{event.get('task') or 'a task'} failed on {host}: {msg or detail or 'no reason given'}"
    return text + (f" ({detail})" if msg and detail and detail not in msg else "")


class _Events:
    """Reads the callback's JSON lines as they come."""

    def __init__(self, path: str):
        self.path, self.offset = path, 0

    def new(self) -> list[dict]:
        try:
            with open(self.path, encoding="utf-8") as fh:
                fh.seek(self.offset)
                text = fh.read()
        except FileNotFoundError:
            return []
        complete = text[:text.rfind("\n") + 1]
        self.offset += len(complete.encode("utf-8"))
        out = []
        for line in complete.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def run(inventory: str, workdir: str, zipapp: str, forks: int = 10, timeout: float = 10.0,
        boots: int = 2, become: bool = False, limit: str | None = None, task_timeout: int = 900,
        progress: Callable[[str], None] | None = None) -> list[HostRun]:
    out = os.path.join(workdir, "snapshots")
    os.makedirs(out, mode=0o700, exist_ok=True)
    events_path, log_path = os.path.join(workdir, "events.jsonl"), os.path.join(workdir, "ansible.log")
    extravars = {"hostmedic_zipapp": os.path.abspath(zipapp), "hostmedic_out": out,
                 "hostmedic_timeout": timeout, "hostmedic_boots": boots, "hostmedic_become": become,
                 "hostmedic_task_timeout": task_timeout}
    argv = [ansible_playbook(), "-i", os.path.abspath(inventory), "--forks", str(forks),
            "-e", json.dumps(extravars), PLAYBOOK] + (["--limit", limit] if limit else [])
    env = {**os.environ, "HOSTMEDIC_FLEET_EVENTS": events_path, "ANSIBLE_RETRY_FILES_ENABLED": "False",
           "ANSIBLE_NOCOLOR": "1"}
    events = _Events(events_path)
    outcome: dict[str, HostRun] = {}

    def take(batch: list[dict]) -> None:
        for ev in batch:
            host = ev.get("host")
            if not host:
                continue
            run_ = outcome.setdefault(host, HostRun(host))
            if ev["event"] in ("failed", "unreachable") and not ev.get("ignored") and not run_.reason:
                run_.reason = reason(ev)
                if progress:
                    progress(f"{host}: {run_.reason}")
            elif ev["event"] == "ok" and ev.get("task") == LAST_TASK:
                run_.snapshot = os.path.join(out, snapshot_name(host))
                if progress:
                    progress(f"{host}: collected")

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            take(events.new())
            time.sleep(0.3)
    take(events.new())
    if not outcome:
        raise FleetError("Ansible ran on no host" + (f": {_tail(log_path)}" if proc.returncode else
                         " (an empty inventory, or --limit matched nothing)"))
    hosts = []
    for name in sorted(outcome):
        run_ = outcome[name]
        if not run_.reason and not (run_.snapshot and os.path.isfile(run_.snapshot)):
            run_.reason = f"no snapshot came back from {name}"
        if run_.reason:
            run_.snapshot = None
        else:
            os.chmod(run_.snapshot, 0o600)
        hosts.append(run_)
    return hosts


def _tail(path: str) -> str:
    """Ansible's own error line (a bad inventory, a playbook error)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = [l.strip() for l in fh if l.strip() and not set(l.strip()) <= set("*")]
    except OSError:
        return ""
    errors = [l for l in lines if l.startswith(("ERROR", "[ERROR]"))]
    return (errors or lines or ["no output"])[-1][:300]
