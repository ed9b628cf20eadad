"""The incident on one time line: SVG geometry worked out here, drawn by the template.

What it shows: the end of the boot that went down (its shutdown, each stop job and how
long it ran, its last line), the gap while the machine was down, the start of the next
boot, and every finding's evidence placed in time, one lane per finding. Long quiet
stretches are cut out of the axis (a break says how long), so that a 3-minute shutdown
and a 7-hour outage fit in one picture. No JavaScript: the picture is in the file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hostmedic.engine.findings import duration
from hostmedic.reports.view import FindingView, clock, when

WIDTH = 1000
LEFT = 190  # lane labels
RIGHT = 16
TOP = 56  # date, break and tick labels above the lanes
BREAK_W = 30  # px cut out between two segments
MIN_BREAK = 600.0  # s: a quiet stretch longer than this is cut out of the axis
MAX_SEGMENTS = 4
CHAR_W = 6.3  # px per character at the annotation font size (11px sans)
NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
              172800, 604800]
MAX_JOB_LANES = 8
BOOT_LANE = 70  # px: the bar, then up to three rows of notes
MAX_FINDING_LANES = 8


@dataclass
class Segment:
    t0: float
    t1: float
    x0: float = 0.0
    x1: float = 0.0

    def x(self, t: float) -> float:
        if self.t1 <= self.t0:
            return (self.x0 + self.x1) / 2
        return self.x0 + (t - self.t0) * (self.x1 - self.x0) / (self.t1 - self.t0)


@dataclass
class Drawing:
    width: int
    height: int
    summary: str
    lanes: list[dict[str, Any]] = field(default_factory=list)  # label, y, h, cls, title
    rects: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    marks: list[dict[str, Any]] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # the same story as a table


def _all_evidence(view: FindingView):
    yield from view.evidence
    for sub in view.explains:
        yield from _all_evidence(sub)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _transitions(boots: dict[int, dict], ev_boots: set[int]) -> list[tuple[int, int]]:
    """The reboots worth showing: the one after each boot with evidence, or failing
    that the one into the earliest such boot, or failing that the latest one."""
    pairs = [(b, b + 1) for b in sorted(ev_boots) if b in boots and b + 1 in boots]
    if not pairs and ev_boots and min(ev_boots) - 1 in boots and min(ev_boots) in boots:
        pairs = [(min(ev_boots) - 1, min(ev_boots))]
    if not pairs and not ev_boots and len(boots) >= 2:
        last = max(boots)
        if last - 1 in boots:
            pairs = [(last - 1, last)]
    return pairs


def _segments(points: list[float]) -> list[Segment]:
    pts = sorted(set(points))
    gaps = sorted(((pts[i + 1] - pts[i], i) for i in range(len(pts) - 1) if pts[i + 1] - pts[i] > MIN_BREAK),
                  reverse=True)[:MAX_SEGMENTS - 1]
    cuts = sorted(i for _gap, i in gaps)
    segs, start = [], 0
    for i in cuts:
        segs.append(Segment(pts[start], pts[i]))
        start = i + 1
    segs.append(Segment(pts[start], pts[-1]))
    for k, s in enumerate(segs):
        span = s.t1 - s.t0
        pad = max(span * 0.05, 3.0) if span > 0 else 30.0
        before = s.t0 - segs[k - 1].t1 if k else math.inf
        after = segs[k + 1].t0 - s.t1 if k + 1 < len(segs) else math.inf
        s.t0 -= min(pad, before / 4)
        s.t1 += min(pad, after / 4)
    plot = WIDTH - LEFT - RIGHT - BREAK_W * (len(segs) - 1)
    weights = [math.sqrt(max(s.t1 - s.t0, 1.0)) for s in segs]
    floor = max(weights) * 0.3
    weights = [max(w, floor) for w in weights]
    x = float(LEFT)
    for s, w in zip(segs, weights):
        s.x0, s.x1 = x, x + plot * w / sum(weights)
        x = s.x1 + BREAK_W
    return segs


class _Canvas:
    """Time -> x over the segments, and text placement that avoids overlaps."""

    def __init__(self, segs: list[Segment], drawing: Drawing):
        self.segs, self.d = segs, drawing
        self.placed: dict[float, list[tuple[float, float]]] = {}

    def x(self, t: float) -> float:
        for s in self.segs:
            if s.t0 <= t <= s.t1:
                return s.x(t)
        nearest = min(self.segs, key=lambda s: min(abs(t - s.t0), abs(t - s.t1)))
        return nearest.x0 if t < nearest.t0 else nearest.x1

    def pieces(self, a: float, b: float) -> list[tuple[float, float]]:
        """x extents of the time span [a, b] in each segment it crosses."""
        out = []
        for s in self.segs:
            lo, hi = max(a, s.t0), min(b, s.t1)
            if lo <= hi:
                out.append((s.x(lo), s.x(hi)))
        return out

    def label(self, text: str, x: float, rows: list[float], cls: str, anchor: str = "start",
              title: str = "", or_before: float | None = None) -> None:
        """Put a text at the first of `rows` (y values) where it overlaps nothing; a text
        that would run off the right edge goes before `or_before` (e.g. a bar's start)."""
        width = len(text) * CHAR_W
        x0 = {"start": x, "end": x - width, "middle": x - width / 2}[anchor]
        if or_before is not None and x0 + width > WIDTH - RIGHT:
            x0 = or_before - 5 - width
        bounds = [(LEFT + 2, WIDTH - RIGHT)]
        seg = next((s for s in self.segs if s.x0 - 1 <= x <= s.x1 + 1), None)
        if seg is not None and width <= seg.x1 - seg.x0:  # rather on this side of a break
            bounds.insert(0, (seg.x0, seg.x1))
        for lo, hi in bounds:
            start = max(lo, min(x0, hi - width))
            for y in rows:
                taken = self.placed.setdefault(y, [])
                if all(start + width + 6 < a or start > b + 6 for a, b in taken):
                    taken.append((start, start + width))
                    self.d.texts.append({"x": round(start, 1), "y": y, "text": text, "cls": cls, "title": title})
                    return
        # no free row: keep it in the tooltip only, never on top of another label


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _ticks(seg: Segment) -> tuple[list[float], int]:
    """Round times, about one per 90 px, and at least one in every segment."""
    span = max(seg.t1 - seg.t0, 1.0)
    wanted = max(1, int((seg.x1 - seg.x0) / 90))
    index = next((i for i, s in enumerate(NICE_STEPS) if span / s <= wanted), len(NICE_STEPS) - 1)
    for step in reversed(NICE_STEPS[:index + 1]):  # a short segment may hold no multiple of the step
        first = math.ceil(seg.t0 / step) * step
        ticks = [first + i * step for i in range(int((seg.t1 - first) // step) + 1)]
        if ticks:
            return ticks, step
    return [], NICE_STEPS[0]


def build(base, views: list[FindingView]) -> Drawing | None:
    boots = {b.fields["boot"]: b.fields for b in base.of_kind("boot") if isinstance(b.fields.get("boot"), int)}
    startups = {s.fields.get("boot"): s.fields for s in base.of_kind("startup")}
    jobs_by_boot: dict[Any, list[dict]] = {}
    for job in base.of_kind("stop_job"):
        jobs_by_boot.setdefault(job.fields.get("boot"), []).append(job.fields)
    lanes_f = []
    for v in views:
        seen, evs = set(), []
        for e in _all_evidence(v):
            if e.t is not None and (e.t, e.text) not in seen:
                seen.add((e.t, e.text))
                evs.append(e)
        if evs:  # a finding read from facts without time stamps (e.g. sar summaries) has no place here
            lanes_f.append((v, sorted(evs, key=lambda e: e.t)))
    lanes_f = lanes_f[:MAX_FINDING_LANES]
    # boots of this host's own lines (a guest's console lines count the guest's boots)
    ev_boots = {e.boot for _v, evs in lanes_f for e in evs if isinstance(e.boot, int) and not e.domain}
    ev_boots &= set(boots)
    pairs = _transitions(boots, ev_boots)
    shown = sorted(ev_boots | {b for p in pairs for b in p})
    ended = {a for a, _b in pairs}
    started = {b for _a, b in pairs}
    points = [e.t for _v, evs in lanes_f for e in evs]
    jobs: list[dict] = []
    for a in sorted(ended):
        fa = boots[a]
        points += [t for t in (_num(fa.get("shutdown_begin_t")), _num(fa.get("last_t"))) if t is not None]
        for job in jobs_by_boot.get(a, []):
            if _num(job.get("begin_t")) is not None and _num(job.get("end_t")) is not None:
                jobs.append(job)
                points += [job["begin_t"], job["end_t"]]
    for b in sorted(started):
        first = _num(boots[b].get("first_t"))
        if first is not None:
            points.append(first)
            up = _num((startups.get(b) or {}).get("total_s"))
            if up is not None:
                points.append(first + up)
    if not points:
        return None
    jobs = sorted(sorted(jobs, key=lambda j: -(j.get("seconds") or 0))[:MAX_JOB_LANES], key=lambda j: j["begin_t"])

    segs = _segments(points)
    lane_specs = [("boots", BOOT_LANE)] + [("job", 28)] * len(jobs) + [("finding", 28)] * len(lanes_f)
    height = TOP + sum(h for _k, h in lane_specs) + 8
    where = ", ".join(f"{clock(s.t0)}–{clock(s.t1)}" for s in segs)
    d = Drawing(width=WIDTH, height=height,
                summary=f"Incident timeline ({when(segs[0].t0)[:10]}, {where} UTC): "
                        f"{len(shown)} boot(s), {len(jobs)} stop job(s), {len(lanes_f)} finding(s)")
    c = _Canvas(segs, d)
    plot_bottom = height - 8

    # the axis: dates, ticks, and the breaks where quiet time was cut out
    last_date = None
    for k, s in enumerate(segs):
        ticks, step = _ticks(s)
        for t in ticks:
            x = round(s.x(t), 1)
            d.lines.append({"x1": x, "y1": TOP - 6, "x2": x, "y2": plot_bottom, "cls": "grid"})
            d.texts.append({"x": x, "y": TOP - 10, "text": clock(t) if step < 60 else clock(t)[:5],
                            "cls": "tick", "anchor": "middle", "title": when(t)})
        date = when(s.t0)[:10]
        if date != last_date:
            d.texts.append({"x": round(s.x0, 1), "y": 12, "text": date + " (UTC)", "cls": "date", "title": ""})
            last_date = date
        if k:
            gap = s.t0 - segs[k - 1].t1
            bx = (segs[k - 1].x1 + s.x0) / 2
            d.lines.append({"x1": bx - 5, "y1": TOP - 4, "x2": bx + 5, "y2": plot_bottom, "cls": "break"})
            d.texts.append({"x": round(bx, 1), "y": TOP - 27, "text": f"+{duration(gap)}", "cls": "break-label",
                            "anchor": "middle", "title": f"{duration(gap)} without events left out"})

    y = TOP
    # lane 1: the boots, their shutdown and start, the gap between them
    d.lanes.append({"label": "Boots", "y": y, "h": BOOT_LANE, "cls": "lane-boots"})
    bar_y, rows = y + 6, [y + 35, y + 49, y + 63]
    notes: list[tuple[int, tuple, dict]] = []  # placed most important first: (priority, args, kwargs)
    for b in shown:
        fb = boots[b]
        first, last = _num(fb.get("first_t")), _num(fb.get("last_t"))
        if first is None or last is None:
            continue
        name = f"boot {b}" + (" (current)" if fb.get("current") else "")
        for i, (x0, x1) in enumerate(c.pieces(first, last)):
            d.rects.append({"x": round(x0, 1), "y": bar_y, "w": round(max(x1 - x0, 1.5), 1), "h": 16,
                            "cls": "boot", "title": f"{name}: {fb.get('text', '')}"})
            if i == 0 and x1 - x0 > len(name) * CHAR_W + 8:
                d.texts.append({"x": round(x0 + 4, 1), "y": bar_y + 12, "text": name, "cls": "bar-label",
                                "title": ""})
        shut = _num(fb.get("shutdown_begin_t"))
        if b in ended and shut is not None:
            for x0, x1 in c.pieces(shut, last):
                d.rects.append({"x": round(x0, 1), "y": bar_y, "w": round(max(x1 - x0, 1.5), 1), "h": 16,
                                "cls": "shutdown", "title": f"shutdown of boot {b}: {duration(last - shut)}"})
            notes.append((2, (f"shutdown {duration(last - shut)}", c.x(shut), rows, "note"), {}))
        if b in ended:
            x = round(c.x(last), 1)
            clean = bool(fb.get("clean_end"))
            d.lines.append({"x1": x, "y1": bar_y - 4, "x2": x, "y2": bar_y + 20,
                            "cls": "end-clean" if clean else "end-cut"})
            notes.append((0, (("last line: " if clean else "journal cut off: ") + _short(fb.get("last_line", ""), 60),
                               x, list(reversed(rows)), "note" if clean else "note bad"),
                          {"anchor": "end", "title": str(fb.get("last_line", ""))}))
        if b in started and first is not None:
            up = _num((startups.get(b) or {}).get("total_s"))
            if up is not None:
                for x0, x1 in c.pieces(first, first + up):
                    d.rects.append({"x": round(x0, 1), "y": bar_y, "w": round(max(x1 - x0, 1.5), 1), "h": 16,
                                    "cls": "startup", "title": f"boot {b} started up in {duration(up)}"})
            notes.append((3, (f"boot {b} up" + (f" in {duration(up)}" if up is not None else ""), c.x(first), rows,
                              "note"), {}))
    for a, b in pairs:
        end, start = _num(boots[a].get("last_t")), _num(boots[b].get("first_t"))
        if end is not None and start is not None and start >= end:
            notes.append((1, (f"down {duration(start - end)}", (c.x(end) + c.x(start)) / 2, rows, "note gap"),
                          {"anchor": "middle"}))
    for _priority, args, kwargs in sorted(notes, key=lambda n: n[0]):
        c.label(*args, **kwargs)
    y += BOOT_LANE

    for job in jobs:
        name = str(job.get("unit", "?"))
        d.lanes.append({"label": _short(f"stop {name}", 28), "y": y, "h": 28, "cls": "lane-job",
                        "title": str(job.get("text", name))})
        cls = "job unfinished" if job.get("unfinished") else "job timeout" if job.get("timed_out") else "job"
        x_end = c.x(job["end_t"])
        for x0, x1 in c.pieces(job["begin_t"], job["end_t"]):
            d.rects.append({"x": round(x0, 1), "y": y + 8, "w": round(max(x1 - x0, 2), 1), "h": 12, "cls": cls,
                            "title": str(job.get("text", ""))})
        state = "never finished" if job.get("unfinished") else "timed out" if job.get("timed_out") else ""
        ran = ("at least " if not job.get("begin_known", True) else "") + duration(job.get("seconds"))
        c.label(f"{ran}" + (f" · {state}" if state else ""), x_end + 5, [y + 18], "note",
                or_before=c.x(job["begin_t"]))
        y += 28

    for v, evs in lanes_f:
        d.lanes.append({"label": _short(f"{v.number} {v.rule}", 28), "y": y, "h": 28,
                        "cls": f"lane-finding sev-{v.severity}", "title": v.summary, "href": f"#{v.anchor}"})
        if len(evs) > 1:  # a thin line from the first piece of evidence to the last
            for a, b in c.pieces(evs[0].t, evs[-1].t):
                d.lines.append({"x1": round(a, 1), "y1": y + 14, "x2": round(b, 1), "y2": y + 14,
                                "cls": f"span sev-{v.severity}"})
        for e in evs:
            d.marks.append({"cx": round(c.x(e.t), 1), "cy": y + 14, "r": 5, "cls": f"mark sev-{v.severity}",
                            "title": f"{clock(e.t)}  {e.text}  ({e.where})"})
        y += 28

    d.events = _events(boots, shown, ended, started, startups, jobs, lanes_f)
    return d


def _events(boots, shown, ended, started, startups, jobs, lanes_f) -> list[dict[str, Any]]:
    """The story in time order, as rows: time, what, text, where."""
    out = []
    for b in shown:
        fb = boots[b]
        if b in ended:
            if _num(fb.get("shutdown_begin_t")) is not None:
                out.append((fb["shutdown_begin_t"], 0, "shutdown", f"boot {b} begins shutting down", ""))
            if _num(fb.get("last_t")) is not None:
                state = "last line" if fb.get("clean_end") else "journal cut off; last line"
                out.append((fb["last_t"], 3, "boot end", f"boot {b} ends ({state}: {fb.get('last_line', '')})", ""))
        if b in started and _num(fb.get("first_t")) is not None:
            out.append((fb["first_t"], 0, "boot start", f"boot {b} starts ({fb.get('boot_id') or 'id unknown'})", ""))
            up = _num((startups.get(b) or {}).get("total_s"))
            if up is not None:
                out.append((fb["first_t"] + up, 1, "startup", str(startups[b].get("text", "")), ""))
    for job in jobs:
        out.append((job["begin_t"], 1, "stop job", f"{job.get('unit')}: stop begins", ""))
        out.append((job["end_t"], 2, "stop job", str(job.get("text", "")), ""))
    for v, evs in lanes_f:
        for e in evs:
            out.append((e.t, 2, f"{v.number} {v.rule}", e.text, e.where))
    out.sort(key=lambda r: (r[0], r[1]))
    return [{"t": t, "time": when(t), "what": what, "text": text, "where": where}
            for t, _o, what, text, where in out]
