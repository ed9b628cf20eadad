"""SshSource against a real sshd on 127.0.0.1: commands, files, folders, time limits,
quoting, one connection per host, and the connection closed at the end."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from hostmedic.engine.sources import ABSENT, DENIED, FAILED, MISSING, OK, TIMEOUT
from hostmedic.engine.ssh_source import SshError, SshSource, check_options


@pytest.fixture(scope="module")
def server(lab):
    return lab.start("hm-local", "127.0.0.1")


@pytest.fixture
def source(lab, server):
    src = SshSource("hm-local", timeout=5, config=str(lab.config))
    yield src
    src.close()


def _masters(control_dir: str) -> list[str]:
    """ssh processes still using a control socket in control_dir."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if control_dir in cmd and "ssh" in cmd:
            found.append(cmd)
    return found


def test_probe_reports_the_remote_python_and_user(source):
    assert source.user == "root"
    assert source.python[:1] == [3]
    assert source.kind == "ssh" and "hm-local" in source.description


def test_arguments_reach_the_command_verbatim(source):
    words = ["a b", "$(id)", "`id`", "'single'", '"double"', "x;y", "back\\slash", "*", "~", "", "\ttab"]
    result = source.run(["printf", "<%s>\\n", *words])
    assert result.status == OK, result.detail
    assert result.text.splitlines() == [f"<{w}>" for w in words]


def test_command_statuses(source):
    missing = source.run(["hostmedic-no-such-command", "--x"])
    assert missing.status == MISSING and "not installed" in missing.detail
    failed = source.run(["sh", "-c", "echo partial; echo 'it broke' >&2; exit 3"])
    assert (failed.status, failed.rc) == (FAILED, 3)
    assert failed.detail == "exit status 3: it broke" and failed.text == "partial\n"
    denied = source.run(["sh", "-c", "echo 'Permission denied' >&2; exit 1"])
    assert denied.status == DENIED


def test_a_hung_command_times_out_and_the_session_goes_on(source):
    started = time.monotonic()
    result = source.run(["sleep", "30"], timeout=1)
    assert result.status == TIMEOUT
    assert time.monotonic() - started < 10
    assert source.run(["echo", "still here"]).text == "still here\n"


def test_files_and_folders(source, tmp_path):
    (tmp_path / "plain.txt").write_bytes(b"line one\nline two\n")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9\n")
    odd = ["with space", "new\nline", "semi;colon", "caf\udce9"]
    for name in odd:
        (tmp_path / "dir").mkdir(exist_ok=True)
        open(os.path.join(str(tmp_path / "dir").encode(), os.fsencode(name)), "w").close()
    ok = source.read(str(tmp_path / "plain.txt"))
    assert (ok.status, ok.text, ok.name) == (OK, "line one\nline two\n", str(tmp_path / "plain.txt"))
    assert source.read(str(tmp_path / "latin1.txt")).text == "caf\ufffd\n"
    absent = source.read(str(tmp_path / "nothing-here"))
    assert absent.status == ABSENT and absent.detail == "no such file"
    folder = source.read(str(tmp_path / "dir"))
    assert folder.status == FAILED and "directory" in folder.detail.lower()
    assert source.listdir(str(tmp_path / "dir")) == sorted(odd)
    assert source.listdir(str(tmp_path / "nothing-here")) == []
    proc = source.read("/proc/self/status")  # a /proc file: short reads, no size
    assert proc.ok and "Name:" in proc.text


def test_one_connection_for_many_calls_closed_at_the_end(lab, server):
    before = server.accepted()
    src = SshSource("hm-local", timeout=5, config=str(lab.config))
    control_dir = src._dir
    for _ in range(20):
        assert src.read("/proc/uptime").ok
        assert src.run(["true"]).ok
        src.listdir("/etc")
    assert os.path.exists(os.path.join(control_dir, "cm"))
    src.close()
    time.sleep(0.5)
    assert server.accepted() - before == 1  # one login: every call went over the master
    assert not os.path.exists(control_dir)
    assert _masters(control_dir) == []


def test_a_lost_connection_is_reported_and_never_reopened(lab, server):
    src = SshSource("hm-local", timeout=5, config=str(lab.config))
    try:
        before = server.accepted()
        subprocess.run([*src._base, "-O", "exit", "--", "hm-local"], capture_output=True, check=True)
        time.sleep(0.3)
        result = src.run(["true"])
        assert result.status == FAILED and "lost" in result.detail
        assert src.read("/etc/hostname").status == FAILED
        assert src.listdir("/etc") == []
        assert server.accepted() == before
    finally:
        src.close()


def test_options_that_would_weaken_host_key_checking_are_refused():
    for opt in ("StrictHostKeyChecking=no", "stricthostkeychecking accept-new", "StrictHostKeyChecking=off"):
        with pytest.raises(SshError, match="host key checking"):
            check_options([opt])
    with pytest.raises(SshError, match="own multiplexed"):
        check_options(["ControlPath=/tmp/x"])
    with pytest.raises(SshError, match="Keyword=value"):
        check_options(["-oProxyCommand"])
    assert check_options(["ConnectTimeout=3", "ProxyJump=bastion"]) == ["ConnectTimeout=3", "ProxyJump=bastion"]


def test_host_names_that_look_like_options_are_refused():
    for bad in ("-oProxyCommand=sh", "a b", "", "host\n"):
        with pytest.raises(SshError):
            SshSource(bad)
