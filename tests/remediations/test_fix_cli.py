"""`diagnose fix` as a user runs it: dry run, confirmation on a real terminal (a pty),
the flags that disruptive and destructive plans need, the lock held by another process,
exit codes, the audit log and the journal entry."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

from fixkit import LAB_XML, audit_lines, diagnose, snapshot

PY = sys.executable


def cli(*args):
    return [PY, "-m", "hostmedic.engine.cli", "fix", *map(str, args)]


def on_terminal(args, answer: str, controlling_only: bool = False):
    """Run `diagnose fix ARGS` with a pty as its terminal and type ANSWER.

    controlling_only: stdin is /dev/null and the pty is only the controlling terminal
    (piped input in an interactive shell): the question goes to /dev/tty."""
    master, slave = os.openpty()
    slave_name = os.ttyname(slave)

    def take_terminal():
        os.setsid()
        os.close(os.open(slave_name, os.O_RDWR))  # the first tty a session leader opens is its own

    proc = subprocess.Popen(cli(*args), stdin=subprocess.DEVNULL if controlling_only else slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=take_terminal)
    os.close(slave)
    os.write(master, (answer + "\n").encode())
    out, err = proc.communicate(timeout=120)
    typed = b""
    try:
        while True:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            typed += chunk
    except OSError:
        pass
    os.close(master)
    return proc.returncode, out, err, typed.decode(errors="replace")


def node_xml(tmp_path, runstate=1) -> str:
    """A node for the test driver with the lab's hm-full running (test:///PATH)."""
    xml = (LAB_XML / "hm-full.xml").read_text()
    xml = xml[xml.index("<domain"):].replace(
        "<domain type='qemu'>", "<domain type='qemu' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>")
    xml = xml.replace("</domain>", f"  <test:runstate>{runstate}</test:runstate>\n</domain>")
    path = tmp_path / "node.xml"
    path.write_text(f"<node>\n{xml}</node>\n")
    return f"test://{path}"


def test_list():
    done = diagnose("fix", "--list")
    assert done.returncode == 0
    ids = [line.split()[0] for line in done.stdout.splitlines()]
    assert {"fstrim-now", "enable-fstrim-timer", "libvirt-disk-discard-ignore", "memballoon-autodeflate",
            "nfs-server-check", "mount-timeout", "unit-stop-timeout", "domain-destroy-start"} <= set(ids)
    assert "destructive" in [line for line in done.stdout.splitlines() if line.startswith("domain-destroy")][0]


def test_dry_run_shows_the_exact_change_and_changes_nothing(tree):
    before = snapshot(tree)
    done = diagnose("fix", "mount-timeout", "--mount", "/srv/artifacts", "--root", tree)
    assert done.returncode == 1
    assert "-10.20.4.5:/export/artifacts /srv/artifacts nfs4 defaults,_netdev 0 0" in done.stdout
    assert "+10.20.4.5:/export/artifacts /srv/artifacts nfs4 defaults,_netdev,nofail," \
           "x-systemd.mount-timeout=30s 0 0" in done.stdout
    assert "nothing was changed; add --apply" in done.stdout
    assert snapshot(tree) == before and audit_lines(tree) == []


def test_json_dry_run(tree):
    done = diagnose("fix", "unit-stop-timeout", "--unit", "nginx", "--root", tree, "--format", "json")
    doc = json.loads(done.stdout)
    assert done.returncode == 1 and doc["result"] == "dry-run" and doc["fix"] == "unit-stop-timeout"
    assert doc["steps"][0]["kind"] == "file" and "+TimeoutStopSec=30s" in doc["steps"][0]["detail"]


def test_apply_without_a_terminal_needs_yes(tree):
    before = snapshot(tree)
    done = diagnose("fix", "unit-stop-timeout", "--unit", "nginx", "--root", tree, "--apply")
    assert done.returncode == 2 and "add --yes" in done.stderr
    assert snapshot(tree) == before
    assert audit_lines(tree)[-1]["result"] == "refused"
    done = diagnose("fix", "unit-stop-timeout", "--unit", "nginx", "--root", tree, "--apply", "--yes")
    assert done.returncode == 0 and "applied: applied and verified" in done.stdout
    assert "backup: " in done.stdout and "audit: " in done.stdout
    again = diagnose("fix", "unit-stop-timeout", "--unit", "nginx", "--root", tree, "--apply", "--yes")
    assert again.returncode == 0 and "already in place" in again.stdout


@pytest.mark.parametrize("controlling_only", [False, True], ids=["stdin", "dev-tty"])
def test_confirmation_on_a_terminal(tree, controlling_only):
    before = snapshot(tree)
    args = ["unit-limit-nofile", "--unit", "nginx", "--root", tree, "--apply"]
    code, out, err, typed = on_terminal(args, "n", controlling_only)
    assert code == 2 and "not confirmed" in err and snapshot(tree) == before
    if controlling_only:
        assert "Apply this safe plan? [y/N]" in typed  # asked on the terminal itself
    else:
        assert "Apply this safe plan? [y/N]" in err
    code, out, err, _ = on_terminal(args, "y", controlling_only)
    assert code == 0 and "applied" in out
    assert "LimitNOFILE=65536:524288" in (tree / "etc/systemd/system/nginx.service.d/"
                                          "hostmedic-limit-nofile.conf").read_text()


def test_disruptive_needs_its_flag(tmp_path):
    uri = node_xml(tmp_path)
    done = diagnose("fix", "domain-sysrq-reboot", "--domain", "hm-full", "--libvirt-uri", uri,
                    "--root", tmp_path, "--apply", "--yes")
    assert done.returncode == 2 and "disruptive: add --allow-disruptive" in done.stderr
    done = diagnose("fix", "domain-sysrq-reboot", "--domain", "hm-full", "--libvirt-uri", uri,
                    "--root", tmp_path, "--apply", "--yes", "--allow-disruptive")
    assert done.returncode == 0, done.stderr
    assert "virsh send-key hm-full KEY_LEFTALT KEY_SYSRQ KEY_B" in done.stdout


def test_destructive_asks_for_the_domain_name(tmp_path):
    uri = node_xml(tmp_path)
    args = ["domain-destroy-start", "--domain", "hm-full", "--libvirt-uri", uri, "--root", tmp_path,
            "--apply", "--allow-disruptive"]
    code, out, err, _ = on_terminal(args, "y")
    assert code == 2 and "Type hm-full to go on" in err and "not confirmed" in err
    code, out, err, _ = on_terminal(args, "hm-full")
    assert code == 0, err
    assert [a["result"] for a in audit_lines(tmp_path)] == ["refused", "applied"]


def test_second_apply_while_locked_is_refused(tree):
    holder = subprocess.Popen(
        [PY, "-c", "import sys, time\n"
                   "from hostmedic.remediations.host import Host\n"
                   "from hostmedic.remediations.lock import ApplyLock\n"
                   "lock = ApplyLock(Host(root=sys.argv[1])).__enter__()\n"
                   "print('locked', flush=True)\n"
                   "time.sleep(120)\n", str(tree)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(tree)
        done = diagnose("fix", "mount-timeout", "--mount", "/srv/artifacts", "--root", tree, "--apply", "--yes")
        assert done.returncode == 2
        assert f"another `diagnose fix` is applying a fix" in done.stderr
        assert f"held by pid {holder.pid}" in done.stderr
        assert snapshot(tree) == before
    finally:
        holder.kill()
        holder.wait()
    done = diagnose("fix", "mount-timeout", "--mount", "/srv/artifacts", "--root", tree, "--apply", "--yes")
    assert done.returncode == 0, done.stderr
    assert [a["result"] for a in audit_lines(tree)] == ["refused", "applied"]


@pytest.mark.parametrize("args,why", [
    (["nosuch-fix"], "no fix 'nosuch-fix'"),
    (["unit-stop-timeout"], "fix unit-stop-timeout needs --unit"),
    (["unit-stop-timeout", "--unit", "nginx", "--domain", "x"], "does not use --domain"),
    (["unit-stop-timeout", "--unit", "nginx", "--stop-timeout", "soon"], "is not a time span"),
    (["unit-stop-timeout", "--unit", "bad name;rm"], "is not a systemd unit name"),
    (["mount-timeout", "--mount", "/srv/artifacts", "--mount-timeout", "1min 30s"], "without spaces"),
    (["nfs-mount-options", "--mount", "/srv/artifacts", "--timeo", "-5", "--accept-data-risk"],
     "--timeo must be a positive whole number"),
    (["memballoon-autodeflate", "--domain", "x", "--libvirt-uri", "test:///nonexistent/node.xml"],
     "cannot connect to test:///nonexistent/node.xml"),
    ([], "give a fix id"),
])
def test_cannot_run(tree, args, why):
    done = diagnose("fix", *args, "--root", tree)
    assert done.returncode == 3 and why in done.stderr and "Traceback" not in done.stderr


def test_manual_fix_is_a_check_list(tree):
    done = diagnose("fix", "nfs-server-check", "--server", "10.20.4.5", "--root", tree)
    assert done.returncode == 0 and "rpcinfo -t 10.20.4.5 nfs" in done.stdout
    done = diagnose("fix", "nfs-server-check", "--server", "10.20.4.5", "--root", tree, "--apply", "--yes")
    assert done.returncode == 2 and "applies nothing" in done.stderr


def parse_native(datagram: bytes) -> dict[str, str]:
    """The journal's native protocol: KEY=value lines, or KEY, a 64-bit length and the data."""
    fields, i = {}, 0
    while i < len(datagram):
        end = datagram.index(b"\n", i)
        line = datagram[i:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            i = end + 1
        else:
            key, size = line, struct.unpack("<Q", datagram[end + 1:end + 9])[0]
            value = datagram[end + 9:end + 9 + size]
            i = end + 9 + size + 1
        fields[key.decode()] = value.decode()
    return fields


JOURNAL_CATCHER = r"""
import json, os, socket, subprocess, sys
os.makedirs("/run/systemd/journal")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
s.settimeout(5)
data = s.recv(1 << 20)
print(json.dumps({"rc": done.returncode, "out": done.stdout, "err": done.stderr, "datagram": data.hex()}))
"""


def test_journal_entry_where_a_journal_runs(tree):
    """In a private mount namespace a socket stands where journald listens; the real
    systemd-python journal.send() writes the entry to it, and it is read back."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private /run")
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr.decode().strip()}")
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", 'mount -t tmpfs tmpfs /run && exec "$@"', "sh",
         PY, "-c", JOURNAL_CATCHER,
         *cli("unit-stop-timeout", "--unit", "nginx", "--root", tree, "--apply", "--yes")],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rc"] == 0 and "(and the journal)" in result["out"], result
    fields = parse_native(bytes.fromhex(result["datagram"]))
    assert fields["HOSTMEDIC_FIX"] == "unit-stop-timeout" and fields["HOSTMEDIC_RESULT"] == "applied"
    assert fields["HOSTMEDIC_UNIT"] == "nginx.service" and fields["SYSLOG_IDENTIFIER"] == "hostmedic"
    assert fields["MESSAGE"] == "hostmedic fix unit-stop-timeout on unit nginx.service: applied " \
                                "(applied and verified)"
    assert fields["PRIORITY"] == "5" and len(fields["MESSAGE_ID"]) == 32
    assert fields["HOSTMEDIC_BACKUP"].startswith(str(tree))
    assert audit_lines(tree)[-1]["result"] == "applied"  # the file record is written as well


def test_no_journal_no_claim(tree):
    if os.path.exists("/run/systemd/journal/socket"):
        pytest.skip("a journal runs here")
    done = diagnose("fix", "unit-stop-timeout", "--unit", "nginx", "--root", tree, "--apply", "--yes")
    assert done.returncode == 0 and "(and the journal)" not in done.stdout
