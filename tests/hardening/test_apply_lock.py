"""Remediation applies hold a lock: of several `diagnose fix --apply` started at once on one
system, one applies, the others are refused (or find the change already made), the file is
changed once, and every attempt is in the audit log. A holder that dies frees the lock."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .fuzzkit import REPO

sys.path.insert(0, str(Path(REPO) / "tests" / "remediations"))
import fixkit  # noqa: E402  (the remediation tests' own helpers: a tree, the audit log)

FIX = ["fix", "mount-timeout", "--mount", "/srv/artifacts", "--apply", "--yes"]


def _start(root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hostmedic.engine.cli", *FIX, "--root", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def test_concurrent_applies_change_the_file_once(tmp_path):
    root = fixkit.make_tree(tmp_path)
    procs = [_start(root) for _ in range(8)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert "Traceback" not in err
        outcomes.append((proc.returncode, err))
    results = [a["result"] for a in fixkit.audit_lines(root)]
    assert results.count("applied") == 1, results
    assert set(results) <= {"applied", "refused", "unchanged"} and len(results) == 8, results
    refused = [err for code, err in outcomes if "another `diagnose fix` is applying a fix" in err]
    assert len(refused) == results.count("refused")
    fstab = (root / "etc" / "fstab").read_text()
    line = next(l for l in fstab.splitlines() if "/srv/artifacts" in l)
    assert line.count("x-systemd.mount-timeout=") == 1, line


def test_a_killed_holder_frees_the_lock(tmp_path):
    root = fixkit.make_tree(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
                               "from hostmedic.remediations.host import Host\n"
                               "from hostmedic.remediations.lock import ApplyLock\n"
                               "ApplyLock(Host(root=sys.argv[1])).__enter__()\n"
                               "print('locked', flush=True)\n"
                               "time.sleep(600)\n", str(root)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    busy = _start(root)
    _out, err = busy.communicate(timeout=120)
    assert busy.returncode == 2 and f"held by pid {holder.pid}" in err
    os.kill(holder.pid, signal.SIGKILL)  # crashes without cleaning up
    holder.wait()
    time.sleep(0.2)
    done = _start(root)
    _out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert [a["result"] for a in fixkit.audit_lines(root)] == ["refused", "applied"]


def test_links_planted_in_a_root_tree_are_never_followed(tmp_path):
    """A tree to fix (a guest image, say) whose lock file and audit log are symlinks to files
    of this host: neither target is truncated or appended to, and the apply stops cleanly."""
    victim = tmp_path / "host-shadow"
    victim.write_text("root:$6$precious:19000::::::\n")
    root = fixkit.make_tree(tmp_path)
    (root / "run" / "hostmedic").mkdir(parents=True)
    (root / "run" / "hostmedic" / "apply.lock").symlink_to(victim)
    done = _start(root)
    _out, err = done.communicate(timeout=120)
    assert done.returncode != 0 and "never followed" in err and "Traceback" not in err
    assert victim.read_text() == "root:$6$precious:19000::::::\n"
    (root / "run" / "hostmedic" / "apply.lock").unlink()
    (root / "var" / "log" / "hostmedic").mkdir(parents=True)
    (root / "var" / "log" / "hostmedic" / "audit.jsonl").symlink_to(victim)
    done = _start(root)
    out, err = done.communicate(timeout=120)
    assert "Traceback" not in err and "audit log could not be written" in out + err
    assert victim.read_text() == "root:$6$precious:19000::::::\n"
