"""hostmedic's incident lab: real libvirt + qemu guests, real faults, diagnosed three ways
(live, from a sosreport, from a snapshot) and fixed for real. `make lab` runs it.

    .venv/bin/python tests/lab/run_lab.py [--only NAME ...] [--deadline SECONDS]

Exit 0 when every scenario passed (or the machine cannot run the lab and CI is not set),
1 otherwise. It prints one table row per scenario, then the time each part took.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab_diagnose  # noqa: E402
import lab_fixes  # noqa: E402
import lab_guest  # noqa: E402
import lab_host  # noqa: E402
import lab_image  # noqa: E402
import lab_scenarios  # noqa: E402
import lab_systemd  # noqa: E402
from lab_host import Cleanup, Interrupted, LabError, log  # noqa: E402

LIBVIRTD_LOG = "/var/log/libvirt/libvirtd.log"
SCENARIO_BUDGET = 75  # seconds a scenario needs at most on a quiet machine; none starts with less left
SYSTEMD_BUDGET = 420  # the same for a systemd guest scenario (with its fix and second reboot)
FIX_SHORTENS = 0.5  # after a fix the reboot must take at most this share of the time it took before


@dataclass
class Outcome:
    scenario: dict
    ways: list = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    fault: str = ""
    shutdown: dict[str, float] = field(default_factory=dict)  # before / after the fixes (systemd)

    @property
    def passed(self) -> bool:
        return not self.problems and bool(self.ways)

    @property
    def seconds(self) -> float:
        return sum(self.times.values())


def timed(times: dict, part: str, call, *args):
    started = time.monotonic()
    try:
        return call(*args)
    finally:
        times[part] = times.get(part, 0.0) + time.monotonic() - started


def guarded(sc: dict, workbase: str, steps) -> Outcome:
    """Run STEPS(out, workdir, cleanup) for one scenario in a work folder of its own: a
    LabError or a harness bug becomes a problem of that scenario, and whatever it made is
    undone in every case."""
    out = Outcome(sc)
    cleanup = Cleanup()
    workdir = tempfile.mkdtemp(prefix=f"{sc['name']}-", dir=workbase)
    os.chmod(workdir, 0o755)  # qemu runs as libvirt-qemu and reads the disk images in here
    cleanup.push(f"remove {workdir}", lambda: shutil.rmtree(workdir, ignore_errors=True))
    try:
        steps(out, workdir, cleanup)
    except LabError as err:
        out.problems.append(str(err))
    except Exception as err:  # a harness bug: report it with the scenario, go on with the next
        out.problems.append(f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
    finally:
        started = time.monotonic()
        errors = cleanup.run()
        out.times["cleanup"] = time.monotonic() - started
        out.problems += [f"cleanup: {e}" for e in errors]
    return out


def run_scenario(sc: dict, boot: dict, workbase: str, own_libvirtd: bool) -> Outcome:
    return guarded(sc, workbase, lambda out, workdir, cleanup: _tiny_steps(out, workdir, cleanup, boot, own_libvirtd))


def _tiny_steps(out: Outcome, workdir: str, cleanup: Cleanup, boot: dict, own_libvirtd: bool) -> None:
    sc = out.scenario
    if own_libvirtd and os.path.exists(LIBVIRTD_LOG):
        # each scenario is its own incident: start libvirtd's log afresh, as Debian's
        # logrotate does (copytruncate), so one scenario's messages do not stand in the next
        os.truncate(LIBVIRTD_LOG, 0)
    g = timed(out.times, "boot", lab_scenarios.prepare, sc, workdir, boot, cleanup)
    timed(out.times, "boot", g.start)
    out.fault = timed(out.times, "fault", lab_scenarios.inflict, g)
    out.ways = lab_diagnose.diagnose_three_ways(sc["expect"], g.words, g.name, workdir)
    for way in out.ways:
        out.times[way.name] = way.seconds
    out.problems += lab_diagnose.problems(out.ways, sc["expect"])
    for fix_name in sc.get("fixes") or []:
        try:
            note = timed(out.times, "fixes", lab_fixes.FIXES[fix_name], g)
            out.fixes.append(f"{fix_name}: {note}")
        except LabError as err:
            out.fixes.append(f"{fix_name}: FAILED")
            out.problems.append(f"fix {fix_name}: {err}")

def run_systemd_scenario(sc: dict, image: dict, access, workbase: str, keep: str | None = None) -> Outcome:
    """KEEP: a folder where the guest's journal files stay after the run (for examples)."""
    return guarded(sc, workbase, lambda out, workdir, cleanup: _systemd_steps(out, workdir, cleanup, image, access, keep))


def _systemd_steps(out: Outcome, workdir: str, cleanup: Cleanup, image: dict, access, keep: str | None) -> None:
    sc = out.scenario
    guests = timed(out.times, "boot", lab_systemd.prepare, sc, workdir, image, access, cleanup)
    timed(out.times, "boot", lab_systemd.boot_all, guests)
    target = guests[-1]
    timed(out.times, "setup", lab_systemd.set_up, sc, guests)
    fault = timed(out.times, "fault", lab_systemd.inflict, sc, guests)
    out.fault = fault.what
    if fault.shutdown_seconds is not None:
        out.shutdown["before"] = fault.shutdown_seconds
    report = timed(out.times, "hook", lab_systemd.wait_hook, target)
    out.ways = lab_systemd.diagnose_ways(sc, target, os.path.join(keep, sc["name"]) if keep else workdir, report)
    for way in out.ways:
        out.times[way.name] = way.seconds
    out.problems += lab_systemd.problems(out.ways, sc["expect"])
    for fix in sc.get("fixes") or []:
        try:
            note = timed(out.times, "fixes", lab_systemd.apply_fix, target, fix)
            again = timed(out.times, "fixes", lab_systemd.inflict, sc, guests)
            after = timed(out.times, "fixes", lab_systemd.wait_hook, target)
        except LabError as err:
            out.fixes.append(f"{fix['id']}: FAILED")
            out.problems.append(f"fix {fix['id']}: {err}")
            continue
        out.shutdown["after"] = again.shutdown_seconds
        lead = next((f["rule"] for f in after.get("findings") or [] if f["severity"] in lab_diagnose.SERIOUS), None)
        out.fixes.append(f"{fix['id']}: {note}; then the reboot took {again.shutdown_seconds:.0f} s "
                         f"(before: {out.shutdown.get('before', 0):.0f} s); the hook then led with {lead or 'nothing'}")
        if "before" in out.shutdown and again.shutdown_seconds > out.shutdown["before"] * FIX_SHORTENS:
            out.problems.append(f"fix {fix['id']}: the reboot still took {again.shutdown_seconds:.0f} s "
                                f"(before the fix {out.shutdown['before']:.0f} s)")


def systemd_table(outcomes: list[Outcome]) -> str:
    head = ("scenario", "expected rule", "hook", "host", "journal", "sos", "reboot before/after fix",
            "fixes", "time", "result")
    rows = [head]
    for o in outcomes:
        found = {w.name: w.found for w in o.ways}
        rule = o.scenario["expect"]["rule"] or "none (healthy)"
        also = o.scenario["expect"].get("also") or []
        sd = o.shutdown
        reboot = (f"{sd['before']:.0f} s" if "before" in sd else "-") + (f" -> {sd['after']:.0f} s" if "after" in sd else "")
        fixes = ", ".join(f.split(":")[0] + (" FAILED" if f.endswith("FAILED") else " ok") for f in o.fixes) or "-"
        rows.append((o.scenario["name"], " + ".join([rule, *also]), found.get("hook", "-"), found.get("host", "-"),
                     found.get("journal", "-"), found.get("sos", "-"), reboot, fixes, f"{o.seconds:.0f} s",
                     "PASS" if o.passed else "FAIL"))
    return _columns(rows)


def _columns(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(outcomes: list[Outcome]) -> str:
    head = ("scenario", "expected rule", "live", "sosreport", "snapshot", "fixes", "time", "result")
    rows = [head]
    for o in outcomes:
        found = {w.name: w.found for w in o.ways}
        fixes = ", ".join(f.split(":")[0] + (" FAILED" if f.endswith("FAILED") else " ok") for f in o.fixes) or "-"
        rows.append((o.scenario["name"], o.scenario["expect"]["rule"] or "none (healthy)",
                     found.get("live", "-"), found.get("sos", "-"), found.get("snapshot", "-"),
                     fixes, f"{o.seconds:.0f} s", "PASS" if o.passed else "FAIL"))
    return _columns(rows)


def details(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        parts = ", ".join(f"{k} {v:.0f}" for k, v in o.times.items())
        lines.append(f"{o.scenario['name']}: {parts} (s)")
        if o.fault:
            lines.append(f"  fault: {o.fault}")
        for w in o.ways:
            lines.append(f"  {w.name}: exit {'-' if w.exit is None else w.exit}, findings at warning or above: "
                         f"{', '.join(w.serious) or 'none'}")
        for f in o.fixes:
            lines.append(f"  fix {f}")
        for p in o.problems:
            lines.append(f"  PROBLEM: {p}")
    return "\n".join(lines)


def save_reports(o: Outcome, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    for w in o.ways:
        with open(os.path.join(folder, f"{o.scenario['name']}-{w.name}.json"), "w") as fh:
            json.dump(w.report, fh, indent=1)


def run_each(scenarios: list[dict], budget: float, run_one, outcomes: list[Outcome], args, t0: float) -> None:
    """Each scenario in turn while the deadline leaves it BUDGET seconds; the rest are
    reported as not run."""
    for sc in scenarios:
        left = args.deadline - (time.monotonic() - t0)
        if left < budget:
            o = Outcome(sc)
            o.problems.append(f"not run: {left:.0f} s left of the {args.deadline:.0f} s deadline")
            outcomes.append(o)
            continue
        log(f"scenario {sc['name']}: {sc['title']}")
        o = run_one(sc)
        outcomes.append(o)
        if args.reports:
            save_reports(o, args.reports)
        log(f"scenario {sc['name']}: {'PASS' if o.passed else 'FAIL'} ({o.seconds:.0f} s)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    p.add_argument("--reports", metavar="DIR", help="also save each diagnosis (JSON) in DIR, and the "
                                                    "systemd guests' journal files and sos reports")
    p.add_argument("--set", choices=("all", "ci"), default=os.environ.get("LAB_SET", "all"),
                   help="all scenarios (default), or ci: the tiny-guest ones and the systemd ones "
                        "marked ci (or $LAB_SET)")
    p.add_argument("--deadline", type=float, default=float(os.environ.get("LAB_DEADLINE", 3000)),
                   help="seconds the whole lab may take (default 3000, or $LAB_DEADLINE)")
    args = p.parse_args(argv)
    ci = os.environ.get("CI", "").lower() == "true"
    why = lab_host.cannot_run()
    if why:
        print(f"lab: SKIPPED: {why}")
        if ci:
            print("lab: CI=true: a skipped lab is a failure", file=sys.stderr)
            return 1
        return 0
    scenarios = lab_scenarios.load_all(args.only, ci_only=args.set == "ci")
    tiny = [sc for sc in scenarios if sc.get("kind") != "systemd"]
    systemd = [sc for sc in scenarios if sc.get("kind") == "systemd"]
    t0 = time.monotonic()
    lab_host.on_signals()
    cleanup = Cleanup()
    outcomes: list[Outcome] = []
    parts: dict[str, float] = {}
    failure = ""
    before = None
    try:
        parts["install"] = lab_host.install_packages(cleanup)
        if not shutil.which("qemu-system-x86_64"):
            raise LabError("qemu-system-x86_64 is missing after installing qemu-system-x86")
        started = time.monotonic()
        own = lab_host.start_daemons(cleanup)
        parts["daemons"] = time.monotonic() - started
        if "libvirtd" not in own:
            log("libvirtd was already running: its log is not ours to truncate, so one scenario's "
                "libvirtd lines can show in the next (stop it to run the lab on its own daemon)")
        leftovers = lab_host.remove_leftovers()
        if leftovers:
            log(f"removed what an earlier run left: {', '.join(leftovers)}")
        before = lab_host.footprint()  # the packages stay installed: a second run is quicker
        lab_host.keep_state_dirs(cleanup)
        os.makedirs(lab_host.WORK_BASE, exist_ok=True)
        os.chmod(lab_host.WORK_BASE, 0o755)
        cleanup.push(f"remove {lab_host.WORK_BASE}", lambda: shutil.rmtree(lab_host.WORK_BASE, ignore_errors=True))
        guest_dir = tempfile.mkdtemp(prefix="guest-", dir=lab_host.WORK_BASE)
        os.chmod(guest_dir, 0o755)  # qemu runs as libvirt-qemu and reads the kernel from here
        if tiny:
            started = time.monotonic()
            boot = lab_guest.build(guest_dir)
            parts["guest build"] = time.monotonic() - started
            log(f"guest: Debian kernel {boot['release']}, busybox initramfs ({parts['guest build']:.0f} s)")
        run_each(tiny, SCENARIO_BUDGET, lambda sc: run_scenario(sc, boot, lab_host.WORK_BASE, "libvirtd" in own),
                 outcomes, args, t0)
        if systemd:
            tree, parts["systemd image (cached base)"] = lab_image.base_tree()
            access, public_key = lab_systemd.make_access(os.path.join(guest_dir, "ssh"), tree)
            image = lab_image.build(guest_dir, public_key)
            parts["systemd image (this checkout)"] = image["run_seconds"]
            log(f"systemd guest image: Debian 12, kernel {image['release']}")
            run_each(systemd, SYSTEMD_BUDGET,
                     lambda sc: run_systemd_scenario(sc, image, access, lab_host.WORK_BASE, args.reports),
                     outcomes, args, t0)
    except (LabError, Interrupted, KeyboardInterrupt) as err:
        failure = f"{type(err).__name__}: {err}"
    finally:
        started = time.monotonic()
        errors = cleanup.run()
        parts["cleanup"] = time.monotonic() - started
        if before is not None:
            errors += [f"left behind: {x}" for x in lab_host.left_behind(before, lab_host.footprint())]
    total = time.monotonic() - t0
    print()
    tiny_done = [o for o in outcomes if o.scenario.get("kind") != "systemd"]
    systemd_done = [o for o in outcomes if o.scenario.get("kind") == "systemd"]
    if tiny_done:
        print(table(tiny_done))
        print()
    if systemd_done:
        print(systemd_table(systemd_done))
        print()
    print(details(outcomes))
    print()
    print("setup: " + ", ".join(f"{k} {v:.0f} s" for k, v in parts.items()) + f"; total {total:.0f} s")
    bad = [o for o in outcomes if not o.passed]
    if failure:
        print(f"lab: FAILED: {failure}")
    for e in errors:
        print(f"lab: cleanup problem: {e}")
    if len(outcomes) < len(scenarios):
        print(f"lab: only {len(outcomes)} of {len(scenarios)} scenarios ran")
    ok = not failure and not errors and not bad and len(outcomes) == len(scenarios)
    print(f"lab: {'PASS' if ok else 'FAIL'}: {len(outcomes) - len(bad)} of {len(scenarios)} scenarios "
          f"passed in {total:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
