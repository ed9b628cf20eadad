"""Each scenario diagnosed three ways, which must agree:

    live      diagnose --libvirt-uri qemu:///system   (the API read-only, the console logs)
    sos       sos report of the lab host (Debian's sosreport), then diagnose --sosreport
    snapshot  diagnose collect -o FILE, then diagnose --facts FILE
"""
from __future__ import annotations

import glob
import json
import os
import sys
import time
from dataclasses import dataclass, field

from lab_host import URI, LabError, run

DIAGNOSE = os.path.join(os.path.dirname(sys.executable), "diagnose")
SERIOUS = ("warning", "error", "critical")
# Debian's sosreport 4.0: the virsh plugin is off by default there (it looks for a package
# named libvirt-client; Debian's is libvirt-clients), so it is named here. libvirt copies
# /etc/libvirt, /run/libvirt (live status: paused, reason ioerror; currentMemory) and
# /var/log/libvirt (qemu and console logs); filesys gives df (the full storage under a
# disk); block lsblk; logs the system log (libvirt-guests' messages); kernel dmesg; host
# the hostname.
SOS_PLUGINS = "libvirt,virsh,filesys,block,logs,kernel,host"


@dataclass
class Way:
    name: str
    seconds: float = 0.0
    exit: int | None = None
    leading: str | None = None
    serious: list[str] = field(default_factory=list)  # rule ids at warning or above
    missing: list[str] = field(default_factory=list)  # expected names the finding lacks
    wrong: list[str] = field(default_factory=list)  # what the finding says and must not
    foreign: list[str] = field(default_factory=list)  # serious findings about something else
    error: str = ""
    report: dict = field(default_factory=dict)

    @property
    def found(self) -> str:
        if self.error:
            return "ERROR"
        return self.leading or "none"


def diagnose_json(args: list[str], timeout: float = 180) -> tuple[int, dict]:
    done = run([DIAGNOSE, *args, "--format", "json"], check=False, timeout=timeout)
    if done.returncode not in (0, 1, 2):
        raise LabError(f"diagnose {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-600:]}")
    return done.returncode, json.loads(done.stdout)


def live() -> tuple[int, dict]:
    return diagnose_json(["--libvirt-uri", URI])


def sosreport(tmpdir: str) -> tuple[int, dict]:
    os.makedirs(tmpdir, exist_ok=True)
    run(["sos", "report", "--batch", "--tmp-dir", tmpdir, "-o", SOS_PLUGINS], timeout=300)
    tarballs = glob.glob(os.path.join(tmpdir, "sosreport-*.tar.xz"))
    if len(tarballs) != 1:
        raise LabError(f"sos report left {len(tarballs)} tarballs in {tmpdir}")
    return diagnose_json(["--sosreport", tarballs[0]])


def snapshot(tmpdir: str) -> tuple[int, dict]:
    os.makedirs(tmpdir, exist_ok=True)
    path = os.path.join(tmpdir, "facts.json")
    done = run([DIAGNOSE, "collect", "-o", path, "--libvirt-uri", URI], check=False, timeout=180)
    if done.returncode != 0:
        raise LabError(f"diagnose collect exited {done.returncode}: {done.stderr.strip()[-600:]}")
    return diagnose_json(["--facts", path])


def concerns(finding: dict, domain: str) -> bool:
    """Whether a finding is about DOMAIN: its group, or any of its evidence, names it."""
    if domain in (str(v) for v in (finding.get("group") or {}).values()):
        return True
    return any(e.get("domain") == domain for e in finding.get("evidence") or [])


def judge(way: Way, report: dict, expect: dict, words: dict[str, str], domain: str) -> None:
    way.report = report
    serious = [f for f in report.get("findings") or [] if f["severity"] in SERIOUS]
    way.serious = [f["rule"] for f in serious]
    way.foreign = [f"{f['rule']}: {f['summary']}" for f in serious if not concerns(f, domain)]
    if serious:
        way.leading = serious[0]["rule"]
        text = json.dumps(serious[0])
        for name in expect.get("names") or []:
            wanted = name.format(**words)
            if wanted not in text and json.dumps(wanted)[1:-1] not in text:
                way.missing.append(wanted)
        for name in expect.get("absent") or []:
            unwanted = name.format(**words)
            if unwanted in text or json.dumps(unwanted)[1:-1] in text:
                way.wrong.append(unwanted)


def diagnose_three_ways(expect: dict, words: dict[str, str], domain: str, tmpdir: str) -> list[Way]:
    out = []
    for name, call in (("live", live), ("sos", lambda: sosreport(os.path.join(tmpdir, "sos"))),
                       ("snapshot", lambda: snapshot(os.path.join(tmpdir, "snapshot")))):
        way = Way(name)
        started = time.monotonic()
        try:
            way.exit, report = call()
            judge(way, report, expect, words, domain)
        except LabError as err:
            way.error = str(err)
        way.seconds = time.monotonic() - started
        out.append(way)
    return out


def problems(ways: list[Way], expect: dict, per_way=None, exempt=()) -> list[str]:
    """Why the diagnoses do not show what the scenario expects, or do not agree. PER_WAY
    gives one way's own expectation (default: EXPECT for all); the ways in EXEMPT are left
    out of the agreement."""
    out = []
    for w in ways:
        if w.error:
            out.append(f"{w.name}: {w.error}")
            continue
        rule = (per_way(w.name) if per_way else expect).get("rule")
        if w.leading != rule:
            out.append(f"{w.name}: leading finding {w.leading or 'none'}, expected {rule or 'none'}"
                       + (f" (findings at warning or above: {', '.join(w.serious)})" if w.serious else ""))
        if w.missing:
            out.append(f"{w.name}: the {rule} finding does not name {', '.join(map(repr, w.missing))}")
        if w.wrong:
            out.append(f"{w.name}: the {rule} finding says {', '.join(map(repr, w.wrong))}, which is not so")
        if w.foreign:
            out.append(f"{w.name}: unexpected findings: {'; '.join(w.foreign)}")
    ok = [w for w in ways if not w.error and w.name not in exempt]
    if len({tuple(sorted(set(w.serious))) for w in ok}) > 1:
        out.append("the ways disagree: " + "; ".join(f"{w.name} {sorted(set(w.serious))}" for w in ok))
    return out
