"""`diagnose --host` end to end against real sshd servers on 127.0.0.1.

The incident host is an sshd in a private mount namespace whose journal is a real journal
file (built from tests/data/journal/two_boots.export with systemd-journal-remote) and
whose /etc/machine-id is the one that journal was written under, so `journalctl` over
SSH reads the incident as it would on that host. The failures are real too: a host key
that does not match known_hosts, one that is not in it, a closed port, a key the server
does not accept, a login whose PATH has no python3 (sshd ForceCommand), sudo that wants
a password.
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import helpers_journal as hj  # noqa: E402

from sshlab import free_port, keygen  # noqa: E402
from hostmedic.engine.cli import main  # noqa: E402
from hostmedic.engine.sources import DENIED  # noqa: E402
from hostmedic.engine.ssh_source import SshSource  # noqa: E402


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


def _diagnose(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_sentence(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("diagnose: ") and "Traceback" not in err
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def incident_host(lab, tmp_path_factory):
    if not _can_unshare():
        pytest.skip("needs unshare --mount (root) to give the test host its own journal")
    if not os.path.exists("/etc/machine-id"):
        pytest.skip("no /etc/machine-id to stand in for")
    if hj.journal_remote() is None:
        pytest.skip("systemd-journal-remote is not installed")
    work = tmp_path_factory.mktemp("incident")
    files = hj.build_journal(work / "built" / "system.journal", hj.two_boots_export())
    (work / "machine-id").write_text(hj.MACHINE_ID + "\n")
    journal_dir = f"/var/log/journal/{hj.MACHINE_ID}"
    prelude = "\n".join([
        "mount -t tmpfs hostmedic-test /var/log",  # only this host's journal, in this namespace
        f"mkdir -p {journal_dir}",
        *[f"cp {f} {journal_dir}/" for f in files],
        f"mount --bind {work / 'machine-id'} /etc/machine-id",
    ])
    return lab.start("hm-incident", "127.0.0.1", prelude=prelude)


def test_diagnoses_the_remote_hosts_journal(lab, incident_host, capsys, tmp_path):
    before = incident_host.accepted()
    code, out, err = _diagnose(capsys, "--host", "hm-incident", "--ssh-config", str(lab.config),
                               "--format", "json")
    assert code == 2, err
    doc = json.loads(out)
    assert doc["source"] == {"kind": "ssh", "description": "hm-incident over SSH"}
    rules = {f["rule"] for f in doc["findings"]}
    assert {"nfs-mount-hang", "shutdown-hang"} <= rules
    journal = next(s for s in doc["collector_status"] if s["collector"] == "journal")
    assert journal["status"] == "ok" and journal["detail"].startswith("2 boots")
    evidence = next(f for f in doc["findings"] if f["rule"] == "nfs-mount-hang")["evidence"][0]
    assert evidence["source"]["name"].startswith("journalctl --no-pager --output=short-iso-precise --boot=")
    assert incident_host.accepted() - before == 1  # the whole run over one connection


def test_collect_over_ssh_then_analyse_the_snapshot_gives_the_same_findings(lab, incident_host, capsys, tmp_path):
    snap = tmp_path / "remote.json"
    code, _out, err = _diagnose(capsys, "collect", "--host", "hm-incident", "--ssh-config", str(lab.config),
                                "-o", str(snap))
    assert code == 0, err
    assert snap.stat().st_mode & 0o777 == 0o600
    code, out, _err = _diagnose(capsys, "--facts", str(snap), "--format", "json")
    assert code == 2
    assert {"nfs-mount-hang", "shutdown-hang"} <= {f["rule"] for f in json.loads(out)["findings"]}


def test_the_ssh_config_can_come_from_the_environment(lab, incident_host, capsys, monkeypatch):
    monkeypatch.setenv("HOSTMEDIC_SSH_CONFIG", str(lab.config))
    code, out, err = _diagnose(capsys, "--host", "hm-incident", "--format", "json")
    assert code == 2, err
    assert json.loads(out)["source"]["kind"] == "ssh"


def test_a_host_key_that_does_not_match_is_refused(lab, capsys):
    server = lab.start("hm-spoofed", "127.0.0.1", known=False)
    impostor_pub = keygen(lab.root / "impostor_key")  # known_hosts holds another key for it
    lab.know("hm-spoofed", server.addr, server.port, impostor_pub)
    known = _digest(lab.known_hosts)
    code, out, err = _diagnose(capsys, "--host", "hm-spoofed", "--ssh-config", str(lab.config))
    assert code == 3 and out == ""
    line = _one_sentence(err)
    assert "does not match" in line and "never accepts or replaces a host key" in line
    assert _digest(lab.known_hosts) == known
    assert server.accepted() == 0


def test_an_unknown_host_key_is_never_accepted(lab, capsys):
    server = lab.start("hm-stranger", "127.0.0.1", known=False)
    known = _digest(lab.known_hosts)
    code, _out, err = _diagnose(capsys, "--host", "hm-stranger", "--ssh-config", str(lab.config))
    assert code == 3
    assert "is not in known_hosts" in _one_sentence(err)
    assert _digest(lab.known_hosts) == known
    assert server.accepted() == 0
    code, _out, err = _diagnose(capsys, "--host", "hm-stranger", "--ssh-config", str(lab.config),
                                "--ssh-option", "StrictHostKeyChecking=accept-new")
    assert code == 3 and "does not turn host key checking off" in _one_sentence(err)
    assert _digest(lab.known_hosts) == known


def test_an_unreachable_host(lab, capsys):
    lab.add_alias("hm-closed", "127.0.0.1", free_port("127.0.0.1"))  # nothing listens there
    code, _out, err = _diagnose(capsys, "--host", "hm-closed", "--ssh-config", str(lab.config))
    assert code == 3
    assert "cannot reach hm-closed: the connection was refused" in _one_sentence(err)


def test_a_refused_key(lab, incident_host, capsys, tmp_path):
    stranger = tmp_path / "stranger_key"
    keygen(stranger)
    config = tmp_path / "ssh_config"
    config.write_text(lab.config.read_text().replace(str(lab.user_key), str(stranger)))
    code, _out, err = _diagnose(capsys, "--host", "hm-incident", "--ssh-config", str(config))
    assert code == 3
    assert "hm-incident refused the login" in _one_sentence(err)


def test_a_host_without_python3(lab, capsys):
    # The login works, but its PATH (set after the shell's own start-up files) has no python3.
    lab.start("hm-nopython", "127.0.0.1",
              extra='ForceCommand PATH=/nonexistent exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"')
    code, _out, err = _diagnose(capsys, "--host", "hm-nopython", "--ssh-config", str(lab.config))
    assert code == 3
    assert "python3 is not installed on hm-nopython" in _one_sentence(err)


@pytest.fixture(scope="module")
def plain_user(lab):
    """A throwaway non-root account (useradd), removed afterwards; no sudoers entry."""
    if shutil.which("useradd") is None or shutil.which("sudo") is None:
        pytest.skip("needs useradd and sudo")
    name = "hm-ssh-test"
    home = lab.public / "home"
    home.mkdir(mode=0o755)
    try:
        pwd.getpwnam(name)
    except KeyError:
        # password "*": no password login, but not a locked account (sshd refuses those)
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", str(home),
                        "--shell", "/bin/sh", "--password", "*", name], check=True)
    lab.authorize(name)
    yield name
    for path in (f"/etc/sudoers.d/{name}",):
        if os.path.exists(path):
            os.unlink(path)
    subprocess.run(["userdel", name], check=False)


def test_sudo_that_asks_for_a_password_says_so(lab, incident_host, plain_user, capsys):
    lab.add_alias("hm-plain", incident_host.addr, incident_host.port, user=plain_user)
    code, _out, err = _diagnose(capsys, "--host", "hm-plain", "--ssh-config", str(lab.config), "--sudo")
    assert code == 3
    assert "sudo on hm-plain asks for a password" in _one_sentence(err)
    # without --sudo the login works, and root-only files say "denied"
    src = SshSource("hm-plain", config=str(lab.config))
    try:
        assert src.user == plain_user
        assert src.read("/etc/shadow").status == DENIED
    finally:
        src.close()


def test_sudo_without_a_password_reads_as_root(lab, incident_host, plain_user):
    if ("hm-plain", incident_host.addr, incident_host.port, plain_user) not in lab.aliases:
        lab.add_alias("hm-plain", incident_host.addr, incident_host.port, user=plain_user)
    rule = f"/etc/sudoers.d/{plain_user}"
    with open(rule, "w") as fh:
        fh.write(f"{plain_user} ALL=(root) NOPASSWD: ALL\n")
    os.chmod(rule, 0o440)
    try:
        src = SshSource("hm-plain", config=str(lab.config), sudo=True)
        try:
            assert src.run(["id", "-u"]).text.strip() == "0"
            assert src.read("/etc/shadow").ok
        finally:
            src.close()
    finally:
        os.unlink(rule)


def test_host_goes_with_nothing_local(capsys, tmp_path):
    code, _out, err = _diagnose(capsys, "--host", "x", "--journal-dir", str(tmp_path))
    assert code == 3 and "leave out" in _one_sentence(err)
    code, _out, err = _diagnose(capsys, "--sudo")
    assert code == 3 and "go with --host" in _one_sentence(err)
