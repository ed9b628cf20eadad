"""Realistic journal input for benchmarks: N entries over two boots, written as real
journal files by systemd-journal-remote from Journal Export Format, and the same
entries as the text sos saves from `journalctl --no-pager`.

Each boot starts with the kernel and systemd (a "Startup finished" line), then runs:
mostly ordinary noise (sessions, cron, sshd, timers, kernel chatter), about 1% warnings
and errors, and a few dozen incident lines (an NFS server that stops answering, hung
tasks with their stacks). The first boot ends with a reboot whose stop job times out.
Entries carry the fields journald writes (trusted _ fields, CODE_*, UNIT, ...), so that
reading them costs what it costs on a real host.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

BOOTS = ["3e1f0c9a5b7d4e2f8a6c1b3d5e7f9a0b", "7c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f"]
MACHINE = "0f3d5c7b9a1e4d6f8b0a2c4e6d8f0a1b"
HOST = "bench-host"

# (identifier, priority, message, unit); {n} {m} {p} vary per line.
NOISE = [
    ("systemd", 6, "Started session-{n}.scope - Session {n} of User ops.", "session-{n}.scope"),
    ("systemd", 6, "Starting logrotate.service - Rotate log files...", "logrotate.service"),
    ("systemd", 6, "logrotate.service: Deactivated successfully.", "logrotate.service"),
    ("systemd", 6, "Finished logrotate.service - Rotate log files.", "logrotate.service"),
    ("CRON", 6, "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)", "cron.service"),
    ("CRON", 6, "pam_unix(cron:session): session closed for user root", "cron.service"),
    ("sshd", 6, "Accepted publickey for ops from 192.0.2.{m} port {p} ssh2: ED25519 SHA256:q4bWz0m", "ssh.service"),
    ("sshd", 6, "pam_unix(sshd:session): session opened for user ops(uid=1000) by (uid=0)", "ssh.service"),
    ("sshd", 6, "Received disconnect from 192.0.2.{m} port {p}:11: disconnected by user", "ssh.service"),
    ("systemd-logind", 6, "New session {n} of user ops.", "systemd-logind.service"),
    ("systemd-logind", 6, "Session {n} logged out. Waiting for processes to exit.", "systemd-logind.service"),
    ("kernel", 6, "IPv6: ADDRCONF(NETDEV_CHANGE): veth{m}: link becomes ready", None),
    ("kernel", 6, "docker0: port {m}(veth{m}) entered forwarding state", None),
    ("dockerd", 6, "time=\"2024-11-21T10:00:00Z\" level=info msg=\"ignoring event\" module=libcontainerd "
                   "namespace=moby topic=/tasks/delete", "docker.service"),
    ("containerd", 6, "shim disconnected id={p}{m} namespace=moby", "containerd.service"),
    ("systemd-resolved", 6, "Clock change detected. Flushing caches.", "systemd-resolved.service"),
    ("systemd-timesyncd", 6, "Initial synchronization to time server 192.0.2.123:123 (ntp.example.net).",
     "systemd-timesyncd.service"),
    ("nginx", 6, "10.0.{m}.7 - - \"GET /healthz HTTP/1.1\" 200 2 \"-\" \"kube-probe/1.29\"", "nginx.service"),
]
WARN = [
    ("kernel", 4, "ACPI: \\_SB_.PCI0.LPC0.EC0_: Failed to evaluate _STA", None),
    ("systemd-udevd", 4, "/usr/lib/udev/rules.d/50-udev.rules:7 Invalid key/value pair, ignoring.",
     "systemd-udevd.service"),
    ("app", 3, "request failed: upstream timed out (110: Connection timed out)", "app.service"),
    ("sshd", 5, "error: kex_exchange_identification: Connection closed by remote host", "ssh.service"),
    ("nginx", 3, "[error] 812#812: *{n} connect() failed (111: Connection refused) while connecting to upstream",
     "nginx.service"),
]
INCIDENT = [
    ("kernel", 5, "nfs: server 10.77.0.1 not responding, still trying", None),
    ("kernel", 3, "INFO: task dd:352 blocked for more than 120 seconds.", None),
    ("kernel", 3, "      Not tainted 6.1.0-27-amd64 #1 Debian 6.1.115-1", None),
    ("kernel", 3, "\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.", None),
    ("kernel", 6, "task:dd              state:D stack:0     pid:352   ppid:340    flags:0x00004002", None),
    ("kernel", 4, "Call Trace:", None),
    ("kernel", 4, " <TASK>", None),
    ("kernel", 4, " __schedule+0x34d/0x9e0", None),
    ("kernel", 4, " schedule+0x5a/0xd0", None),
    ("kernel", 4, " rpc_wait_bit_killable+0xd/0x60 [sunrpc]", None),
    ("kernel", 4, " nfs_wb_all+0x21/0x120 [nfs]", None),
    ("kernel", 4, " </TASK>", None),
]
START = [
    ("kernel", 5, "Linux version 6.1.0-27-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) "
                  "12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1", None),
    ("kernel", 6, "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=/dev/vda1 ro quiet", None),
    ("kernel", 6, "Memory: 3977576K/4193772K available (14343K kernel code, 2337K rwdata, 8996K rodata, "
                  "2796K init, 17220K bss, 215936K reserved, 0K cma-reserved)", None),
    ("systemd", 6, "systemd 252.33-1~deb12u1 running in system mode (+PAM +AUDIT +SELINUX +APPARMOR +IMA "
                   "+SMACK +SECCOMP +GCRYPT -GNUTLS +OPENSSL +ACL +BLKID +CURL)", None),
    ("systemd", 6, "Starting systemd-journald.service - Journal Service...", "systemd-journald.service"),
    ("systemd-journald", 6, "Journal started", "systemd-journald.service"),
    ("systemd", 6, "Started systemd-journald.service - Journal Service.", "systemd-journald.service"),
    ("systemd", 6, "Starting mnt-data.mount - /mnt/data...", "mnt-data.mount"),
    ("systemd", 6, "Mounted mnt-data.mount - /mnt/data.", "mnt-data.mount"),
    ("systemd", 6, "Reached target multi-user.target - Multi-User System.", "multi-user.target"),
    ("systemd", 6, "Startup finished in 2.413s (kernel) + 7.178s (userspace) = 9.591s.", None),
]
SHUTDOWN = [
    ("systemd-logind", 6, "System is rebooting.", "systemd-logind.service"),
    ("systemd", 6, "Stopping hm-w4.service - Hung stop worker...", "hm-w4.service"),
    ("systemd", 6, "Stopping mnt-data.mount - /mnt/data...", "mnt-data.mount"),
    ("systemd", 4, "hm-w4.service: Stopping timed out. Terminating.", "hm-w4.service"),
    ("systemd", 4, "hm-w4.service: Failed with result 'timeout'.", "hm-w4.service"),
    ("systemd", 6, "Stopped hm-w4.service - Hung stop worker.", "hm-w4.service"),
    ("systemd", 6, "Unmounted mnt-data.mount - /mnt/data.", "mnt-data.mount"),
    ("systemd", 6, "Reached target shutdown.target - System Shutdown.", "shutdown.target"),
    ("systemd", 6, "Shutting down.", None),
    ("systemd-journald", 6, "Journal stopped", "systemd-journald.service"),
]
COMM = {"CRON": "cron", "systemd-logind": "systemd-logind", "kernel": None}


def _fields(ident: str, prio: int, unit: str | None, pid: int) -> list[str]:
    """The fields journald stores beside MESSAGE for this kind of sender."""
    if ident == "kernel":
        return ["_TRANSPORT=kernel", "SYSLOG_FACILITY=0", "SYSLOG_IDENTIFIER=kernel",
                f"PRIORITY={prio}", "_SOURCE_MONOTONIC_TIMESTAMP=0"]
    comm = COMM.get(ident, ident.lower())
    out = [f"PRIORITY={prio}", f"SYSLOG_IDENTIFIER={ident}", f"_PID={pid}", "_UID=0", "_GID=0",
           f"_COMM={comm}", f"_EXE=/usr/sbin/{comm}", f"_CMDLINE=/usr/sbin/{comm} --foreground",
           "_CAP_EFFECTIVE=1ffffffffff", "_SELINUX_CONTEXT=unconfined",
           f"_SYSTEMD_INVOCATION_ID={pid:032x}"]
    if ident == "systemd":
        out += ["_TRANSPORT=journal", "SYSLOG_FACILITY=3", "CODE_FILE=src/core/job.c", "CODE_LINE=581",
                "CODE_FUNC=job_emit_done_message", "MESSAGE_ID=39f53479d3a045ac8e11786248231fbf",
                "_SYSTEMD_CGROUP=/init.scope", "_SYSTEMD_UNIT=init.scope", "_SYSTEMD_SLICE=-.slice"]
        if unit:
            out += [f"UNIT={unit}", f"INVOCATION_ID={pid * 7:032x}", "JOB_TYPE=start", "JOB_RESULT=done"]
    else:
        svc = unit or f"{comm}.service"
        out += ["_TRANSPORT=syslog", "SYSLOG_FACILITY=3", f"SYSLOG_PID={pid}",
                f"_SYSTEMD_CGROUP=/system.slice/{svc}", f"_SYSTEMD_UNIT={svc}",
                "_SYSTEMD_SLICE=system.slice", f"_SOURCE_REALTIME_TIMESTAMP={pid}000"]
    return out


def entries(n: int, seed: int = 1):
    """(boot index, epoch microseconds, ident, priority, message, unit, pid) of n entries."""
    rnd = random.Random(seed)
    t = 1_732_180_000_000_000
    half = n // 2
    for i in range(n):
        boot = 0 if i < half else 1
        first = i if boot == 0 else i - half
        t += rnd.randint(1_000, 2_000_000)
        if first < len(START):
            ident, prio, msg, unit = START[first]
        elif boot == 0 and half - len(SHUTDOWN) <= i < half:
            ident, prio, msg, unit = SHUTDOWN[i - (half - len(SHUTDOWN))]
        else:
            r = rnd.random()
            if r < 0.00004:  # a few dozen incident lines per million
                for j, (ident, prio, msg, unit) in enumerate(INCIDENT[:1] if r < 0.00002 else INCIDENT[1:]):
                    yield boot, t + j, ident, prio, msg, unit, 1
                continue
            elif r < 0.01:
                ident, prio, msg, unit = rnd.choice(WARN)
            else:
                ident, prio, msg, unit = rnd.choice(NOISE)
        pid = 1 if ident == "systemd" else 300 + i % 4000
        yield (boot, t, ident, prio, msg.format(n=i, m=i % 250, p=40000 + i % 20000),
               unit.format(n=i) if unit else None, pid)


def export(n: int, seed: int = 1):
    """The entries in Journal Export Format, in chunks."""
    out = bytearray()
    for seq, (boot, t, ident, prio, msg, unit, pid) in enumerate(entries(n, seed), 1):
        mono = t - 1_732_180_000_000_000
        head = [f"__CURSOR=s=0;i={seq}", f"__REALTIME_TIMESTAMP={t}", f"__MONOTONIC_TIMESTAMP={mono}",
                f"_BOOT_ID={BOOTS[boot]}", f"_MACHINE_ID={MACHINE}", f"_HOSTNAME={HOST}"]
        fields = _fields(ident, prio, unit, pid)
        out += ("\n".join(head + fields + [f"MESSAGE={msg}"]) + "\n\n").encode()
        if len(out) > 1 << 22:
            yield bytes(out)
            out.clear()
    yield bytes(out)


def build(directory: Path, n: int) -> list[Path]:
    """Journal files of n entries in directory (journal-remote starts a new file at its
    size limit); returns their paths."""
    remote = shutil.which("systemd-journal-remote") or "/lib/systemd/systemd-journal-remote"
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([remote, f"--output={directory / 'bench.journal'}", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    for chunk in export(n):
        proc.stdin.write(chunk)
    proc.stdin.close()
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.wait() != 0:
        raise RuntimeError(f"systemd-journal-remote failed: {err.strip()}")
    return sorted(directory.glob("*.journal"))


def short_text(n: int, seed: int = 1):
    """The same entries as `journalctl --no-pager` prints them (short format, a
    "-- Boot ID --" line before each boot), in chunks of text."""
    out: list[str] = []
    boot = None
    for b, t, ident, _prio, msg, _unit, pid in entries(n, seed):
        if b != boot:
            boot = b
            out.append(f"-- Boot {BOOTS[b]} --")
        stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(t / 1e6))
        who = ident if ident == "kernel" else f"{ident}[{pid}]"
        out.append(f"{stamp} {HOST} {who}: {msg}")
        if len(out) >= 20000:
            yield "\n".join(out) + "\n"
            out = []
    yield "\n".join(out) + "\n" if out else ""


if __name__ == "__main__":
    print(*build(Path(sys.argv[1]), int(sys.argv[2])), sep="\n")
