"""Realistic journal input for benchmarks: N entries over two boots, written as real
journal files by systemd-journal-remote from Journal Export Format.

Mostly ordinary noise (units starting, cron, sshd, kernel chatter), about 1% warnings
and errors, and a few dozen incident lines (an NFS server that stops answering, hung
tasks, a stop job that times out during the reboot).
"""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

NOISE = [
    ("systemd", 6, "Started session-{n}.scope - Session {n} of User ops."),
    ("systemd", 6, "Starting logrotate.service - Rotate log files..."),
    ("systemd", 6, "logrotate.service: Deactivated successfully."),
    ("CRON", 6, "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"),
    ("sshd", 6, "Accepted publickey for ops from 192.0.2.{m} port {p} ssh2: ED25519 SHA256:abc"),
    ("sshd", 6, "pam_unix(sshd:session): session opened for user ops(uid=1000) by (uid=0)"),
    ("kernel", 6, "IPv6: ADDRCONF(NETDEV_CHANGE): veth{m}: link becomes ready"),
    ("dockerd", 6, "time=\"2024-11-21T10:00:00Z\" level=info msg=\"ignoring event\" module=libcontainerd"),
    ("systemd-resolved", 6, "Clock change detected. Flushing caches."),
]
WARN = [
    ("kernel", 4, "ACPI: \\_SB_.PCI0.LPC0.EC0_: Failed to evaluate _STA"),
    ("systemd-udevd", 4, "/usr/lib/udev/rules.d/50-udev.rules:7 Invalid key/value pair, ignoring."),
    ("app", 3, "request failed: upstream timed out (110: Connection timed out)"),
]
INCIDENT = [
    ("kernel", 5, "nfs: server 10.77.0.1 not responding, still trying"),
    ("kernel", 3, "INFO: task dd:352 blocked for more than 120 seconds."),
    ("kernel", 4, " nfs_wb_all+0x21/0x120 [nfs]"),
]
SHUTDOWN = [
    ("systemd-logind", 6, "System is rebooting."),
    ("systemd", 6, "Stopping hm-w4.service - Hung stop worker..."),
    ("systemd", 4, "hm-w4.service: Stopping timed out. Terminating."),
    ("systemd", 4, "hm-w4.service: Failed with result 'timeout'."),
    ("systemd", 6, "Reached target shutdown.target - System Shutdown."),
    ("systemd", 6, "Shutting down."),
    ("systemd-journald", 6, "Journal stopped"),
]


def _entry(t_us: int, mono: int, boot: str, ident: str, prio: int, msg: str, seq: int) -> bytes:
    transport = "kernel" if ident == "kernel" else "syslog"
    fields = [f"__CURSOR=s=0;i={seq}", f"__REALTIME_TIMESTAMP={t_us}", f"__MONOTONIC_TIMESTAMP={mono}",
              f"_BOOT_ID={boot}", f"_TRANSPORT={transport}", f"PRIORITY={prio}",
              f"SYSLOG_IDENTIFIER={ident}", "_HOSTNAME=bench-host", f"MESSAGE={msg}"]
    return ("\n".join(fields) + "\n\n").encode()


def export(entries: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    boots = ["1" * 32, "2" * 32]
    out = bytearray()
    t = 1_732_180_000_000_000
    half = entries // 2
    for i in range(entries):
        boot = boots[0] if i < half else boots[1]
        t += rnd.randint(1_000, 2_000_000)
        r = rnd.random()
        if i == half - len(SHUTDOWN) or (half - len(SHUTDOWN) < i < half):
            ident, prio, msg = SHUTDOWN[i - (half - len(SHUTDOWN))]
        elif r < 0.0004:
            ident, prio, msg = rnd.choice(INCIDENT)
        elif r < 0.01:
            ident, prio, msg = rnd.choice(WARN)
        else:
            ident, prio, msg = rnd.choice(NOISE)
        msg = msg.format(n=i, m=i % 250, p=40000 + i % 20000)
        out += _entry(t, t - 1_732_180_000_000_000, boot, ident, prio, msg, i)
    return bytes(out)


def build(directory: Path, entries: int) -> Path:
    remote = shutil.which("systemd-journal-remote") or "/lib/systemd/systemd-journal-remote"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "bench.journal"
    subprocess.run([remote, f"--output={target}", "-"], input=export(entries), check=True,
                   capture_output=True)
    return directory


if __name__ == "__main__":
    print(build(Path(sys.argv[1]), int(sys.argv[2])))
