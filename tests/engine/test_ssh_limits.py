"""The bounds of what crosses an SSH session: the remote helper stops a command that floods,
and the local side refuses an answer larger than the helper ever sends."""
from __future__ import annotations

import pytest

from hostmedic.engine import ssh_helper
from hostmedic.engine.ssh_source import MAX_HEAD_BYTES, _Helper, _Lost


def test_a_flooding_command_is_stopped_at_the_limit():
    status, rc, detail, out, _err = ssh_helper.run(["yes"], 30, limit=1 << 20)
    assert (status, rc) == ("ok", 0)
    assert len(out) == 1 << 20 and out.startswith(b"y\ny\n")
    assert "output cut at 1 MiB" in detail


def test_ordinary_commands_keep_their_status():
    assert ssh_helper.run(["sh", "-c", "echo hi; exit 3"], 30)[:2] == ("failed", 3)
    assert ssh_helper.run(["sh", "-c", "echo hi"], 30)[3] == b"hi\n"
    assert ssh_helper.run(["sleep", "30"], 0.5)[0] == "timeout"
    assert ssh_helper.run(["no-such-command-here"], 5)[0] == "missing"


def helper(tmp_path, script: str) -> _Helper:
    return _Helper(["sh", "-c", script], str(tmp_path / "helper.log"))


def test_an_answer_larger_than_the_helper_sends_is_refused(tmp_path):
    h = helper(tmp_path, 'read x; printf \'{"status": "ok", "out": 99999999999, "err": 0}\\n\'; cat >/dev/null')
    try:
        with pytest.raises(_Lost, match="more than the helper ever sends"):
            h.ask({"op": "run", "argv": ["true"]}, 20)
    finally:
        h.stop()


def test_a_header_without_end_is_refused(tmp_path):
    h = helper(tmp_path, f"read x; head -c {MAX_HEAD_BYTES * 4} /dev/zero; cat >/dev/null")
    try:
        with pytest.raises(_Lost, match="header"):
            h.ask({"op": "run", "argv": ["true"]}, 20)
    finally:
        h.stop()
