"""The benchmark: builds realistic inputs, measures hostmedic and, in the same run, the
floor each figure is compared with, and prints one table (medians of --runs runs).

    python bench/run.py [--runs N] [--sizes 100000,1000000] [--cache DIR] [--no-peer]

Inputs are kept in --cache (default build/bench) and rebuilt when the generators change:
journal files of each size (two boots, written by systemd-journal-remote), the same
entries as a sosreport's sos_commands/logs/journalctl_--no-pager, a KVM host sosreport
with 50 domains, 300 generated rules, and the peer (insights-core) in a throwaway venv.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import inputs  # noqa: E402
import journal_input  # noqa: E402

REPO = HERE.parent
PY = sys.executable
DIAGNOSE = str(Path(PY).parent / "diagnose")
PEER_PACKAGE = "insights-core"


@dataclass
class Run:
    seconds: float
    rss_mb: float  # peak resident set of the child (mapped journal files count)
    anon_mb: float  # peak private memory of the child, sampled every 20 ms
    out: str
    rc: int


def measure(argv: list[str], stdout=subprocess.PIPE) -> Run:
    """Wall time, peak RSS and peak private memory of one child run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL, cwd=REPO)
    peak = [0]

    def sample() -> None:
        status = f"/proc/{proc.pid}/status"
        while proc.returncode is None:
            try:
                with open(status) as fh:
                    for line in fh:
                        if line.startswith("RssAnon:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read().decode() if proc.stdout else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    return Run(seconds, usage.ru_maxrss / 1024, peak[0] / 1024, out, proc.returncode)


def median_of(runs: int, argv: list[str], **kw) -> Run:
    results = [measure(argv, **kw) for _ in range(runs)]
    mid = sorted(results, key=lambda r: r.seconds)[len(results) // 2]
    return Run(mid.seconds, statistics.median(r.rss_mb for r in results),
               statistics.median(r.anon_mb for r in results), mid.out, mid.rc)


def inner_seconds(run: Run) -> float:
    """The time a child measured itself (scan.py, peer_insights.py print JSON)."""
    return json.loads(run.out.strip().splitlines()[-1])["seconds"]


# ----------------------------------------------------------------------------- inputs
def _stamp() -> str:
    text = "".join((HERE / f).read_text() for f in ("journal_input.py", "inputs.py"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_inputs(cache: Path, sizes: list[int]) -> dict:
    cache = cache / _stamp()
    cache.mkdir(parents=True, exist_ok=True)
    made: dict = {"journal": {}, "sos": {}}
    for n in sizes:
        jdir, sdir = cache / f"journal-{n}", cache / f"sos-{n}"
        if not (jdir / ".done").exists():
            shutil.rmtree(jdir, ignore_errors=True)
            say(f"building journal files of {n} entries ...")
            journal_input.build(jdir, n)
            (jdir / ".done").touch()
        if not (sdir / ".done").exists():
            shutil.rmtree(sdir, ignore_errors=True)
            say(f"building a sosreport with the same {n} entries as journalctl text ...")
            inputs.sos_journal_tree(sdir, n)
            (sdir / ".done").touch()
        made["journal"][n] = sorted(str(p) for p in jdir.glob("*.journal"))
        made["jdir"] = made.get("jdir", {}) | {n: str(jdir)}
        made["sos"][n] = str(sdir)
    host = cache / "host-50"
    if not (host / ".done").exists():
        shutil.rmtree(host, ignore_errors=True)
        say("building a KVM host sosreport with 50 domains ...")
        inputs.host_tree(host, 50, min(sizes))
        (host / ".done").touch()
    made["host"] = str(host)
    return made


def peer_python(cache: Path) -> str | None:
    """A throwaway venv with insights-core (kept in the cache)."""
    venv = cache / "peer-venv"
    python = venv / "bin/python"
    if not (venv / ".done").exists():
        say(f"installing the peer ({PEER_PACKAGE}) in a throwaway venv ...")
        shutil.rmtree(venv, ignore_errors=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", PEER_PACKAGE], check=True,
                           capture_output=True)
        except subprocess.CalledProcessError as err:
            say(f"peer not installed: {err.stderr.decode(errors='replace').strip()[-300:]}")
            return None
        (venv / ".done").touch()
    return str(python)


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the table
ROWS: list[tuple[str, ...]] = []


def row(what: str, inp: str, ours: str, floor_name: str, floor: str, ratio: str = "",
        target: str = "", holds: str = "") -> None:
    ROWS.append((what, inp, ours, floor_name, floor, ratio, target, holds))
    say(" | ".join(ROWS[-1]))


def ratio_row(what: str, inp: str, ours: float, floor_name: str, floor: float, unit: str = "s",
              limit: float | None = None) -> None:
    r = ours / floor if floor else float("inf")
    row(what, inp, f"{ours:.2f} {unit}", floor_name, f"{floor:.2f} {unit}", f"{r:.2f}x",
        f"<= {limit:g}x" if limit else "", ("yes" if r <= limit else "NO") if limit else "")


def print_table() -> None:
    head = ("measure", "input", "hostmedic", "floor", "floor figure", "ratio", "target", "holds")
    widths = [max(len(r[i]) for r in ROWS + [head]) for i in range(len(head))]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*head))
    print("-+-".join("-" * w for w in widths))
    for r in ROWS:
        print(fmt.format(*r))


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--cache", default=str(REPO / "build/bench"))
    p.add_argument("--no-peer", action="store_true")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cache = Path(args.cache)
    made = build_inputs(cache, sizes)
    runs = max(1, args.runs)
    tmp = Path(tempfile.mkdtemp(prefix="hostmedic-bench-"))
    try:
        _measure_all(made, sizes, runs, tmp, None if args.no_peer else peer_python(cache))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nhostmedic bench: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"medians of {runs} runs; inputs: two boots, ~1% warnings and errors, a few dozen "
          "incident lines")
    print_table()


def _measure_all(made: dict, sizes: list[int], runs: int, tmp: Path, peer: str | None) -> None:
    from hostmedic.engine.rulepack import load_pack
    pack = load_pack()
    patterns, n_ere, n_left = inputs.grep_patterns(pack, tmp / "patterns.ere")
    rules300 = inputs.generated_rules(tmp / "rules300")
    big = max(sizes)
    mem: dict[str, Run] = {}
    for n in sizes:
        files, jdir, sos = made["journal"][n], made["jdir"][n], made["sos"][n]
        text = f"{sos}/sos_commands/logs/journalctl_--no-pager"
        say(f"journal, {label(n)} entries ...")
        floor = median_of(runs, ["journalctl", *[f"--file={f}" for f in files], "-o", "cat", "--no-pager"],
                          stdout=subprocess.DEVNULL)
        scan = median_of(runs, [PY, str(HERE / "scan.py"), "journal", jdir])
        ratio_row("journal scan (collector)", f"journal {label(n)}", inner_seconds(scan),
                  "journalctl -o cat", floor.seconds, limit=2 if n == big else None)
        e2e = median_of(runs, [DIAGNOSE, "--journal-dir", jdir, "--format", "json", "-o", str(tmp / "r.json")])
        ratio_row("diagnose, end to end", f"journal {label(n)}", e2e.seconds, "journalctl -o cat", floor.seconds)
        mem[f"journal {label(n)}"] = e2e
        row("diagnose, peak RSS / private", f"journal {label(n)}", f"{e2e.rss_mb:.0f} / {e2e.anon_mb:.0f} MB",
            "journalctl -o cat", f"{floor.rss_mb:.0f} / {floor.anon_mb:.0f} MB", "",
            "private < 200 MB" if n == big else "", ("yes" if e2e.anon_mb < 200 else "NO") if n == big else "")

        say(f"sosreport journalctl text, {label(n)} lines ...")
        grep = median_of(runs, ["grep", "-E", "-c", "-f", str(patterns), text])
        scan = median_of(runs, [PY, str(HERE / "scan.py"), "sos", sos])
        ratio_row("sosreport scan (collector)", f"sos text {label(n)}", inner_seconds(scan),
                  f"grep -E ({n_ere} patterns)", grep.seconds, limit=2 if n == big else None)
        e2e = median_of(runs, [DIAGNOSE, "--sosreport", sos, "--format", "json", "-o", str(tmp / "r.json")])
        ratio_row("diagnose, end to end", f"sos text {label(n)}", e2e.seconds, "grep -E", grep.seconds)
        mem[f"sos text {label(n)}"] = e2e
        row("diagnose, peak RSS / private", f"sos text {label(n)}", f"{e2e.rss_mb:.0f} / {e2e.anon_mb:.0f} MB",
            "grep -E", f"{grep.rss_mb:.0f} / {grep.anon_mb:.0f} MB", "",
            "private < 200 MB" if n == big else "", ("yes" if e2e.anon_mb < 200 else "NO") if n == big else "")
        if peer:
            say(f"peer (insights-core), {label(n)} lines ...")
            theirs = median_of(runs, [peer, str(HERE / "peer_insights.py"), sos])
            ours = median_of(runs, [PY, str(HERE / "scan.py"), "sos", sos])
            row("peer: insights-core JournalAll + rule", f"sos text {label(n)}",
                f"{inner_seconds(ours):.2f} s (journal collector)", "insights-core (grep -F + parser)",
                f"{inner_seconds(theirs):.2f} s ({theirs.seconds:.2f} s, {theirs.rss_mb:.0f} MB process)",
                f"{inner_seconds(ours) / inner_seconds(theirs):.2f}x")

    for growth in ("journal", "sos text"):
        small, large = mem[f"{growth} {label(min(sizes))}"], mem[f"{growth} {label(big)}"]
        if small is not large:
            row("private memory growth", f"{growth} {label(min(sizes))} -> {label(big)}",
                f"{small.anon_mb:.0f} -> {large.anon_mb:.0f} MB", "input growth", f"{big // min(sizes)}x",
                f"{large.anon_mb / small.anon_mb:.2f}x", "flat", "yes" if large.anon_mb < 2 * small.anon_mb else "NO")

    say("rule matching: the full pack and 300 more rules ...")
    jdir = made["jdir"][big]
    snapshot = tmp / "facts.json"
    subprocess.run([DIAGNOSE, "collect", "--journal-dir", jdir, "-o", str(snapshot)], check=True,
                   capture_output=True)
    full = median_of(runs, [PY, str(HERE / "scan.py"), "analyse", str(snapshot)])
    more = median_of(runs, [PY, str(HERE / "scan.py"), "analyse", str(snapshot), "--rules", str(rules300)])
    nrules = json.loads(full.out)["rules"]
    ratio_row("rule matching (symptoms + rules)", f"journal {label(big)} facts",
              inner_seconds(more), f"the pack ({nrules} rules)", inner_seconds(full), limit=2)
    ROWS[-1] = (ROWS[-1][0] + f", {nrules}+300 rules",) + ROWS[-1][1:]
    e2e_full = median_of(runs, [DIAGNOSE, "--journal-dir", jdir, "--format", "json", "-o", str(tmp / "r.json")])
    e2e_more = median_of(runs, [DIAGNOSE, "--journal-dir", jdir, "--rules", str(rules300), "--format", "json",
                                "-o", str(tmp / "r.json")])
    ratio_row(f"diagnose with {nrules}+300 rules", f"journal {label(big)}", e2e_more.seconds,
              f"the pack ({nrules} rules)", e2e_full.seconds, limit=2)

    say("the host with 50 domains, and the post-reboot hook ...")
    host = made["host"]
    text = f"{host}/sos_commands/logs/journalctl_--no-pager"
    logs = [str(p) for p in sorted(Path(host, "var/log/libvirt/qemu").glob("*.log"))]
    grep = median_of(runs, ["grep", "-E", "-c", "-f", str(patterns), text, *logs])
    e2e = median_of(runs, [DIAGNOSE, "--sosreport", host, "--format", "json", "-o", str(tmp / "r.json")])
    ratio_row("diagnose, end to end", "KVM host, 50 domains", e2e.seconds, "grep -E (journal+qemu logs)",
              grep.seconds)
    row("diagnose, peak RSS / private", "KVM host, 50 domains", f"{e2e.rss_mb:.0f} / {e2e.anon_mb:.0f} MB",
        "grep -E", f"{grep.rss_mb:.0f} / {grep.anon_mb:.0f} MB")
    small = made["jdir"][min(sizes)]
    root = tmp / "hook-root"
    root.mkdir()
    hook = median_of(runs, [DIAGNOSE, "hook", "run", "--root", str(root), "--journal-dir", small])
    row("post-reboot hook run", f"journal {label(min(sizes))}", f"{hook.seconds:.2f} s", "", "", "",
        "< 2 s", "yes" if hook.seconds < 2 else "NO")
    say(f"grep -E used {n_ere} of the pack's patterns ({n_left} cannot be said in ERE)")


if __name__ == "__main__":
    main()
