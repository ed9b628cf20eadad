"""Symptoms: log lines turned into typed facts by the rule pack's regexes.

Python's `re` does the text matching (durable_rules' own regex dialect silently
fails on \\d and friends); the engine then only sees typed fields.
"""
from __future__ import annotations

import functools
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
    index_of = PatternIndex(patterns)
    logs = order_logs(list(base.of_kind("log")))
    out: list[Fact] = []
    for index, log in enumerate(logs):
        kinds_here: set[str] = set()
        message = log.fields.get("message", "")
        for pat in index_of.candidates(message):  # the others cannot match this line
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
    """Numbers in named groups become numbers so that rules can compare them (a number of
    hundreds of digits is damage or mischief in a log line: it stays text)."""
    if re.fullmatch(r"-?\d{1,30}", value):
        return int(value)
    if re.fullmatch(r"-?\d{1,30}\.\d{1,30}", value):
        return float(value)
    return value


def prefilter(patterns: Iterable[SymptomPattern]):
    """A predicate telling a log collector whether any pattern matches a line."""
    return PatternIndex(patterns).matches_any


# -- literal prefilter ---------------------------------------------------------------
# Most lines match no pattern. Rather than run every regex over every line, each regex
# is reduced to literals one of which any text it matches must contain ("blocked for
# more than", " error, dev ", ...); one pass over the line finds which literals it holds
# (Aho-Corasick, or one regex without pyahocorasick), and only the regexes of those
# literals run. Regexes with no such literal run on every line. Literals are compared
# lower-cased, so (?i) parts need nothing special for ASCII text; a line with other
# characters runs the case-insensitive regexes too (re folds a few of them, e.g. "ſ").

try:  # Python's own regex parser, to read literals out of a pattern
    from re import _constants as _sre, _parser as _sre_parse
except ImportError:  # pragma: no cover - another Python: every regex runs on every line
    _sre = _sre_parse = None

_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


@functools.lru_cache(maxsize=4096)
def required_literals(source: str) -> frozenset[str] | None:
    """Lower-case ASCII strings one of which is in (the lower-cased form of) every
    text the regex matches; None when the regex has no such literal."""
    if _sre_parse is None:
        return None
    try:
        tree = _sre_parse.parse(source)
    except Exception:  # noqa: BLE001 - re.compile decides; here it only means no literal
        return None
    found = _literals_of(list(tree))
    return frozenset(found) if found else None


def _literals_of(items: list) -> set[str] | None:
    """For a sequence of parsed regex items: the most selective required literal set."""
    options: list[set[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            options.append({"".join(run).lower()})
            run.clear()

    for op, arg in items:
        name = str(op)
        if name == "LITERAL" and arg < 128:
            run.append(chr(arg))
            continue
        close_run()
        sub: set[str] | None = None
        if name == "SUBPATTERN":
            sub = _literals_of(list(arg[3]))
        elif name == "ATOMIC_GROUP":
            sub = _literals_of(list(arg))
        elif name in _REPEATS and arg[0] >= 1:
            sub = _literals_of(list(arg[2]))
        elif name == "BRANCH":
            alternatives = [_literals_of(list(alt)) for alt in arg[1]]
            if alternatives and all(alternatives):
                sub = set().union(*alternatives)  # type: ignore[arg-type]
        # anything else (classes, anchors, look-arounds, back-references) requires no literal
        if sub:
            options.append(sub)
    close_run()
    if not options:
        return None
    return max(options, key=lambda lits: (min(map(len, lits)), -len(lits)))


class PatternIndex:
    """Which of a list of patterns can match a line (in their order), found with one
    pass over the line for the literals they require."""

    def __init__(self, patterns: Iterable[SymptomPattern]):
        self.patterns = list(patterns)
        by_literal: dict[str, list[int]] = {}
        self._always: list[int] = []  # no literal: every line is a candidate
        self._folding: list[int] = []  # case-insensitive: candidates on non-ASCII lines
        for i, pat in enumerate(self.patterns):
            lits = required_literals(pat.source)
            if lits is None:
                self._always.append(i)
                continue
            if pat.regex.flags & re.IGNORECASE or "(?i" in pat.source:
                self._folding.append(i)
            for lit in lits:
                by_literal.setdefault(lit, []).append(i)
        self._finder = _literal_finder(tuple((lit, tuple(ix)) for lit, ix in by_literal.items()))

    def _hits(self, message: str) -> set[int]:
        hits = set(self._always)
        for _end, indexes in self._finder(message.lower()):
            hits.update(indexes)
        if not message.isascii():
            hits.update(self._folding)
        return hits

    def candidates(self, message: str) -> list[SymptomPattern]:
        """The patterns that may match message, in their order; the others cannot."""
        hits = self._hits(message)
        return [self.patterns[i] for i in sorted(hits)] if hits else []

    def matches_any(self, message: str) -> bool:
        if self._always or not message.isascii():
            return any(self.patterns[i].regex.search(message) for i in self._hits(message))
        for _end, indexes in self._finder(message.lower()):  # the common case, kept lean
            for i in indexes:
                if self.patterns[i].regex.search(message):
                    return True
        return False


@functools.lru_cache(maxsize=16)  # every analysis of the same pack builds the same one
def _literal_finder(items: tuple[tuple[str, tuple[int, ...]], ...]):
    """A function text -> iterable of (end, value) for every occurrence of a literal of
    (literal, value) items in text (overlapping ones too)."""
    table = dict(items)
    if not table:
        return lambda text: ()
    try:
        import ahocorasick  # pyahocorasick: one pass, whatever the number of literals
    except ImportError:
        ahocorasick = None
    if ahocorasick is not None:
        automaton = ahocorasick.Automaton()
        for lit, value in table.items():
            automaton.add_word(lit, value)
        automaton.make_automaton()
        return automaton.iter
    any_literal = re.compile(_trie_regex(table))

    def find(text: str):
        if any_literal.search(text) is None:
            return ()
        return [(text.find(lit) + len(lit), value) for lit, value in table.items() if lit in text]

    return find


def _trie_regex(words: Iterable[str]) -> str:
    """One regex matching any of words, factored as a trie ("ab|ac" -> "a(?:b|c)"):
    Python's re tries the branches of an alternation one by one."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here: the rest is optional
            body = body + "?" if len(branches) == 1 and len(body) == 1 else f"(?:{body})?"
        return body

    return emit(trie)
