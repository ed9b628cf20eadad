"""A real OpenSSH server on loopback addresses for the remote tests (imported by them).

Each sshd is Debian's /usr/sbin/sshd, started by the test as root with its own config,
port, generated host key and log (`sshd -D -f CONFIG -E LOG`), and stopped by pid. The
client side is throwaway too: one generated user key, a known_hosts file written from the
host keys, and an ssh config with one alias per server (`ssh -F`). Nothing of the
machine's own ssh setup is used or changed. Without root, sshd or ssh the tests skip.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server")
                    if os.path.exists(p)), None)


def lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "sshd must be started as root"
    if not os.access(SSHD, os.X_OK):
        return "openssh-server is not installed (make deps)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (openssh-client)"
    return None


def free_port(addr: str) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def keygen(path: Path) -> str:
    """A new ed25519 key pair at path; its public key as "ssh-ed25519 AAAA..."."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hostmedic-test", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)
    return " ".join(path.with_suffix(".pub").read_text().split()[0:2])


@dataclass
class Sshd:
    alias: str
    addr: str
    port: int
    host_key_pub: str  # "ssh-ed25519 AAAA..."
    log: Path
    proc: subprocess.Popen | None = None

    def accepted(self) -> int:
        """How many logins the server accepted so far (one per SSH connection)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count("Accepted publickey")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SshLab:
    """Start servers, write the client's known_hosts and ssh config for them."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.user_key = root / "id_user"
        keygen(self.user_key)
        # sshd reads authorized keys as the user logging in: a folder a non-root user can read
        # (pytest's own temp folder is root's alone).
        self.public = Path(tempfile.mkdtemp(prefix="hm-sshlab-"))
        self.public.chmod(0o755)
        self.keys_dir = self.public / "authorized"
        self.keys_dir.mkdir(mode=0o755)
        self.authorize("root")
        self.known_hosts = root / "known_hosts"
        self.config = root / "ssh_config"
        self.servers: list[Sshd] = []
        self.aliases: list[tuple[str, str, int, str]] = []  # alias, addr, port, user
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        self.write_client()

    def authorize(self, user: str) -> None:
        keys = self.keys_dir / user
        keys.write_text(self.user_key.with_suffix(".pub").read_text())
        keys.chmod(0o644)

    def start(self, alias: str, addr: str = "127.0.0.1", extra: str = "", known: bool = True,
              prelude: str | None = None) -> Sshd:
        """A server on addr:free port, with its own host key, known to the client unless
        known=False. With a prelude (shell lines), sshd runs in a private mount namespace
        after them (`unshare --mount`), so they can mount things only it sees."""
        d = self.root / alias
        d.mkdir()
        host_key = d / "host_ed25519"
        pub = keygen(host_key)
        port = free_port(addr)
        log = d / "sshd.log"
        conf = d / "sshd_config"
        conf.write_text("\n".join([
            f"Port {port}", f"ListenAddress {addr}", f"HostKey {host_key}", f"PidFile {d / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.keys_dir}/%u",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            "UsePAM no",
            # The test's files live under /tmp (world-writable): sshd's owner checks would refuse them.
            "StrictModes no",
            "LogLevel VERBOSE",
            *( [f"Subsystem sftp {SFTP_SERVER}"] if SFTP_SERVER else []),
            extra, ""]))
        argv = [SSHD, "-D", "-f", str(conf), "-E", str(log)]
        if prelude is not None:  # unshare and sh exec: the pid stays sshd's
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                    prelude + '\nexec "$@"', "sh", *argv]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        server = Sshd(alias, addr, port, pub, log, proc)
        self.servers.append(server)
        _wait_listening(server)
        if known:
            self.know(alias, addr, port, pub)
        self.add_alias(alias, addr, port)
        return server

    def know(self, alias: str, addr: str, port: int, pub: str) -> None:
        with self.known_hosts.open("a") as fh:
            fh.write(f"[{addr}]:{port} {pub}\n")

    def add_alias(self, alias: str, addr: str, port: int, user: str = "root") -> None:
        self.aliases.append((alias, addr, port, user))
        self.write_client()

    def write_client(self, key: Path | None = None) -> None:
        blocks = []
        for alias, addr, port, user in self.aliases:
            blocks.append(f"Host {alias}\n  HostName {addr}\n  Port {port}\n  User {user}\n")
        blocks.append("Host *\n"
                      f"  IdentityFile {key or self.user_key}\n"
                      "  IdentitiesOnly yes\n"
                      f"  UserKnownHostsFile {self.known_hosts}\n"
                      "  GlobalKnownHostsFile /dev/null\n"
                      "  StrictHostKeyChecking yes\n"
                      "  ConnectTimeout 5\n")
        self.config.write_text("\n".join(blocks))

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.public, ignore_errors=True)


def _wait_listening(server: Sshd, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"sshd exited {server.proc.returncode}: "
                               + (server.log.read_text() if server.log.exists() else ""))
        try:
            with socket.create_connection((server.addr, server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on {server.addr}:{server.port}")
