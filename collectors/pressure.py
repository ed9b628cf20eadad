"""Resource pressure now: the kernel's pressure stall information and its VM counters.

Facts
    pressure   resource (cpu|memory|io), some_avg10, some_avg60, some_avg300, some_total,
               full_avg10, full_avg60, full_avg300, full_total, text
               (the share of time, in %, that some / all non-idle tasks were stalled
               waiting for the resource, averaged over 10 s, 60 s and 300 s)
    vmstat     pswpin, pswpout, pgmajfault, oom_kill, allocstall, pgscan_direct,
               pgscan_kswapd, workingset_refault, text
               (counters since boot, from /proc/vmstat; a counter the kernel does not
               have is left out, e.g. oom_kill before 4.13)

/proc/pressure/* exists from kernel 4.20 when PSI is on (some distributions need `psi=1`
on the kernel command line); sos's kernel plugin copies the folder (sos >= 4.2) and its
memory plugin copies /proc/vmstat. Current memory use is the memory collector's.

    $ cat /proc/pressure/memory
    some avg10=6.75 avg60=1.23 avg300=0.25 total=1376854
    full avg10=6.75 avg60=1.23 avg300=0.25 total=1360715
"""
from __future__ import annotations

import re

from hostmedic.engine.facts import Provenance

NAME = "pressure"
RESOURCES = ("cpu", "memory", "io")
_PSI = re.compile(r"^(?P<which>some|full) avg10=(?P<avg10>[\d.]+) avg60=(?P<avg60>[\d.]+) "
                  r"avg300=(?P<avg300>[\d.]+) total=(?P<total>\d+)$")
# /proc/vmstat counters worth keeping; the *_ ones are summed over their zone/type variants
VMSTAT_KEEP = ("pswpin", "pswpout", "pgmajfault", "oom_kill")
VMSTAT_SUMS = {"allocstall": "allocstall", "pgscan_direct": "pgscan_direct",
               "pgscan_kswapd": "pgscan_kswapd", "workingset_refault": "workingset_refault"}


def parse_psi(text: str) -> dict:
    fields: dict = {}
    for line in text.splitlines():
        m = _PSI.match(line.strip())
        if m:
            w = m["which"]
            fields.update({f"{w}_avg10": float(m["avg10"]), f"{w}_avg60": float(m["avg60"]),
                           f"{w}_avg300": float(m["avg300"]), f"{w}_total": int(m["total"])})
    return fields


def collect(ctx) -> None:
    _psi(ctx)
    _vmstat(ctx)


def _psi(ctx) -> None:
    problems = []
    for resource in RESOURCES:
        path = f"/proc/pressure/{resource}"
        result = ctx.source.read(path, sos_paths=[f"proc/pressure/{resource}"])
        fields = parse_psi(result.text) if result.ok else {}
        if not fields:
            problems.append(result)
            continue
        fields["resource"] = resource
        line = result.lines()[-1].strip() if resource != "cpu" else result.lines()[0].strip()
        fields["text"] = f"{result.name}: {line}"
        ctx.add("pressure", fields, Provenance("file", result.name))
    if problems:
        first = problems[0]
        hint = ("pressure stall information needs kernel 4.20+ with PSI enabled (boot with psi=1)"
                if ctx.source.kind != "sosreport" else "this sosreport has no proc/pressure (sos < 4.2?)")
        ctx.status(NAME, first.status if not first.ok else "failed",
                   detail=f"{', '.join(p.name for p in problems)}: {first.detail or 'no PSI lines'}",
                   hint=hint, name=first.name)


def parse_vmstat(text: str) -> dict:
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdecimal() and len(parts[1]) <= 30:
            values[parts[0]] = int(parts[1])
    fields = {k: values[k] for k in VMSTAT_KEEP if k in values}
    for name, prefix in VMSTAT_SUMS.items():
        # one counter, or its per-zone/per-type parts: allocstall_dma32 + allocstall_normal
        # + ... (>= 4.10), workingset_refault_anon + _file (>= 5.9)
        hits = [v for k, v in values.items() if k == prefix or
                (k.startswith(prefix + "_") and not k.endswith("_throttle"))]
        if hits:
            fields[name] = sum(hits)
    return fields


def _vmstat(ctx) -> None:
    result = ctx.source.read("/proc/vmstat", sos_paths=["proc/vmstat"])
    if not result.ok:
        ctx.status(NAME, result, hint="swap and reclaim counters since boot are unknown")
        return
    fields = parse_vmstat(result.text)
    if not fields:
        ctx.status(NAME, "failed", detail=f"{result.name}: no counters", name=result.name)
        return
    fields["text"] = f"{result.name}: " + ", ".join(f"{k} {v}" for k, v in fields.items())
    ctx.add("vmstat", fields, Provenance("file", result.name))
