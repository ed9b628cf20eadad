"""Symptoms: log lines turned into typed facts by the rule pack's regexes.

Python's `re` does the text matching (durable_rules' own regex dialect silently
fails on \\d and friends); the engine then only sees typed fields.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from hostmedic.engine.facts import Fact, FactBase

# A kernel stack frame ("nfs_wb_all+0x21/0x120 [nfs]") or the lines around a trace.
# Kernels before 4.x print the address first: " [<ffffffff8168a8f9>] schedule+0x29/0x70".
_FRAME = re.compile(r"^\s*(?:\[<[0-9a-f]+>\] )?(?:\? )?(?P<fn>[A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+"
                    r"(?: \[(?P<mod>[\w-]+)\])?")
_TRACE_NOISE = re.compile(r"^\s*(?:Call Trace:|<TASK>|</TASK>|<IRQ>|</IRQ>|RIP: |RSP: |RAX: |RDX: |RBP: |"
                          r"R\d+: |task:|\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\"|Tainted:|"
                          r"Not tainted|Hardware name:|\S+ D\s+\d+)")
_PARTITION = [re.compile(p) for p in (r"^((?:nvme\d+n\d+|mmcblk\d+|loop\d+|nbd\d+))p\d+$",
                                      r"^((?:[shv]|xv)d[a-z]+)\d+$")]
TRACE_LINES = 40  # how far after a hung-task line to look for its stack


def disk_of(device: str) -> str:
    """The whole disk a partition belongs to: vda1 -> vda, nvme0n1p2 -> nvme0n1, dm-0 -> dm-0."""
    for pat in _PARTITION:
        m = pat.match(device)
        if m:
            return m.group(1)
    return device


@dataclass
class SymptomPattern:
    kind: str
    source: str  # the regex text, as written in the rule
    regex: re.Pattern
    idents: tuple[str, ...] = ()
    set_fields: dict[str, Any] = field(default_factory=dict)
    trace: bool = False
    flags: dict[str, tuple[str, re.Pattern]] = field(default_factory=dict)

    @classmethod
    def from_rule(cls, spec: dict[str, Any]) -> "SymptomPattern":
        return cls(kind=spec["kind"], source=spec["pattern"], regex=re.compile(spec["pattern"]),
                   idents=tuple(spec.get("idents") or ()), set_fields=dict(spec.get("set") or {}),
                   trace=bool(spec.get("trace")),
                   flags={name: (f["field"], re.compile(f["pattern"]))
                          for name, f in (spec.get("flags") or {}).items()})

    def applies_to(self, log: Fact) -> bool:
        return not self.idents or log.fields.get("ident") in self.idents


def order_logs(logs: list[Fact]) -> list[Fact]:
    """Log facts in time order across streams: by boot, then time; a line with no
    time keeps its place after the line before it in its own stream."""
    keyed = []
    last_t: dict[tuple, float] = {}
    for pos, log in enumerate(logs):
        stream = (log.source.name, log.fields.get("domain"))
        t = log.fields.get("t")
        if t is None:
            t = last_t.get(stream, float("-inf"))
        last_t[stream] = t
        keyed.append(((log.fields.get("boot", 0), t, pos), log))
    keyed.sort(key=lambda item: item[0])
    return [log for _key, log in keyed]


def extract_symptoms(base: FactBase, patterns: Iterable[SymptomPattern]) -> list[Fact]:
    """Symptom facts for every log line a pattern matches, in time order, each
    with a `seq` that orders it against the others."""
    patterns = list(patterns)
    logs = order_logs(list(base.of_kind("log")))
    out: list[Fact] = []
    for index, log in enumerate(logs):
        kinds_here: set[str] = set()
        message = log.fields.get("message", "")
        for pat in patterns:
            if pat.kind in kinds_here or not pat.applies_to(log):
                continue  # two rules may spell the same symptom differently: one fact a line
            m = pat.regex.search(message)
            if not m:
                continue
            fields = _context_fields(log)
            fields.update({k: _typed(v) for k, v in m.groupdict().items() if v is not None})
            fields.update(pat.set_fields)
            if "device" in fields:
                fields.setdefault("disk", disk_of(str(fields["device"])))
            if pat.trace:
                fields["trace"] = _trace_after(logs, index)
            for name, (src, regex) in pat.flags.items():
                fields[name] = bool(regex.search(str(fields.get(src, ""))))
            fields["line"] = message
            fields["log_id"] = log.id
            fields["match"] = [m.start(), m.end()]
            kinds_here.add(pat.kind)
            out.append(Fact(pat.kind, fields, log.source))
    for seq, fact in enumerate(out, 1):
        fact.fields["seq"] = seq
    return out


def _context_fields(log: Fact) -> dict[str, Any]:
    keep = ("boot", "boot_id", "t", "host", "domain", "unit", "ident", "stream", "pid")
    return {k: log.fields[k] for k in keep if log.fields.get(k) is not None}


def _trace_after(logs: list[Fact], index: int) -> str:
    """The stack frames that follow a hung-task or lockup line, as "fn [module]" text."""
    frames = []
    origin = logs[index]
    for log in logs[index + 1:index + 1 + TRACE_LINES]:
        if (log.source.name, log.fields.get("domain"), log.fields.get("ident")) != \
                (origin.source.name, origin.fields.get("domain"), origin.fields.get("ident")):
            continue  # lines of other programs interleaved with the kernel's
        msg = log.fields.get("message", "")
        m = _FRAME.match(msg)
        if m:
            frames.append(m["fn"] + (f" [{m['mod']}]" if m["mod"] else ""))
        elif not _TRACE_NOISE.match(msg):
            if frames:
                break
    return " ".join(frames)


def _typed(value: str) -> Any:
    """Numbers in named groups become numbers so that rules can compare them."""
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


def prefilter(patterns: Iterable[SymptomPattern]):
    """A predicate telling a log collector whether any pattern matches a line."""
    regexes = [p.regex for p in patterns]

    def interesting(message: str) -> bool:
        return any(r.search(message) for r in regexes)

    return interesting
