"""One measured step, run in its own process by run.py; prints seconds (and counts).

    scan.py journal DIR [--rules DIR]      the journal collector on journal files
    scan.py sos TREE [--rules DIR]         the journal collector on a sosreport's journalctl text
    scan.py analyse SNAPSHOT [--rules DIR] symptoms and rule matching on a fact snapshot
"""
from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["journal", "sos", "analyse"])
    p.add_argument("path")
    p.add_argument("--rules", action="append", default=[])
    args = p.parse_args()
    from hostmedic.collectors import Options
    from hostmedic.engine import analysis as flow
    from hostmedic.engine.facts import FactBase
    from hostmedic.engine.rulepack import load_pack
    from hostmedic.engine.sources import LocalSource, SosreportSource

    pack = load_pack(args.rules)
    if args.what == "analyse":
        base = FactBase.load(args.path)
        start = time.perf_counter()
        result = flow.analyse(base, pack)
        took = time.perf_counter() - start
        counts = {"facts": len(base.facts), "symptoms": len(result.symptoms),
                  "findings": len(result.findings), "rules": len(pack.rules)}
    else:
        source = SosreportSource(args.path) if args.what == "sos" else LocalSource()
        options = Options(journal_dir=args.path if args.what == "journal" else None)
        start = time.perf_counter()
        base = flow.collect(source, pack, options, ["journal"])
        took = time.perf_counter() - start
        counts = {"log_facts": sum(1 for _ in base.of_kind("log"))}
    print(json.dumps({"seconds": took, **counts}))


if __name__ == "__main__":
    main()
