"""Host data never reaches a shell, and never reads as an option.

Hostile unit, mount, domain, interface, device and host names (`x; rm -rf /`, `$(...)`,
backquotes, newlines, a leading dash) go through the collectors (real fake programs on PATH
record the exact argv they get), a sosreport, the reports and the fix planner: no command
runs them, each reaches a program as one argument, after "--" where it could be taken for
an option, and every command a report proposes is quoted for a shell.
"""
from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostmedic.collectors import Options
from hostmedic.engine import analysis as flow
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import LocalSource
from hostmedic.reports import FORMATS, renderer

from .fuzzkit import REPO

PACK = load_pack()
CASES = Path(REPO) / "tests" / "data" / "sosreports"


def _pwn(marker: Path) -> list[str]:
    """Names that would create MARKER if any shell ever saw them."""
    return [f"$(touch {marker})", f"`touch {marker}`", f"x;touch {marker}", f"x|touch {marker}",
            f"x&&touch {marker}", f"x\ntouch {marker}"]


# -- no shell anywhere in the code ----------------------------------------------------------

def _python_files() -> list[Path]:
    return [p for d in ("engine", "collectors", "remediations", "reports", "fleet", "hook")
            for p in (Path(REPO) / d).rglob("*.py")]


def _is_text(node: ast.AST) -> bool:
    """A str literal, an f-string, or text glued or %-formatted from them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_text(node.left) or (isinstance(node.op, ast.Add) and _is_text(node.right))
    return False


def test_no_shell_is_ever_used():
    problems = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = ast.unparse(node.func)
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if func in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
                        "os.execl", "os.execlp", "os.spawnl", "os.spawnlp", "commands.getoutput"):
                problems.append(f"{where}: {func}")
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    problems.append(f"{where}: {func}(shell=...)")
            if func.endswith(("Popen", ".run", ".call", ".check_call", ".check_output")) and node.args:
                if _is_text(node.args[0]):  # a command as one string
                    problems.append(f"{where}: {func} given a string")
            for arg in node.args:
                if isinstance(arg, ast.List) and len(arg.elts) >= 2 and all(isinstance(e, ast.Constant) for e in arg.elts[:2]):
                    head = [e.value for e in arg.elts[:2]]
                    if head[0] in ("sh", "bash", "/bin/sh", "/bin/bash", "dash", "zsh") and head[1] == "-c":
                        problems.append(f"{where}: a shell command line")
    assert not problems, problems


def test_the_remote_shell_only_sees_constant_quoted_words():
    """SSH sends one shell string per session: the helper's start, shlex-quoted; every command
    and path travels as JSON to the helper, which runs argument lists."""
    from hostmedic.engine import ssh_source
    src = ssh_source.SshSource.__new__(ssh_source.SshSource)
    src._base, src.host = ["ssh"], "db01"
    line = src._session(["serve"], True)[-1]
    assert shlex.split(line)[:5] == ["sudo", "-n", "--", "python3", "-c"] and shlex.split(line)[-1] == "serve"
    for bad in ["x; rm -rf /", "$(id)", "-oProxyCommand=touch /tmp/x", "a\nb", "", "host name"]:
        with pytest.raises(ssh_source.SshError):
            ssh_source.check_host(bad)
    for opt in ["StrictHostKeyChecking=no", "StrictHostKeyChecking accept-new", "ControlPath=/tmp/x",
                "ProxyCommand sh -c 'id'; x"]:
        if opt.startswith("Proxy"):
            continue  # a user's own ProxyCommand is theirs to give
        with pytest.raises(ssh_source.SshError):
            ssh_source.check_options([opt])


# -- collectors on this host: hostile names in what commands print --------------------------------

RECORDER = r'''#!/bin/sh
# records its argv (NUL-separated, one record per call), then prints its canned output
{{ printf '%s\0' "${{0##*/}}" "$@"; printf '\036\0'; }} >> {log}
case "${{0##*/}} $1" in
{cases}
esac
exit 0
'''


def _record_calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    calls, current = [], []
    for item in log.read_bytes().split(b"\0")[:-1]:
        if item == b"\x1e":
            calls.append(current)
            current = []
        else:
            current.append(item.decode("utf-8", "surrogateescape"))
    return calls


def test_hostile_names_from_commands_reach_others_as_single_arguments(tmp_path, monkeypatch):
    marker = tmp_path / "PWNED"
    units = [f"{n}.service" for n in _pwn(marker)] + ["-H evil.service", "-.mount", "--root=x.service"]
    nics = ["-h", f"$(touch {marker})", "eth0;id"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "units.json").write_text(json.dumps(
        [{"unit": u, "load": "loaded", "active": "failed", "sub": "failed", "description": "x"} for u in units]))
    (out / "links.json").write_text(json.dumps(
        [{"ifindex": i + 2, "ifname": n, "flags": ["UP"], "mtu": 1500, "operstate": "UP",
          "link_type": "ether", "address": "52:54:00:00:00:0%d" % i} for i, n in enumerate(nics)]))
    (out / "scan.json").write_text(json.dumps({"devices": [{"name": f"/dev/sda;touch {marker}", "type": "sat"},
                                                           {"name": "-d", "type": "--all"}]}))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    cases = "\n".join([f'  "systemctl list-units") /bin/cat {out}/units.json ;;',
                       f'  "ip -j") /bin/cat {out}/links.json ;;',
                       f'  "smartctl --scan-open") /bin/cat {out}/scan.json ;;'])
    script = RECORDER.format(log=log, cases=cases)
    for name in ("systemctl", "ip", "ethtool", "smartctl", "lsblk", "mdadm", "hostname", "uname", "df",
                 "mount", "dmesg", "lsmod", "iscsiadm", "nfsstat", "cloud-init", "cat", "ras-mc-ctl", "sadf",
                 "journalctl", "systemd-detect-virt", "uptime", "date"):
        (bindir / name).write_text(script)
        (bindir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "mdstat").write_text(
        "Personalities : [raid1]\nmd0;touch_PWNED : active raid1 sdb1[1] sda1[0]\n      1046528 blocks [2/2] [UU]\n\nunused devices: <none>\n")
    base = flow.collect(LocalSource(timeout=5, root=str(root)), PACK,
                        Options(timeout=5, libvirt_uri="test:///nonexistent-uri"))
    assert not marker.exists()
    calls = _record_calls(log)
    shows = [c for c in calls if c[:2] == ["systemctl", "show"]]
    assert shows, calls
    for call in shows:
        after = call[call.index("--") + 1:]  # every unit after "--", one argument each
        assert set(units) <= set(after), call
    for call in calls:
        for arg in call[1:]:
            if any(u in arg for u in units + nics) and arg not in units + nics:
                pytest.fail(f"a hostile name was split or joined: {call}")
        if call[0] == "ethtool":
            assert call[1] == "-i" and call[2] in nics and len(call) == 3
        if call[0] == "smartctl" and "-a" in call:
            assert call[call.index("-a") + 1].startswith("/dev/"), call  # never an option
    analysis = flow.analyse(base, PACK)
    for fmt in FORMATS:
        renderer(fmt).render(analysis, "diagnose")
    assert not marker.exists()


# -- a sosreport full of hostile names, through every report and the proposed fixes --------------

@pytest.fixture
def hostile_sosreport(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    tree = tmp_path / "sos"
    shutil.copytree(CASES / "guest-nfs-hang" / "sosreport", tree, symlinks=True)
    bad = f"$(touch {marker})"
    octal = bad.replace(" ", "\\040")
    mounts = tree / "proc" / "mounts"
    text = mounts.read_text().replace("/srv/artifacts", f"/srv/art;{octal}")
    mounts.write_text(text + f"10.20.4.5:/x /mnt/-o\\040remount\\012nl nfs4 rw,hard 0 0\n")
    fstab = tree / "etc" / "fstab"
    fstab.write_text(fstab.read_text().replace("/srv/artifacts", f"/srv/art;{octal}"))
    journal = next(tree.glob("sos_commands/logs/journalctl_--no-pager*"))
    jt = journal.read_text().replace("srv-artifacts.mount", "srv-art\\x3b.mount").replace("hm-client", "hm-client;id")
    lines = jt.splitlines()
    at = next(i for i, l in enumerate(lines) if "not responding" in l)
    stamp = " ".join(lines[at].split()[:3])
    lines[at:at] = [
        f"{stamp} hm-client;id systemd[1]: {bad}.service: Failed with result 'exit-code'.",
        f"{stamp} hm-client;id systemd[1]: -H evil.service: State 'stop-sigterm' timed out. Killing.",
        f"{stamp} hm-client;id systemd[1]: x`touch {marker}`.service: Stopping timed out. Terminating.",
    ]
    journal.write_text("\n".join(lines) + "\n")
    (tree / "sos_commands" / "host").mkdir(parents=True, exist_ok=True)
    (tree / "sos_commands" / "host" / "hostname").write_text(f"{bad}\n")
    return tree, marker


def test_hostile_sosreport_through_every_report_and_fix(hostile_sosreport, tmp_path):
    tree, marker = hostile_sosreport
    docs = {}
    for fmt in FORMATS:
        done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--sosreport", tree, "--format", fmt],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode in (0, 1, 2), done.stderr
        docs[fmt] = done.stdout
    assert not marker.exists()
    report = json.loads(docs["json"])
    commands = [st["command"] for f in report["findings"] for plan in f.get("remediations") or []
                for st in plan.get("steps") or [] if isinstance(st, dict) and st.get("command")]
    assert commands, "the NFS finding proposes fixes"
    for command in commands:  # each proposed command is one shell-safe line
        words = shlex.split(command)
        assert shlex.join(words) == command and "\n" not in command
        assert "touch" not in command or any("touch" in w and ("$(" in w or ";" in w) for w in words)
    for command in commands:  # and doing what the report says runs no injected command
        words = shlex.split(command)
        if words[:2] == ["diagnose", "fix"]:
            done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", *words[1:]]
                                  + ["--root", str(tmp_path / "fixroot")],
                                  capture_output=True, text=True, timeout=120, cwd=tmp_path)
            assert "Traceback" not in done.stderr
    assert not marker.exists()


@pytest.mark.parametrize("args", [
    ["unit-stop-timeout", "--unit", "x; rm -rf /"],
    ["unit-stop-timeout", "--unit", "$(touch PWNED).service"],
    ["unit-stop-timeout", "--unit", "-H evil.service"],
    ["unit-stop-timeout", "--unit", "../../../etc/cron.d/x.service"],
    ["unit-stop-timeout", "--unit", "a\nb.service"],
    ["unit-limit-nofile", "--unit", "--root=x.service"],
    ["mount-timeout", "--mount", "/srv/x\n/dev/sda1 / ext4 defaults 0 0"],
    ["mount-timeout", "--mount", "relative/path"],
    ["nfs-mount-options", "--mount", "/srv/artifacts", "--timeo", "1;id"],
    ["domain-sysrq-reboot", "--domain", "$(touch PWNED)"],
    ["domain-sysrq-reboot", "--domain", "-c qemu+ssh://evil/system"],
])
def test_fix_planner_refuses_or_quotes_hostile_targets(args, tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    shutil.copy(CASES / "guest-nfs-hang" / "sosreport" / "etc" / "fstab", root / "etc" / "fstab")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    for apply in ([], ["--apply", "--yes"]):
        done = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "fix", *args, "--root", root,
                               "--libvirt-uri", "test:///default", *apply],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "PWNED").exists()
        assert done.returncode != 0 or "--apply" not in apply, done.stdout
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and "hostmedic" not in str(p)}
    assert after == before  # nothing written for a refused target
    assert not list(root.rglob("*evil*")) and not (Path("/etc/cron.d/x.service.d")).exists()


def test_unit_starting_with_a_dash_is_passed_after_double_dash(tmp_path, monkeypatch):
    """`-.mount` is the root file system's unit: systemctl must get it after "--"."""
    from hostmedic.remediations import dropin
    from hostmedic.remediations.host import Host
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    (bindir / "systemctl").write_text(RECORDER.format(log=log, cases=""))
    (bindir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    host = Host(root="/")
    monkeypatch.setattr(Host, "systemd_running", lambda self: True)
    dropin.exists(host, "-.mount")
    dropin.live_problems(host, "-H.service", "x")
    calls = _record_calls(log)
    assert calls and all(c[c.index("--") + 1] in ("-.mount", "-H.service") for c in calls), calls


@pytest.mark.parametrize("configured", ["no", "accept-new", "off"])
def test_a_permissive_ssh_config_never_makes_hostmedic_accept_a_key(configured, tmp_path, monkeypatch):
    """The user's ssh_config says StrictHostKeyChecking CONFIGURED: the connection hostmedic
    opens still refuses unknown keys and never lets ssh add one (a fake `ssh` on PATH reports
    that configuration, as `ssh -G` would, and records every command line it is given)."""
    from hostmedic.engine import ssh_source
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    fake = bindir / "ssh"
    fake.write_text(f"""#!/bin/sh
{{ printf '%s\\0' "$@"; printf '\\036\\0'; }} >> {log}
for a in "$@"; do
  if [ "$a" = "-G" ]; then printf 'hostname db01\\nstricthostkeychecking {configured}\\nconnecttimeout none\\n'; exit 0; fi
done
echo "Host key verification failed." >&2
exit 255
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    with pytest.raises(ssh_source.SshError, match="not in known_hosts"):
        ssh_source.SshSource("db01", timeout=2)
    master = next(c for c in _record_calls(log) if "ControlMaster=yes" in c)
    options = [master[i + 1] for i, a in enumerate(master) if a == "-o"]
    assert "StrictHostKeyChecking=yes" in options and "UpdateHostKeys=no" in options
    assert not any(o.lower().startswith("stricthostkeychecking=") and o.split("=")[1] in ("no", "accept-new", "off")
                   for o in options)
