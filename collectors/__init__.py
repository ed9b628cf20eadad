"""Collectors: one module per subsystem, each turning what its Source gives into facts.

Every collector module exposes ``NAME`` and ``collect(ctx)``. It reads only through
``ctx.source`` and writes only through ``ctx.facts``; when something cannot be read
it records a collector-status fact (``ctx.status``) and goes on.
"""
from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from hostmedic.engine.facts import FactBase, Provenance
from hostmedic.engine.sources import Result, Source

# Order matters: log collectors first (they set boot facts others may use).
MODULES = ["host", "journal", "logfiles", "libvirt", "boots", "mounts", "memory", "systemd_units", "network", "cloudinit", "smart", "mdraid", "iscsi", "nfs", "fs_usage", "kernel", "pressure", "tasks", "sar"]


@dataclass
class Options:
    timeout: float = 10.0
    libvirt_uri: str = "qemu:///system"
    journal_dir: str | None = None
    journal_files: list[str] = field(default_factory=list)
    boots: int = 2  # how many of the latest boots to read from a journal


@dataclass
class Context:
    source: Source
    facts: FactBase
    options: Options = field(default_factory=Options)
    # Tells a log collector whether a line is worth keeping as a fact (rule-pack patterns).
    interesting: Callable[[str], bool] = lambda message: False

    def status(self, collector: str, result_or_status: Result | str, hint: str = "",
               detail: str = "", name: str = "") -> None:
        if isinstance(result_or_status, Result):
            r = result_or_status
            self.facts.status(collector, r.status, detail or r.detail, hint if not r.ok else "",
                              name or r.name)
        else:
            self.facts.status(collector, result_or_status, detail, hint, name)

    def add(self, kind: str, fields: dict[str, Any], source: Provenance):
        return self.facts.add(kind, fields, source)


def run_all(ctx: Context, only: list[str] | None = None,
            progress: Callable[[str, float, list], None] | None = None) -> None:
    """Run every collector; one that crashes becomes a 'failed' status, never a traceback.
    `progress(name, seconds, statuses)` is told when each collector is done."""
    for name in only or MODULES:
        started, before = time.monotonic(), len(ctx.facts.facts)
        try:
            importlib.import_module(f"hostmedic.collectors.{name}").collect(ctx)
        except Exception as err:  # a collector bug must not end the diagnosis
            last = traceback.extract_tb(err.__traceback__)[-1]
            ctx.status(name, "failed", detail=f"internal error: {type(err).__name__}: {err} "
                       f"({last.filename.rsplit('/', 1)[-1]}:{last.lineno})",
                       hint="please report this as a hostmedic bug; the rest of the run went on")
        if progress:
            progress(name, time.monotonic() - started,
                     [f for f in ctx.facts.facts[before:] if f.kind == "collector_status"])

