"""How long collection takes on a journal of N entries over two boots, against the
floor of `journalctl --directory D -o cat` reading the same entries.

    python bench/collect.py [ENTRIES ...]     (default: 100000)
"""
from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import journal_input  # noqa: E402


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and the peak RSS (MiB) of one child run."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main(sizes: list[int]) -> None:
    diagnose = str(Path(sys.executable).parent / "diagnose")
    print(f"{'entries':>9} {'collect s':>10} {'journalctl -o cat s':>20} {'ratio':>6}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            jdir = journal_input.build(Path(tmp) / "journal", n)
            floor, _ = timed(["journalctl", "--directory", str(jdir), "-o", "cat", "--no-pager"])
            best = min(timed([diagnose, "collect", "--journal-dir", str(jdir), "-o",
                              str(Path(tmp) / "facts.json")])[0] for _ in range(3))
            print(f"{n:>9} {best:>10.2f} {floor:>20.2f} {best / floor:>6.1f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000])
