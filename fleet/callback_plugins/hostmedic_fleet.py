"""An Ansible callback that tells `diagnose fleet` how each host's collection went.

It loads by itself (it sits in callback_plugins/ beside collect.yml) and writes one
JSON line per host outcome to the file named by $HOSTMEDIC_FLEET_EVENTS; without
that variable it does nothing. It leaves Ansible's own output alone.
"""
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: hostmedic_fleet
    type: aggregate
    short_description: per-host outcomes for diagnose fleet
    description: Writes one JSON line per host outcome to $HOSTMEDIC_FLEET_EVENTS.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hostmedic_fleet"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("HOSTMEDIC_FLEET_EVENTS")

    def _write(self, event: str, result, **more) -> None:
        if not self._path:
            return
        res = dict(result._result or {})
        keep = {k: str(res.get(k))[:4000] for k in ("msg", "stderr", "stdout", "module_stdout",
                                                     "module_stderr", "rc") if res.get(k) not in (None, "")}
        line = {"event": event, "host": result._host.get_name(), "task": result._task.get_name(),
                "res": keep, **more}
        with open(self._path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def v2_runner_on_ok(self, result):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result, ignored=bool(ignore_errors))

    def v2_runner_on_unreachable(self, result):
        self._write("unreachable", result)
