"""`diagnose fleet`: Ansible (ansible-playbook from ansible-core) against several real sshd
servers on 127.0.0.2, 127.0.0.3, ... and the fleet report it leads to.

Two hosts carry the incident journal (each an sshd in its own mount namespace, as in
test_diagnose_host.py), one is this machine as it is, one address has nothing listening,
and one presents a host key that known_hosts does not hold for it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import helpers_journal as hj  # noqa: E402
from sshlab import free_port, keygen  # noqa: E402

from hostmedic.engine.cli import main  # noqa: E402
from hostmedic.engine.rulepack import load_pack  # noqa: E402
from hostmedic.fleet import zipapp  # noqa: E402


def _ansible_missing() -> str | None:
    from hostmedic.fleet.ansible_run import FleetError, ansible_playbook
    try:
        ansible_playbook()
    except FleetError as err:
        return str(err)
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        return "needs unshare --mount (root) for the incident hosts"
    if hj.journal_remote() is None:
        return "systemd-journal-remote is not installed"
    return None


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href"]


@pytest.fixture(scope="module")
def fleet(lab, tmp_path_factory):
    why = _ansible_missing()
    if why:
        pytest.skip(why)
    work = tmp_path_factory.mktemp("fleet")
    files = hj.build_journal(work / "built" / "system.journal", hj.two_boots_export())
    (work / "machine-id").write_text(hj.MACHINE_ID + "\n")
    journal_dir = f"/var/log/journal/{hj.MACHINE_ID}"
    incident = "\n".join(["mount -t tmpfs hostmedic-test /var/log", f"mkdir -p {journal_dir}",
                          *[f"cp {f} {journal_dir}/" for f in files],
                          f"mount --bind {work / 'machine-id'} /etc/machine-id"])
    web1 = lab.start("web1", "127.0.0.2", prelude=incident)
    web2 = lab.start("web2", "127.0.0.3", prelude=incident)
    web3 = lab.start("web3", "127.0.0.4")
    spoofed = lab.start("spoofed", "127.0.0.6", known=False)
    lab.know("spoofed", spoofed.addr, spoofed.port, keygen(work / "impostor"))
    down_port = free_port("127.0.0.5")
    inventory = work / "inventory.ini"
    inventory.write_text("\n".join([
        "[web]",
        f"web1 ansible_host={web1.addr} ansible_port={web1.port}",
        f"web2 ansible_host={web2.addr} ansible_port={web2.port}",
        f"web3 ansible_host={web3.addr} ansible_port={web3.port}",
        f"down ansible_host=127.0.0.5 ansible_port={down_port}",
        f"spoofed ansible_host={spoofed.addr} ansible_port={spoofed.port}",
        "",
        "[web:vars]",
        "ansible_user=root",
        # this machine's PATH starts with pyenv shims: name the system's python3
        "ansible_python_interpreter=/usr/bin/python3",
        f"ansible_ssh_common_args='-F {lab.config}'",
        ""]))
    return {"inventory": inventory, "work": work, "servers": [web1, web2, web3, spoofed]}


@pytest.fixture
def ansible_env(monkeypatch, tmp_path):
    """Ansible's own scratch folders in the test's temp dir; host key checking as shipped."""
    monkeypatch.delenv("ANSIBLE_HOST_KEY_CHECKING", raising=False)
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", str(tmp_path / "ansible-tmp"))
    monkeypatch.setenv("ANSIBLE_REMOTE_TEMP", str(tmp_path / "ansible-remote-tmp"))  # the hosts are this machine
    monkeypatch.setenv("ANSIBLE_SSH_CONTROL_PATH_DIR", str(tmp_path / "cp"))
    monkeypatch.setenv("ANSIBLE_SSH_ARGS", "-o ControlMaster=auto -o ControlPersist=5s")
    monkeypatch.chdir(tmp_path)  # no ansible.cfg of anyone's


def test_fleet_report_over_ansible(lab, fleet, ansible_env, tmp_path, capsys):
    known = hashlib.sha256(lab.known_hosts.read_bytes()).hexdigest()
    out = tmp_path / "report" / "fleet.html"
    out.parent.mkdir()
    code = main(["fleet", "-i", str(fleet["inventory"]), "--forks", "5", "-o", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 2, stderr  # error findings on web1 and web2
    doc = json.loads((tmp_path / "report" / "fleet.json").read_text())
    assert doc["format"] == "hostmedic-fleet"
    assert doc["counts"]["hosts"] == 5 and doc["counts"]["diagnosed"] == 3 and doc["counts"]["failed"] == 2

    hosts = {h["name"]: h for h in doc["hosts"]}
    assert set(hosts) == {"web1", "web2", "web3"}
    for name in ("web1", "web2"):
        assert {"nfs-mount-hang", "shutdown-hang"} <= set(hosts[name]["rules"])
    assert "nfs-mount-hang" not in hosts["web3"]["rules"]
    ranks = [{"critical": 4, "error": 3, "warning": 2, "info": 1}.get(h["worst"], 0) for h in doc["hosts"]]
    assert ranks == sorted(ranks, reverse=True)  # worst first

    nfs = next(r for r in doc["rules"] if r["rule"] == "nfs-mount-hang")
    assert nfs["count"] == 2 and sorted(nfs["hosts"]) == ["web1", "web2"]

    failed = {f["name"]: f["reason"] for f in doc["failed"]}
    assert set(failed) == {"down", "spoofed"}
    assert "cannot reach down: the connection was refused" in failed["down"]
    assert "does not match" in failed["spoofed"]
    assert hashlib.sha256(lab.known_hosts.read_bytes()).hexdigest() == known  # no key was accepted

    # each host's runbook beside the fleet report, linked from it, private
    links = _Links()
    links.feed(out.read_text())
    for h in doc["hosts"]:
        for rel in (h["report"], h["json"]):
            path = out.parent / rel
            assert path.is_file() and path.stat().st_mode & 0o777 == 0o600
        assert h["report"] in links.hrefs
    host_json = json.loads((out.parent / hosts["web1"]["json"]).read_text())
    assert host_json["source"]["kind"] == "local"  # collected on the host itself by the zipapp
    for path in (out, tmp_path / "report" / "fleet.json"):
        assert path.stat().st_mode & 0o777 == 0o600
    assert "Not diagnosed:" in stdout and "spoofed" in stdout
    assert "web1: collected" in stderr


def test_an_empty_inventory_says_so(ansible_env, tmp_path, capsys):
    if shutil.which("ansible-playbook", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("ansible-core is not installed")
    inventory = tmp_path / "empty.ini"
    inventory.write_text("[web]\n")
    code = main(["fleet", "-i", str(inventory), "-o", str(tmp_path / "fleet.html")])
    _out, err = capsys.readouterr()
    assert code == 3 and "Ansible ran on no host" in err
    assert not (tmp_path / "fleet.html").exists()


def test_the_zipapp_runs_on_the_standard_library_alone(tmp_path):
    """What Ansible ships: the collectors with no package at all (python3 -S -I: no
    site-packages, no user site, no PYTHONPATH)."""
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    pack = load_pack([])
    app = zipapp.build(str(tmp_path / "hostmedic.pyz"), [p.source for p in pack.symptom_patterns()],
                       "test", pack.version)
    assert os.stat(app).st_mode & 0o777 == 0o600
    snap = tmp_path / "facts.json"
    proc = subprocess.run([python, "-S", "-I", app, "--output", str(snap), "--timeout", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(snap.read_text())
    assert doc["format"] == "hostmedic-facts" and doc["meta"]["shipped"] == "zipapp"
    kinds = {f["kind"] for f in doc["facts"]}
    assert {"host", "collector_status"} <= kinds
    memory = [f["fields"] for f in doc["facts"] if f["kind"] == "collector_status"
              and f["fields"]["collector"] == "memory"]
    assert any(s["status"] == "missing" and "psutil" in s["detail"] for s in memory)  # optional, said so
