"""The peer: insights-core parsing a sosreport's `journalctl --no-pager` text with a rule
of the same meaning as hostmedic's nfs-mount-hang (an NFS server stopped answering and
tasks hung). Run with a Python that has insights-core:

    python peer_insights.py SOSREPORT_DIR      prints {"seconds": ..., "result": ...}

insights-core reads a filterable spec through `grep -F` with the filters rules register
(its literal prefilter), then parses the kept lines with its Syslog parser.
"""
from __future__ import annotations

import json
import sys
import time

from insights import _run, dr, make_fail, rule
from insights.core.context import SosArchiveContext
from insights.core.filters import add_filter
from insights.parsers.journalctl import JournalAll
from insights.specs import Specs

NOT_RESPONDING = "not responding, still trying"
HUNG = "blocked for more than"
add_filter(Specs.journal_all, [NOT_RESPONDING, HUNG])


@rule(JournalAll)
def nfs_hang(journal):
    servers = sorted({line["message"].split()[2] for line in journal.get(NOT_RESPONDING)
                      if line.get("message", "").startswith("nfs: server ")})
    tasks = [line["message"] for line in journal.get(HUNG) if "INFO: task " in line.get("message", "")]
    if servers and tasks:
        return make_fail("NFS_MOUNT_HANG", servers=servers, hung_tasks=len(tasks))


def main(root: str) -> None:
    start = time.perf_counter()
    dr.load_components("insights.specs.sos_archive", continue_on_error=False)
    broker = _run(dr.Broker(), dr.get_dependency_graph(nfs_hang), root=root, context=SosArchiveContext)
    took = time.perf_counter() - start
    result = broker.get(nfs_hang)
    print(json.dumps({"seconds": took, "result": dict(result) if result else None}))


if __name__ == "__main__":
    main(sys.argv[1])
