"""Resource history as small charts: what the sar and pressure collectors summed up.

The sar collector keeps one summary per stream (swap, each disk, memory) over the last
two days, not every sample; so each card draws the period it covers as a strip, with the
incident's time and the worst sample marked on it, and the peaks as bars against the
thresholds the rules use. Pressure stall averages and /proc/vmstat counters describe the
host when the data was taken. No fact, no card: a report without sysstat shows nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hostmedic.engine.findings import duration
from hostmedic.reports.view import when

STRIP_W = 600.0


@dataclass
class Bar:
    label: str
    value: str
    frac: float  # 0..1 of the bar's scale
    mark: float | None = None  # the threshold, 0..1 of the scale
    hot: bool = False


@dataclass
class Strip:
    """The period a summary covers (0..STRIP_W), the incident band and the worst sample."""
    start: str
    end: str
    incident: tuple[float, float] | None
    worst: float | None
    worst_label: str


@dataclass
class Card:
    title: str
    subtitle: str
    source: str
    bars: list[Bar] = field(default_factory=list)
    strip: Strip | None = None
    notes: list[str] = field(default_factory=list)
    rows: list[tuple[str, str]] = field(default_factory=list)  # plain counters
    hot: bool = False


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _bar(label: str, value: float | None, unit: str, threshold: float | None = None,
         scale: float | None = None) -> Bar | None:
    if value is None:
        return None
    top = scale or max(value, (threshold or 0) * 2, 1.0)
    return Bar(label=label, value=f"{value:,.0f} {unit}".strip() if value >= 10 else f"{value:g} {unit}".strip(),
               frac=min(max(value / top, 0.0), 1.0),
               mark=min(threshold / top, 1.0) if threshold is not None else None,
               hot=threshold is not None and value >= threshold)


def _strip(f: dict, incident: tuple[float, float] | None) -> Strip | None:
    first, last, worst = _num(f.get("first_t")), _num(f.get("last_t")), _num(f.get("worst_t"))
    if first is None or last is None or last <= first:
        return None
    pos = lambda t: round((min(max(t, first), last) - first) / (last - first) * STRIP_W, 1)  # noqa: E731
    band = None
    if incident and incident[1] >= first and incident[0] <= last:
        a, b = pos(incident[0]), pos(incident[1])
        band = (a, max(b - a, 3.0))
    return Strip(start=when(first)[:16], end=when(last)[:16], incident=band,
                 worst=pos(worst) if worst is not None else None,
                 worst_label=f"worst sample {when(worst)[:16]}" if worst is not None else "")


def _near(t: Any, incident: tuple[float, float] | None, slack: float = 900.0) -> bool:
    t = _num(t)
    return bool(incident and t is not None and incident[0] - slack <= t <= incident[1] + slack)


def _limits():
    """The sar collector's thresholds, when it is there (the rules compare against its counts)."""
    try:
        from hostmedic.collectors import sar
        return sar
    except ImportError:  # pragma: no cover - the collector is part of the package
        return None


def cards(base, incident: tuple[float, float] | None) -> list[Card]:
    lim = _limits()
    swap_t = getattr(lim, "SWAP_THRASH", 100.0)
    util_t = getattr(lim, "UTIL_BUSY", 90.0)
    await_t = getattr(lim, "AWAIT_SLOW", 100.0)
    reclaim_t = getattr(lim, "RECLAIM_DIRECT", 1000.0)
    majflt_t = getattr(lim, "MAJFLT_PRESSURE", 100.0)
    out: list[Card] = []
    for fact in base.of_kind("memory_pressure_history"):
        f = fact.fields
        card = Card("Memory (sar)", str(f.get("period", "")), fact.source.describe())
        card.bars = [b for b in (
            _bar("memory used", _num(f.get("max_memused_percent")), "%", scale=100.0),
            _bar("committed", _num(f.get("max_commit_percent")), "%", threshold=100.0,
                 scale=max(_num(f.get("max_commit_percent")) or 0, 150.0)),
            _bar("major faults", _num(f.get("max_majflt_s")), "/s", threshold=majflt_t),
            _bar("direct reclaim", _num(f.get("max_pgscand_s")), "pages/s", threshold=reclaim_t),
        ) if b]
        if f.get("pressure_samples"):
            card.notes.append(f"{f['pressure_samples']} of {f.get('samples', '?')} samples under memory pressure "
                              f"({duration(f.get('pressure_seconds'))}): direct reclaim while pages fault back in")
        card.strip = _strip(f, incident)
        card.hot = bool(f.get("pressure_samples"))
        out.append(card)
    for fact in base.of_kind("swap_activity"):
        f = fact.fields
        card = Card("Swap in / out (sar -W)", str(f.get("period", "")), fact.source.describe())
        card.bars = [b for b in (
            _bar("peak swap-in", _num(f.get("max_pswpin_s")), "pages/s", threshold=swap_t),
            _bar("peak swap-out", _num(f.get("max_pswpout_s")), "pages/s", threshold=swap_t),
        ) if b]
        if f.get("thrash_samples"):
            card.notes.append(f"thrashing (pages out and straight back in) in {f['thrash_samples']} of "
                              f"{f.get('samples', '?')} samples, {duration(f.get('thrash_seconds'))} in all")
        else:
            card.notes.append(f"no thrashing in {f.get('samples', '?')} samples")
        if _near(f.get("worst_t"), incident):
            card.notes.append("the worst sample falls within 15 minutes of the incident")
        card.strip = _strip(f, incident)
        card.hot = bool(f.get("thrash_samples"))
        out.append(card)
    for fact in base.of_kind("disk_busy"):
        f = fact.fields
        card = Card(f"Disk {f.get('device', '?')} (sar -d)", str(f.get("period", "")), fact.source.describe())
        card.bars = [b for b in (
            _bar("peak utilisation", _num(f.get("max_util")), "%", threshold=util_t, scale=100.0),
            _bar("peak await", _num(f.get("max_await")), "ms", threshold=await_t),
        ) if b]
        if f.get("saturated_samples"):
            card.notes.append(f"saturated in {f['saturated_samples']} of {f.get('samples', '?')} samples, "
                              f"{duration(f.get('saturated_seconds'))} in all")
        else:
            card.notes.append(f"never saturated in {f.get('samples', '?')} samples")
        if _near(f.get("worst_t"), incident):
            card.notes.append("the worst sample falls within 15 minutes of the incident")
        card.strip = _strip(f, incident)
        card.hot = bool(f.get("saturated_samples"))
        out.append(card)
    psi = {p.fields.get("resource"): p for p in base.of_kind("pressure")}
    if psi:
        card = Card("Pressure stall now (PSI)", "% of time stalled, averaged over 10 s / 60 s / 300 s "
                    "when the data was taken; the bar is the 10 s average", ", ".join(sorted({p.source.describe() for p in psi.values()})))
        for res in ("cpu", "memory", "io"):
            p = psi.get(res)
            if p is None:
                continue
            for which in ("some", "full"):
                vals = [_num(p.fields.get(f"{which}_avg{w}")) for w in (10, 60, 300)]
                if vals[0] is None:
                    continue
                label = f"{res} {which}"
                card.bars.append(Bar(label, " / ".join(f"{v:.1f}" for v in vals if v is not None) + " %",
                                     frac=min(max(vals[0] / 100.0, 0.0), 1.0), mark=0.10, hot=vals[0] >= 10.0))
        card.hot = any(b.hot for b in card.bars)
        out.append(card)
    for fact in base.of_kind("vmstat"):
        f = fact.fields
        names = {"pswpin": "pages swapped in", "pswpout": "pages swapped out", "pgmajfault": "major faults",
                 "oom_kill": "OOM kills", "allocstall": "allocation stalls", "pgscan_direct": "pages scanned (direct)",
                 "pgscan_kswapd": "pages scanned (kswapd)", "workingset_refault": "working-set refaults"}
        card = Card("Counters since boot (/proc/vmstat)", "", fact.source.describe())
        card.rows = [(label, f"{f[key]:,}") for key, label in names.items() if isinstance(f.get(key), int)]
        card.hot = bool(f.get("oom_kill"))
        if card.rows:
            out.append(card)
    return out
