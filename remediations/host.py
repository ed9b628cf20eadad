"""Where a fix acts: a file-system root, the commands it may run, a libvirt connection.

With ``--root DIR`` (like ``systemctl --root``) every file a fix reads or writes, and
hostmedic's own lock, backups and audit log, are taken under DIR, and nothing that needs
the running system (daemon-reload, starting a unit, a live trim) is done: those steps are
shown as skipped, with a note.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Sequence

from hostmedic.engine.sources import MAX_READ_BYTES, communicate_capped

COMMAND_TIMEOUT = 120.0  # seconds; fstrim on a large file system can take a while


class HostError(Exception):
    """The fix cannot even look at its target (no libvirt, no such domain...)."""


@dataclass
class Ran:
    argv: list[str]
    rc: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def why(self) -> str:
        text = (self.err or self.out).strip().splitlines()
        return f"`{' '.join(self.argv)}` exited {self.rc}" + (f": {text[-1]}" if text else "")


@dataclass
class Host:
    root: str = "/"
    libvirt_uri: str = "qemu:///system"
    conn: Any = None  # an open read-write libvirt connection; opened from libvirt_uri when None
    timeout: float = COMMAND_TIMEOUT
    state_root: str | None = None  # where hostmedic's own files go; default: root
    _opened: bool = field(default=False, repr=False)

    @property
    def offline(self) -> bool:
        """A tree, not the running system."""
        return os.path.realpath(self.root) != "/"

    def path(self, path: str) -> str:
        """PATH of the target system, as seen from here."""
        if not self.offline:
            return path
        return os.path.join(os.path.realpath(self.root), path.lstrip("/"))

    def inside(self, path: str) -> bool:
        """Whether PATH (already under root) resolves inside the root: no symlink leads out."""
        if not self.offline:
            return True
        root = os.path.realpath(self.root)
        return os.path.realpath(path).startswith(root + os.sep)

    def state_path(self, *parts: str) -> str:
        """hostmedic's own files (lock, backups, audit), under --root when given."""
        if self.state_root:
            return os.path.join(self.state_root, *parts)
        return self.path(os.path.join("/", *parts))

    def systemd_running(self) -> bool:
        """What systemctl itself checks before talking to the manager."""
        return not self.offline and os.path.isdir("/run/systemd/system")

    def systemctl(self, *args: str) -> list[str]:
        return ["systemctl", "--root", os.path.realpath(self.root), *args] if self.offline \
            else ["systemctl", *args]

    def has(self, program: str) -> bool:
        return shutil.which(program) is not None

    def run(self, argv: Sequence[str]) -> Ran:
        """One command, as an argv list (no shell ever sees it), with a timeout."""
        argv = list(argv)
        try:
            # a session of its own: a timeout kills the command and everything it started
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True,
                                    env={**os.environ, "LC_ALL": "C"})
        except FileNotFoundError:
            return Ran(argv, 127, "", f"{argv[0]}: command not found")
        except PermissionError as err:
            return Ran(argv, 126, "", f"{argv[0]}: {err.strerror}")
        out, err, timed_out, cut = communicate_capped(proc, self.timeout)
        if timed_out:
            return Ran(argv, 124, "", f"no answer within {self.timeout:g} s")
        text, err_text = (b.decode("utf-8", errors="replace") for b in (out, err))
        if cut:
            err_text += f"\n(output cut at {MAX_READ_BYTES >> 20} MiB: the command was stopped there)"
        return Ran(argv, proc.returncode, text, err_text)

    def libvirt(self):
        """The read-write connection the fix uses from plan to verification (the test driver
        keeps its state per connection, so one connection serves the whole run)."""
        if self.conn is None:
            try:
                import libvirt
            except ImportError as err:
                raise HostError("libvirt-python is not installed") from err
            libvirt.registerErrorHandler(lambda *_: None, None)  # errors arrive as exceptions
            try:
                self.conn = libvirt.open(self.libvirt_uri)
            except libvirt.libvirtError as err:
                raise HostError(f"cannot connect to {self.libvirt_uri}: {err.get_error_message()} "
                                "(is libvirtd running, and may this user manage domains?)") from err
            self._opened = True
        return self.conn

    def domain(self, name: str):
        import libvirt
        conn = self.libvirt()
        try:
            return conn.lookupByName(name)
        except libvirt.libvirtError:
            try:
                return conn.lookupByUUIDString(name)
            except libvirt.libvirtError:
                raise HostError(f"no domain {name!r} at {self.libvirt_uri} "
                                "(`virsh list --all` shows the names)") from None

    def close(self) -> None:
        if self._opened and self.conn is not None:
            self.conn.close()
            self.conn, self._opened = None, False
