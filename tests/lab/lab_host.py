"""The lab host: Debian packages, the daemons started by hand, and undoing all of it.

Everything the lab makes (a domain, a mount, a loop device, a file, a daemon, a changed
configuration file) is registered in a `Cleanup` the moment it exists, and undone in reverse
order at the end, whether the scenarios passed, failed, raised or were interrupted.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Callable

PACKAGES = ["libvirt-daemon-system", "libvirt-clients", "qemu-system-x86", "qemu-utils",
            "busybox-static", "sosreport", "kmod", "e2fsprogs", "rsyslog", "bsdutils",
            "mmdebstrap", "openssh-client"]
POLICY_RC = "/usr/sbin/policy-rc.d"
URI = "qemu:///system"
LIBVIRT_SOCK = "/run/libvirt/libvirt-sock"
WORK_BASE = "/var/tmp/hostmedic-lab"  # everything file-like the lab makes lives under here
DOMAIN_PREFIX = "hm-lab-"
QEMU_LOG_DIR = "/var/log/libvirt/qemu"


class LabError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(argv, *, timeout: float = 60, check: bool = True, env: dict | None = None,
        **kw) -> subprocess.CompletedProcess:
    """One command with a timeout (LC_ALL=C: the words the lab reads are the English ones)."""
    full_env = {**os.environ, "LC_ALL": "C", **(env or {})}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env,
                              stdin=subprocess.DEVNULL, **kw)
    except subprocess.TimeoutExpired as err:
        raise LabError(f"`{' '.join(map(str, argv))}` took longer than {timeout:g} s") from err
    if check and done.returncode != 0:
        raise LabError(f"`{' '.join(map(str, argv))}` exited {done.returncode}: "
                       f"{(done.stderr or done.stdout).strip()[-800:]}")
    return done


def virsh(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    return run(["virsh", "-c", URI, *args], timeout=timeout, check=check)


def wait_for(what: str, test: Callable[[], object], timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = test()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


# -- undoing what was done --------------------------------------------------------------

class Interrupted(BaseException):
    """SIGTERM/SIGHUP: leave the scenarios, still clean up."""


class Cleanup:
    def __init__(self) -> None:
        self.stack: list[tuple[str, Callable[[], None]]] = []
        self.errors: list[str] = []

    def push(self, what: str, undo: Callable[[], None]) -> None:
        self.stack.append((what, undo))

    def run(self) -> list[str]:
        # a second signal during cleanup must not cut it short
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
        try:
            while self.stack:
                what, undo = self.stack.pop()
                try:
                    undo()
                except Exception as err:  # undo the rest regardless
                    self.errors.append(f"{what}: {type(err).__name__}: {err}")
                    log(f"cleanup: {what} failed: {err}")
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        return self.errors


def on_signals() -> None:
    def handler(signum, _frame):
        raise Interrupted(f"signal {signal.Signals(signum).name}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


# -- what the machine can do --------------------------------------------------------------

def cannot_run() -> str | None:
    """Why this machine cannot run the lab at all, or None."""
    if os.geteuid() != 0:
        return "not root: the lab starts libvirtd, mounts file systems and sets up loop devices"
    if not shutil.which("apt-get") or not os.path.exists("/etc/debian_version"):
        return "not a Debian system: the lab installs Debian's libvirt, QEMU, kernel and sosreport"
    arch = run(["dpkg", "--print-architecture"], check=False).stdout.strip()
    if arch != "amd64":
        return f"architecture {arch}: the lab's guests are x86_64 (Debian's amd64 kernel)"
    if not os.path.exists("/dev/loop-control"):
        return "no /dev/loop-control: the lab needs loop devices for its small host storage"
    return None


def missing_packages() -> list[str]:
    out = run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *PACKAGES], check=False).stdout
    installed = {line.split()[0] for line in out.splitlines() if len(line.split()) > 1 and line.split()[1] == "ii"}
    return [p for p in PACKAGES if p not in installed]


def install_packages(cleanup: Cleanup) -> float:
    """apt-get install what is missing, with a policy-rc.d that exits 101 in place so that no
    package script starts a daemon (there is no systemd here to start them anyway)."""
    missing = missing_packages()
    if not missing:
        return 0.0
    started = time.monotonic()
    log(f"installing {' '.join(missing)}")
    saved = None
    if os.path.exists(POLICY_RC):
        with open(POLICY_RC) as fh:
            saved = fh.read()
    with open(POLICY_RC, "w") as fh:
        fh.write("#!/bin/sh\n# hostmedic lab: start no daemon from package scripts\nexit 101\n")
    os.chmod(POLICY_RC, 0o755)
    try:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        if run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
               timeout=400, check=False, env=env).returncode != 0:
            run(["apt-get", "update", "-q"], timeout=300, env=env)
            run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                timeout=400, env=env)
    finally:
        if saved is None:
            os.unlink(POLICY_RC)
        else:
            with open(POLICY_RC, "w") as fh:
                fh.write(saved)
    return time.monotonic() - started


# -- daemons ------------------------------------------------------------------------------

def _pid_alive(pid: int, name: str) -> bool:
    """PID runs and is NAME (not a zombie: a daemon's parent here may never reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return False
    comm, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:][:1]
    return comm == name[:15] and state not in ("Z", "X")


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_pid(pid: int, name: str, timeout: float = 20) -> None:
    """SIGTERM to exactly this process (if it still is NAME), then wait; SIGKILL if it lingers."""
    if not _pid_alive(pid, name):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid, name):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            break
        time.sleep(0.1)


def libvirt_answers() -> bool:
    return run(["virsh", "-c", URI, "uri"], timeout=30, check=False).returncode == 0


def start_daemons(cleanup: Cleanup) -> list[str]:
    """virtlogd and libvirtd, started by hand when none runs (no systemd as PID 1 here);
    each is stopped at cleanup by the pid it wrote. Returns the names of those started."""
    started = []
    for name, pidfile in (("virtlogd", "/run/virtlogd.pid"), ("libvirtd", "/run/libvirtd.pid")):
        pid = _read_pid(pidfile)
        if pid and _pid_alive(pid, name):
            continue
        if name == "libvirtd" and os.path.exists(LIBVIRT_SOCK) and libvirt_answers():
            continue  # socket-activated or otherwise managed: not ours to start or stop
        run([name, "-d"], timeout=60)
        pid = wait_for(f"{pidfile}", lambda: (p := _read_pid(pidfile)) and _pid_alive(p, name) and p, 30)
        cleanup.push(f"stop {name} (pid {pid})", lambda pid=pid, name=name: stop_pid(pid, name))
        started.append(name)
        log(f"started {name}, pid {pid}")
    wait_for("libvirtd to answer on " + URI, libvirt_answers, 60, step=1)
    return started


def start_rsyslog(cleanup: Cleanup) -> bool:
    """Debian's rsyslogd, by hand, when no syslog daemon listens on /dev/log. Without
    systemd (whose journal a Debian 12 host keeps them in) a service's messages reach the
    host's logs through syslog, and sos, finding no systemd, collects /var/log/syslog.
    Stopped by pid; the log files it created are removed."""
    if os.path.exists("/dev/log"):
        return False
    before = set(os.listdir("/var/log"))
    pidfile = "/run/rsyslogd.pid"
    run(["rsyslogd"], timeout=30)
    pid = wait_for("rsyslogd's pid file", lambda: (p := _read_pid(pidfile)) and _pid_alive(p, "rsyslogd") and p, 20)

    def stop() -> None:
        stop_pid(pid, "rsyslogd")
        for name in set(os.listdir("/var/log")) - before:
            path = os.path.join("/var/log", name)
            if os.path.isfile(path) and not os.path.islink(path):
                os.unlink(path)
        for path in ("/dev/log", pidfile):
            if os.path.lexists(path):
                os.unlink(path)
    cleanup.push(f"stop rsyslogd (pid {pid})", stop)
    wait_for("/dev/log", lambda: os.path.exists("/dev/log"), 20, step=0.2)
    log(f"started rsyslogd, pid {pid}")
    return True


# -- files and configuration the lab changes ------------------------------------------

def read_text(path: str) -> str:
    """A log the lab watches (a console, a qemu log), or "" while it does not exist yet."""
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""


def replace_file(cleanup: Cleanup, path: str, text: str) -> None:
    """Write PATH, putting back what was there (or removing it) at cleanup."""
    old = None
    if os.path.exists(path):
        with open(path) as fh:
            old = fh.read()
        st = os.stat(path)
    with open(path, "w") as fh:
        fh.write(text)

    def restore() -> None:
        if old is None:
            os.unlink(path)
        else:
            with open(path, "w") as fh:
                fh.write(old)
            os.chmod(path, st.st_mode & 0o7777)
    cleanup.push(f"restore {path}", restore)


def remove_later(cleanup: Cleanup, *paths: str) -> None:
    """Files another program makes on the lab's behalf (qemu and console logs...)."""
    def remove() -> None:
        for p in paths:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            elif os.path.lexists(p):
                os.unlink(p)
    cleanup.push(f"remove {', '.join(paths)}", remove)


def keep_state_dirs(cleanup: Cleanup) -> None:
    """`diagnose fix --apply` writes its lock, backups and audit log under /run/hostmedic,
    /var/lib/hostmedic and /var/log/hostmedic: whatever of them the lab made goes at the end."""
    made = [d for d in ("/run/hostmedic", "/var/lib/hostmedic", "/var/log/hostmedic") if not os.path.exists(d)]
    backups = "/var/lib/hostmedic/backups"
    before = set(os.listdir(backups)) if os.path.isdir(backups) else set()

    def remove() -> None:
        if os.path.isdir(backups):
            for name in set(os.listdir(backups)) - before:
                if "-" in name and name[:8].isdigit():
                    shutil.rmtree(os.path.join(backups, name))
        for d in made:
            if os.path.isdir(d):
                shutil.rmtree(d)
    cleanup.push("remove what diagnose fix wrote for the lab", remove)


# -- domains, storage -------------------------------------------------------------------

def undefine_domain(name: str) -> None:
    state = virsh("domstate", name, check=False)
    if state.returncode != 0:
        return  # gone already
    if state.stdout.strip() not in ("shut off", ""):
        virsh("destroy", name, check=False, timeout=60)
    virsh("undefine", name, check=False)


def define_domain(cleanup: Cleanup, xml_path: str, name: str) -> None:
    # the logs go after the domain: destroying it writes to its qemu log once more
    remove_later(cleanup, f"{QEMU_LOG_DIR}/{name}.log", f"{QEMU_LOG_DIR}/{name}-serial0.log")
    virsh("define", xml_path)
    cleanup.push(f"undefine domain {name}", lambda: undefine_domain(name))


def loop_storage(cleanup: Cleanup, workdir: str, name: str, size_mib: int) -> str:
    """A small ext4 file system on a loop device, mounted at WORKDIR/NAME: the host storage
    that runs out."""
    image = os.path.join(workdir, f"{name}.img")
    mountpoint = os.path.join(workdir, name)
    with open(image, "wb") as fh:
        fh.truncate(size_mib << 20)
    run(["mkfs.ext4", "-q", "-F", "-L", name[:16], image])
    loop = run(["losetup", "--find", "--show", image]).stdout.strip()
    cleanup.push(f"detach {loop}", lambda: run(["losetup", "-d", loop], check=False))
    os.makedirs(mountpoint, exist_ok=True)
    run(["mount", "-t", "ext4", loop, mountpoint])
    cleanup.push(f"unmount {mountpoint}", lambda: _umount(mountpoint))
    os.chmod(mountpoint, 0o755)  # qemu runs as libvirt-qemu
    return mountpoint


def _umount(path: str) -> None:
    if run(["umount", path], check=False, timeout=60).returncode != 0:
        run(["umount", "-l", path], check=False)


def remove_leftovers() -> list[str]:
    """What an earlier lab run that was killed (SIGKILL, power loss) left behind: its domains
    (named hm-lab-*), mounts and loop devices under WORK_BASE, and WORK_BASE itself."""
    found = []
    if shutil.which("virsh") and os.path.exists(LIBVIRT_SOCK):
        names = run(["virsh", "-c", URI, "list", "--all", "--name"], check=False, timeout=60).stdout.split()
        for name in names:
            if name.startswith(DOMAIN_PREFIX):
                undefine_domain(name)
                found.append(f"domain {name}")
    if os.path.isdir(WORK_BASE):
        mounts = run(["findmnt", "-rn", "-o", "TARGET"], check=False).stdout.split()
        for target in sorted((m for m in mounts if m.startswith(WORK_BASE + "/")), reverse=True):
            _umount(target)
            found.append(f"mount {target}")
        for line in run(["losetup", "-n", "-O", "NAME,BACK-FILE", "-l"], check=False).stdout.splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2 and parts[1].startswith(WORK_BASE + "/"):
                run(["losetup", "-d", parts[0]], check=False)
                found.append(f"loop device {parts[0]}")
        shutil.rmtree(WORK_BASE, ignore_errors=True)
        found.append(WORK_BASE)
    for entry in (os.listdir(QEMU_LOG_DIR) if os.path.isdir(QEMU_LOG_DIR) else []):
        if entry.startswith(DOMAIN_PREFIX):
            os.unlink(os.path.join(QEMU_LOG_DIR, entry))
            found.append(f"{QEMU_LOG_DIR}/{entry}")
    return found


# -- proof that nothing was left behind ------------------------------------------------

WATCHED_FILES = ("/etc/default/libvirt-guests", POLICY_RC, "/dev/log", "/run/rsyslogd.pid",
                 "/var/lib/libvirt/libvirt-guests", "/run/hostmedic", "/var/lib/hostmedic",
                 "/var/log/hostmedic")


def footprint() -> dict[str, object]:
    """What the lab could leave behind, taken before and compared after."""
    fp: dict[str, object] = {}
    if shutil.which("virsh") and os.path.exists(LIBVIRT_SOCK):
        names = run(["virsh", "-c", URI, "list", "--all", "--name"], check=False, timeout=60).stdout.split()
        fp["domains"] = sorted(n for n in names if n.startswith(DOMAIN_PREFIX))
    mounts = run(["findmnt", "-rn", "-o", "TARGET"], check=False).stdout.split()
    fp["mounts"] = sorted(m for m in mounts if m.startswith(WORK_BASE))
    loops = run(["losetup", "-n", "-O", "NAME,BACK-FILE", "-l"], check=False).stdout.splitlines()
    fp["loop devices"] = sorted(line.split()[0] for line in loops if WORK_BASE in line)
    fp["lab folder"] = os.path.exists(WORK_BASE)
    fp["qemu processes"] = sorted(
        pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline_has(pid, "guest=" + DOMAIN_PREFIX))
    fp["files in /var/log"] = sorted(os.listdir("/var/log"))
    fp["domain logs"] = sorted(f for f in os.listdir(QEMU_LOG_DIR) if f.startswith(DOMAIN_PREFIX)) \
        if os.path.isdir(QEMU_LOG_DIR) else []
    for path in WATCHED_FILES:
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                fp[path] = fh.read()
        else:
            fp[path] = os.path.lexists(path)
    return fp


def _cmdline_has(pid: str, text: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return text.encode() in fh.read()
    except OSError:
        return False


def left_behind(before: dict, after: dict) -> list[str]:
    out = []
    for key, value in after.items():
        was = before.get(key)
        if value == was or key == "domains" and key not in before:
            continue
        if isinstance(value, list) and isinstance(was, list):
            extra = sorted(set(value) - set(was))
            if extra:
                out.append(f"{key}: {', '.join(extra)}")
        elif key in ("lab folder", "qemu processes") and value:
            out.append(f"{key}: {value}")
        elif key not in ("lab folder", "qemu processes"):
            out.append(f"{key} changed")
    return out
