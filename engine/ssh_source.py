"""A remote host over the system's OpenSSH client (`diagnose --host NAME`).

Agentless: commands and file reads go through `ssh`, so ~/.ssh/config, jump hosts,
agents and known_hosts behave as they do for the user. Host key checking stays as
configured: hostmedic never passes StrictHostKeyChecking=no or accept-new, and never
adds or replaces a key. One connection per host: a master started once
(ControlMaster, its socket in a private temp dir, ControlPersist short as a safety
net) carries every command, and is closed at the end.

On the host a small stdlib-only python3 program (engine/ssh_helper.py), sent with the
command that starts it, answers requests over one session of that connection: run a
command (from an argument list, with a time limit), read a file, list a folder. The
host needs python3 and its usual tools, nothing of ours. The only text a remote shell
sees is the command starting that program, quoted with shlex.join; no host data is
ever put into a shell string.
"""
from __future__ import annotations

import base64
import inspect
import json
import os
import re
import shlex
import shutil
import select
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from typing import Sequence

from hostmedic.engine import ssh_helper
from hostmedic.engine.sources import (_DENIED_WORDS, DEFAULT_TIMEOUT, DENIED, FAILED, MAX_READ_BYTES,
                                      OK, TIMEOUT, Result, Source)

CONNECT_TIMEOUT = 10  # used when the user's ssh config sets no ConnectTimeout
CONTROL_PERSIST = 60  # the master outlives a crashed diagnose by at most this
SLACK = 15.0  # local limit = remote limit + this (round trips over a slow link)
START_LIMIT = 60.0  # for the helper to start and answer its first request
MAX_ERR_BYTES = 1 << 20  # the helper keeps the first MiB of a command's error output
MAX_HEAD_BYTES = 1 << 16  # an answer's JSON header line
# Options that would defeat host key checking, or that hostmedic sets itself.
_REFUSED = re.compile(r"^\s*(controlmaster|controlpath|controlpersist)\b", re.I)
_NO_CHECKING = re.compile(r"^\s*stricthostkeychecking[\s=]+(no|off|accept-new|false)\s*$", re.I)
_OPTION = re.compile(r"^\s*[A-Za-z][A-Za-z0-9]*\s*[= ]\s*\S")


class SshError(Exception):
    """The host cannot be diagnosed over SSH; the message is one sentence for the user."""


def _boot_code() -> str:
    """`python3 -c` text that runs ssh_helper: compressed and base64'd, so that the
    remote login shell sees only plain characters inside one quoted word."""
    packed = base64.b64encode(zlib.compress(inspect.getsource(ssh_helper).encode(), 9)).decode()
    return f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{packed}')))"


_BOOT = _boot_code()


def check_host(host: str) -> str:
    # ssh puts the name into the user's ProxyCommand / Match exec lines (%h), which a shell
    # runs (CVE-2023-51385): only the characters of [user@]host, IPv6 [::1] and scope ids.
    if not host or host.startswith("-") or not re.fullmatch(r"[\w.@%:\[\]-]+", host):
        raise SshError(f"{host!r} is not a host name ssh accepts (letters, digits and . _ - @ : % [ ] "
                       "only; no spaces, no leading '-')")
    return host


def check_options(options: Sequence[str]) -> list[str]:
    for opt in options:
        if not _OPTION.match(opt):
            raise SshError(f"--ssh-option {opt!r}: give it as Keyword=value, as in ssh_config")
        if _NO_CHECKING.match(opt):
            raise SshError("hostmedic does not turn host key checking off; verify the key and "
                           "add it to known_hosts with ssh itself, then run diagnose again")
        if _REFUSED.match(opt):
            raise SshError(f"--ssh-option {opt!r}: hostmedic manages its own multiplexed connection")
    return list(options)


def explain_failure(host: str, text: str, sudo: bool = False, user: str = "") -> str:
    """One sentence for what ssh (or the remote shell, or sudo) printed when it failed."""
    lines = [l.strip() for l in text.replace("\r", "").splitlines() if l.strip()]
    last = next((l for l in reversed(lines) if not l.startswith(("@", "Warning: Permanently"))), "")
    said = f" ({last})" if last else ""
    if re.search(r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for \S+ has changed", text):
        where = re.search(r"Offending \S+ key in (\S+):(\d+)", text)
        return (f"the host key {host} offered does not match the one in "
                f"{where[1] + ':' + where[2] if where else 'known_hosts'}: someone may be "
                "intercepting the connection, or the host was reinstalled; check the new key "
                "out of band and update known_hosts yourself (ssh-keygen -R), hostmedic never "
                "accepts or replaces a host key")
    if re.search(r"No \S+ host key is known for|Host key verification failed", text):
        return (f"the host key of {host} is not in known_hosts and strict checking is on: "
                f"connect once with `ssh {host}`, check the fingerprint and accept it there, "
                "then run diagnose again")
    if re.search(r"Permission denied \(", text):
        return (f"{host} refused the login{said}: check the user name and that your key is in "
                "its authorized_keys (`ssh-add -l` lists the agent's keys)")
    if "Connection refused" in text:
        return f"cannot reach {host}: the connection was refused (no sshd on that port?){said}"
    if re.search(r"timed out|Connection timeout", text, re.I):
        return f"cannot reach {host}: the connection timed out{said}"
    if re.search(r"No route to host|Network is unreachable", text):
        return f"cannot reach {host}: no route to it{said}"
    if re.search(r"Could not resolve hostname|Name or service not known", text):
        return f"cannot reach {host}: its name does not resolve{said}"
    if sudo and "a password is required" in text:
        return (f"sudo on {host} asks for a password: let {user or 'this user'} run sudo "
                "without one (NOPASSWD), or log in as root without --sudo")
    if sudo and re.search(r"not in the sudoers file|not allowed to execute|may not run sudo", text):
        return f"{user or 'this user'} may not use sudo on {host}{said}"
    if sudo and re.search(r"\bsudo: (command )?not found|sudo: No such file", text):
        return f"sudo is not installed on {host}: log in as root instead of using --sudo"
    if re.search(r"python3\S*: (command )?not found|'?python3'?: No such file", text):
        return (f"python3 is not installed on {host} (or not on the login's PATH): hostmedic "
                "needs python3 there (Debian/Ubuntu: apt install python3; RHEL: dnf install python3)")
    if re.search(r"Connection closed by|Connection reset|kex_exchange_identification", text):
        return f"{host} closed the connection during the SSH handshake{said}"
    return f"cannot diagnose {host} over SSH{said or ' (ssh gave no reason)'}"


def _interactive() -> bool:
    try:
        return bool(sys.stdin) and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


class _Lost(Exception):
    """The helper session ended or stopped answering."""


class _Helper:
    """One `python3 -c CODE serve` session over the master connection."""

    def __init__(self, argv: list[str], errlog: str):
        self.errlog = errlog
        with open(errlog, "wb") as err:  # a file, not a pipe: nothing to drain
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, start_new_session=True)
        self.buf = b""

    def ask(self, request: dict, limit: float) -> tuple[dict, bytes, bytes]:
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as err:
            raise _Lost(str(err))
        deadline = time.monotonic() + limit
        line = self._until_newline(deadline)
        try:
            head = json.loads(line.decode("utf-8", errors="replace"))
            size_out, size_err = int(head["out"]), int(head["err"])
        except (ValueError, KeyError, TypeError):
            raise _Lost(f"unexpected answer: {line[:200]!r}")
        # the helper keeps to these bounds; an answer past them is not its answer
        if not (0 <= size_out <= MAX_READ_BYTES and 0 <= size_err <= MAX_ERR_BYTES):
            raise _Lost(f"an answer of {size_out} + {size_err} bytes, more than the helper ever sends")
        data = self._exactly(size_out + size_err, deadline)
        return head, data[:size_out], data[size_out:]

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        ready, _, _ = select.select([self.proc.stdout], [], [], left)
        if not ready:
            raise TimeoutError
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            raise _Lost("the session ended")
        self.buf += chunk

    def _until_newline(self, deadline: float) -> bytes:
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_HEAD_BYTES:
                raise _Lost(f"an answer header of over {MAX_HEAD_BYTES} bytes")
            self._fill(deadline)
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def _exactly(self, size: int, deadline: float) -> bytes:
        while len(self.buf) < size:
            self._fill(deadline)
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def said(self) -> str:
        try:
            with open(self.errlog, "rb") as fh:
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the helper ends when its input does
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class SshSource(Source):
    """A remote host: commands and files through one multiplexed OpenSSH connection."""

    kind = "ssh"
    live = True

    def __init__(self, host: str, timeout: float = DEFAULT_TIMEOUT, sudo: bool = False,
                 config: str | None = None, options: Sequence[str] = (), ssh: str = "ssh"):
        self.host = check_host(host)
        self.timeout = timeout
        self.sudo = sudo
        self.description = f"{host} over SSH" + (" (sudo)" if sudo else "")
        self.broken = ""  # set when the connection dies: later calls fail at once
        self.user = ""
        self.python: list[int] = []
        self._helper: _Helper | None = None
        self._dir: str | None = None
        self._ssh = shutil.which(ssh)
        if self._ssh is None:
            raise SshError("the OpenSSH client (ssh) is not installed here: apt install openssh-client")
        self._base = [self._ssh] + (["-F", config] if config else [])
        for opt in check_options(options):
            self._base += ["-o", opt]
        self._dir = tempfile.mkdtemp(prefix="hm-ssh-")  # 0700: the socket is ours alone
        if len(self._dir) > 90:  # a unix socket path has room for 107 bytes
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = tempfile.mkdtemp(prefix="hm-ssh-", dir="/tmp")
        self._control = os.path.join(self._dir, "cm")
        try:
            self._start_master()
            self._probe()
        except BaseException:
            self.close()
            raise

    # -- the connection ---------------------------------------------------------------
    def _effective(self) -> dict[str, str]:
        """`ssh -G`: the configuration ssh will use for this host (nothing is contacted)."""
        proc = subprocess.run([*self._base, "-G", "--", self.host], capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=30)
        if proc.returncode != 0:
            first = proc.stderr.decode(errors="replace").strip().splitlines()
            raise SshError(f"ssh cannot use its configuration for {self.host}"
                           + (f" ({first[-1]})" if first else ""))
        conf: dict[str, str] = {}
        for line in proc.stdout.decode(errors="replace").splitlines():
            key, _, value = line.partition(" ")
            conf.setdefault(key.lower(), value)
        return conf

    def _start_master(self) -> None:
        conf = self._effective()
        interactive = _interactive()  # a person can answer a passphrase or password prompt
        self._base += ["-o", f"ControlPath={self._control}", "-o", "ClearAllForwardings=yes",
                       "-o", "ForwardAgent=no", "-o", "ForwardX11=no", "-o", "RequestTTY=no",
                       "-o", "PermitLocalCommand=no"]
        if not interactive:
            self._base += ["-o", "BatchMode=yes"]
        if conf.get("stricthostkeychecking", "ask") not in ("true", "yes", "ask"):
            # the user's ssh_config accepts unknown keys (no, accept-new): never for hostmedic
            self._base += ["-o", "StrictHostKeyChecking=" + ("ask" if interactive else "yes")]
        self._base += ["-o", "UpdateHostKeys=no"]  # nor does it let ssh add keys the host offers
        if conf.get("connecttimeout", "none") == "none":
            self._base += ["-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
        log = os.path.join(self._dir, "master.log")
        limit = None if interactive else CONNECT_TIMEOUT * 3 + SLACK
        with open(log, "wb") as err:  # a file, not a pipe: the backgrounded master keeps it open
            proc = subprocess.Popen([*self._base, "-o", "ControlMaster=yes",
                                     "-o", f"ControlPersist={CONTROL_PERSIST}", "-f", "-N", "--",
                                     self.host], stdin=None if interactive else subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
            try:
                rc = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise SshError(f"cannot reach {self.host}: no answer within {limit:g} s")
        with open(log, "rb") as fh:
            said = fh.read().decode(errors="replace")
        if rc != 0 or not os.path.exists(self._control):
            raise SshError(explain_failure(self.host, said))

    def _session(self, words: Sequence[str], use_sudo: bool) -> list[str]:
        """ssh over the master, running the helper; its only shell string is shlex.join'ed."""
        prefix = ["sudo", "-n", "--"] if use_sudo else []
        return [*self._base, "-o", "ControlMaster=no", "-T", "--", self.host,
                shlex.join([*prefix, "python3", "-c", _BOOT, *words])]

    def _probe(self) -> None:
        """python3 there (and sudo, when asked), or one sentence saying what is missing."""
        proc = subprocess.run(self._session(["probe"], False), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=START_LIMIT)
        try:
            info = json.loads(proc.stdout.decode(errors="replace")) if proc.returncode == 0 else None
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise SshError(explain_failure(self.host, proc.stderr.decode(errors="replace")))
        self.user, self.python = str(info.get("user", "")), list(info.get("python") or [])
        if self.python and tuple(self.python[:2]) < (3, 6):
            raise SshError(f"{self.host} has python {'.'.join(map(str, self.python))}: "
                           "hostmedic needs python3 >= 3.6 there")
        try:
            self._ask({"op": "listdir", "path": "/"}, START_LIMIT)
        except _Lost as err:
            raise SshError(explain_failure(self.host, str(err), sudo=self.sudo, user=self.user))

    def _ask(self, request: dict, limit: float) -> tuple[dict, bytes, bytes]:
        """One request to the helper, started (again) when needed. Raises _Lost with what
        went wrong when the connection or the helper is gone; TimeoutError when the
        helper did not answer in time (it is then stopped; the next call starts another)."""
        if self.broken:
            raise _Lost(self.broken)
        if not os.path.exists(self._control):  # the master is gone: never open a second connection
            self.broken = f"the connection to {self.host} was lost"
            raise _Lost(self.broken)
        if self._helper is None:
            self._helper = _Helper(self._session(["serve"], self.sudo),
                                   os.path.join(self._dir, "helper.log"))
        try:
            return self._helper.ask(request, limit)
        except TimeoutError:
            self._drop_helper()
            raise
        except _Lost:
            helper = self._drop_helper()
            said = helper.said().strip() if helper else ""
            if not os.path.exists(self._control):
                self.broken = f"the connection to {self.host} was lost"
            raise _Lost(said or self.broken or "the helper session ended")

    def _drop_helper(self) -> _Helper | None:
        helper, self._helper = self._helper, None
        if helper is not None:
            helper.stop()
        return helper

    # -- the Source API ---------------------------------------------------------------
    def run(self, argv: Sequence[str], timeout: float | None = None,
            sos_paths: Sequence[str] = ()) -> Result:
        name = " ".join(argv)
        limit = self.timeout if timeout is None else timeout
        try:
            head, out, err = self._ask({"op": "run", "argv": list(argv), "timeout": limit, "max": MAX_READ_BYTES},
                                       limit + SLACK)
        except TimeoutError:
            return Result(TIMEOUT, name, detail=f"no answer within {limit + SLACK:g} s")
        except _Lost as lost:
            return Result(FAILED, name, detail=_one_line(str(lost)))
        text = out[:MAX_READ_BYTES].decode("utf-8", errors="replace")
        status, detail, rc = head.get("status", FAILED), head.get("detail", ""), head.get("rc")
        if status == FAILED and rc is not None:
            err_text = err.decode("utf-8", errors="replace")
            first = next((l.strip() for l in err_text.splitlines() if l.strip()), "")
            status = DENIED if _DENIED_WORDS.search(err_text) else FAILED
            detail = f"exit status {rc}" + (f": {first}" if first else "")
        return Result(status, name, text=text, detail=detail, rc=rc)

    def read(self, path: str, sos_paths: Sequence[str] = ()) -> Result:
        try:
            head, out, _err = self._ask({"op": "read", "path": path, "max": MAX_READ_BYTES},
                                        self.timeout + SLACK)
        except TimeoutError:
            return Result(TIMEOUT, path, detail=f"no answer within {self.timeout + SLACK:g} s")
        except _Lost as lost:
            return Result(FAILED, path, detail=_one_line(str(lost)))
        return Result(head.get("status", FAILED), path, text=out.decode("utf-8", errors="replace"),
                      detail=head.get("detail", ""), rc=head.get("rc"))

    def listdir(self, path: str) -> list[str]:
        try:
            head, out, _err = self._ask({"op": "listdir", "path": path}, self.timeout + SLACK)
            names = json.loads(out.decode("utf-8", errors="replace") or "[]")
        except (TimeoutError, _Lost, ValueError):
            return []
        return [n for n in names if isinstance(n, str)] if head.get("status") == OK else []

    def close(self) -> None:
        self._drop_helper()
        if self._dir is None:
            return
        if os.path.exists(self._control):
            try:
                subprocess.run([*self._base, "-O", "exit", "--", self.host], capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                pass  # ControlPersist ends it soon anyway
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None


def _one_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1][:300] if lines else "no answer"
