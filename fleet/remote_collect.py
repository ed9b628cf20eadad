"""The collectors, run on a fleet host from a zipapp (see zipapp.py): stdlib only.

The host needs python3 (>= 3.8) and its usual tools, nothing of ours and no pip
package: this module and the collectors import only the standard library, and use
systemd-python, libvirt-python or psutil when the host happens to have them. The rule
pack is not shipped: its log patterns (to keep only the lines worth keeping) travel
inside the zipapp as plain regex texts, and rules and reports run on the controller.

    python3 hostmedic.pyz --output FILE [--timeout S] [--boots N] [--libvirt-uri URI]
"""
from __future__ import annotations

import argparse
import re
import socket
import sys
import time

MIN_PYTHON = (3, 8)


def _interesting(patterns):
    """The engine's own prefilter over the shipped regex texts."""
    from hostmedic.engine.patterns import SymptomPattern, prefilter
    try:
        compiled = [SymptomPattern(kind="shipped", source=text, regex=re.compile(text)) for text in patterns]
    except re.error:  # an older python3 without a newer regex feature: keep more, not less
        return lambda message: True
    return prefilter(compiled)


def collect_here(patterns, timeout: float = 10.0, boots: int = 2,
                 libvirt_uri: str = "qemu:///system", version: str = "unknown",
                 rule_pack: str = ""):
    """This host's facts, as `diagnose collect` gathers them."""
    from hostmedic.collectors import Context, Options, run_all
    from hostmedic.engine.facts import FactBase
    from hostmedic.engine.sources import LocalSource

    source = LocalSource(timeout=timeout)
    base = FactBase(meta={
        "source": {"kind": source.kind, "description": source.description},
        "collected_at": time.time(), "hostmedic": version, "collected_by": socket.gethostname(),
        "rule_pack": rule_pack, "shipped": "zipapp",
    })
    ctx = Context(source=source, facts=base, options=Options(timeout=timeout, libvirt_uri=libvirt_uri,
                                                             boots=boots),
                  interesting=_interesting(patterns))
    run_all(ctx)
    host = next((f.fields.get("hostname") for f in base.of_kind("host") if f.fields.get("hostname")),
                None)
    base.meta["hostname"] = host or socket.gethostname()
    return base


def main(patterns, version: str = "unknown", rule_pack: str = "", argv=None) -> int:
    if sys.version_info[:2] < MIN_PYTHON:
        print("hostmedic: python %d.%d is too old: the collectors need python3 >= %d.%d"
              % (sys.version_info[:2] + MIN_PYTHON), file=sys.stderr)
        return 3
    p = argparse.ArgumentParser(prog="hostmedic.pyz", description="Collect this host's facts.")
    p.add_argument("--output", required=True, help="the snapshot file to write (mode 0600)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--boots", type=int, default=2)
    p.add_argument("--libvirt-uri", default="qemu:///system")
    args = p.parse_args(argv)
    base = collect_here(patterns, args.timeout, args.boots, args.libvirt_uri, version, rule_pack)
    base.save(args.output)
    problems = [s for s in base.of_kind("collector_status") if s.fields["status"] != "ok"]
    print("%d facts saved to %s (%d collector problem(s))" % (len(base.facts), args.output,
                                                             len(problems)), file=sys.stderr)
    return 0
