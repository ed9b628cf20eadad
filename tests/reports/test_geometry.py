"""The timeline and resource charts: geometry worked out server side, from real facts.

The example incident: git hung on a dead NFS server at 02:04, the on-call engineer rebooted at
02:24, two stop jobs timed out (90 s each), the journal stopped at 02:27:02 and the next boot
began 24 s later. The sar history comes from a real `sar -A` of a guest thrashing through swap.
"""
from __future__ import annotations

import shutil

from conftest import EXAMPLE, REPO, analyse
from hostmedic.reports import charts, html_report, timeline, view
from hostmedic.reports.timeline import LEFT, RIGHT, WIDTH


def _drawing(analysis):
    return timeline.build(analysis.base, view.findings(analysis))


def test_example_timeline_shows_shutdown_stop_jobs_gap_new_boot_and_errors(example_analysis):
    d = _drawing(example_analysis)
    labels = [lane["label"] for lane in d.lanes]
    assert labels == ["Boots", "stop git-mirror-sync.service", "stop srv-mirror.mount",
                      "1 nfs-mount-hang", "2 shutdown-hang"]
    texts = [t["text"] for t in d.texts]
    assert "shutdown 3min 1s" in texts
    assert "last line: Journal stopped" in texts
    assert "down 24s" in texts  # 02:27:02 -> 02:27:26
    assert "boot 0 up in 6s" in texts
    assert any(t.startswith("1min 30s · timed out") for t in texts)
    # the quiet 15 minutes between the last hung-task report and the reboot are cut out
    assert [t["text"] for t in d.texts if t["cls"] == "break-label"] == ["+15min 4s"]
    # every evidence line of the leading finding has a mark, in time order, inside the plot
    nfs = [m for m in d.marks if m["cy"] == next(l["y"] for l in d.lanes if l["label"] == "1 nfs-mount-hang") + 14]
    assert len(nfs) == 5  # 6 lines, two of them the same second and text
    xs = [m["cx"] for m in nfs]
    assert xs == sorted(xs) and LEFT <= xs[0] and xs[-1] <= WIDTH - RIGHT
    assert all("blocked for more than" in m["title"] or "not responding" in m["title"] or "Unmounting" in m["title"]
               for m in nfs)
    # stop jobs: the mount's stop began when the service's ended
    jobs = [r for r in d.rects if r["cls"].startswith("job")]
    assert len(jobs) == 2 and abs(jobs[0]["x"] + jobs[0]["w"] - jobs[1]["x"]) < 1.0
    for r in d.rects:
        assert LEFT - 1 <= r["x"] and r["x"] + r["w"] <= WIDTH - RIGHT + 1
    # the same story as a list, in time order
    times = [e["t"] for e in d.events]
    assert times == sorted(times) and d.events[0]["what"] == "1 nfs-mount-hang"
    assert any(e["what"] == "boot start" for e in d.events)


def test_timeline_labels_do_not_overlap(example_analysis):
    d = _drawing(example_analysis)
    notes = [t for t in d.texts if t["cls"].startswith("note")]
    for i, a in enumerate(notes):
        for b in notes[i + 1:]:
            if a["y"] == b["y"]:
                wa, wb = len(a["text"]) * timeline.CHAR_W, len(b["text"]) * timeline.CHAR_W
                assert a["x"] + wa <= b["x"] or b["x"] + wb <= a["x"], (a, b)


def test_incident_in_the_current_boot_shows_the_reboot_before_it():
    case = REPO / "tests/data/sosreports/guest-nfs-hang/sosreport"
    d = _drawing(analyse(case))
    texts = [t["text"] for t in d.texts]
    assert "down 21s" in texts and "boot 0 up in 6s" in texts
    assert [t["text"] for t in d.texts if t["cls"] == "break-label"] == ["+11h 19min"]
    ticks = [t for t in d.texts if t["cls"] == "tick"]
    assert ticks[0]["x"] < 400  # the short segment around the reboot has a time on it too


def test_no_time_stamps_no_timeline():
    case = REPO / "tests/data/sosreports/host-memballoon-oom/sosreport"  # console lines, no times
    analysis = analyse(case)
    assert analysis.findings and _drawing(analysis) is None
    assert 'id="timeline"' not in html_report.render(analysis)


def test_resource_cards_from_sar_and_pressure_facts(tmp_path):
    tree = tmp_path / "sos"
    shutil.copytree(EXAMPLE, tree)
    (tree / "sos_commands/sar").mkdir()
    shutil.copy(REPO / "tests/data/sysstat/sar-A-thrash.txt", tree / "sos_commands/sar/sar22")
    (tree / "proc/pressure").mkdir()
    for res in ("cpu", "memory", "io"):
        shutil.copy(REPO / f"tests/data/pressure/{res}-during-cgroup-thrash", tree / f"proc/pressure/{res}")
    shutil.copy(REPO / "tests/data/pressure/vmstat-during-cgroup-thrash", tree / "proc/vmstat")
    analysis = analyse(tree)
    cards = {c.title: c for c in charts.cards(analysis.base, None)}
    assert set(cards) == {"Memory (sar)", "Swap in / out (sar -W)", "Disk vda (sar -d)",
                          "Pressure stall now (PSI)", "Counters since boot (/proc/vmstat)"}
    swap = cards["Swap in / out (sar -W)"]
    assert swap.hot and [b.label for b in swap.bars] == ["peak swap-in", "peak swap-out"]
    assert swap.bars[0].value == "4,714 pages/s" and swap.bars[0].hot and 0 < swap.bars[0].mark < 1
    assert "13 of 15 samples" in swap.notes[0]
    assert swap.strip and swap.strip.worst is not None and swap.strip.incident is None  # 2024 incident, 2026 data
    disk = cards["Disk vda (sar -d)"]
    assert not disk.hot and disk.bars[0].value == "14 %" and "never saturated" in disk.notes[0]
    psi = cards["Pressure stall now (PSI)"]
    assert [b.label for b in psi.bars] == ["cpu some", "cpu full", "memory some", "memory full", "io some", "io full"]
    assert psi.bars[2].value == "2.7 / 1.9 / 1.0 %"
    assert ("pages swapped in", "852,224") in cards["Counters since boot (/proc/vmstat)"].rows
    page = html_report.render(analysis)
    assert 'id="resources"' in page and "Swap in / out (sar -W)" in page


def test_resource_strip_marks_the_incident_when_it_falls_in_the_period(example_analysis):
    from hostmedic.engine.facts import FactBase, Provenance
    base = FactBase()
    base.add("swap_activity", {"samples": 10, "thrash_samples": 4, "thrash_seconds": 40, "max_pswpin_s": 900.0,
                               "max_pswpout_s": 50.0, "first_t": 1000.0, "last_t": 2000.0, "worst_t": 1500.0,
                               "period": "p", "source": "sar"}, Provenance("file", "sar"))
    card = charts.cards(base, (1400.0, 1600.0))[0]
    assert card.strip.incident == (240.0, 120.0) and card.strip.worst == 300.0
    assert "within 15 minutes of the incident" in card.notes[-1]
