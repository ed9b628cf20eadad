"""How a fix runs a command on the host: an argv list, a timeout that takes the command's
children with it, and output that cannot grow without bound."""
from __future__ import annotations

import os
import time

from hostmedic.remediations.host import Host


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_a_command_that_hangs_is_killed_with_what_it_started(tmp_path):
    pidfile = tmp_path / "child.pid"
    ran = Host(timeout=1).run(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"])
    assert ran.rc == 124 and "no answer within 1 s" in ran.err
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)  # the background sleep went with its parent's process group


def test_exit_status_output_and_a_missing_command():
    ran = Host().run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (ran.rc, ran.out, ran.err) == (3, "out\n", "err\n")
    assert Host().run(["no-such-command-here"]).rc == 127
    assert Host().run(["sh", "-c", "echo $LC_ALL"]).out == "C\n"
