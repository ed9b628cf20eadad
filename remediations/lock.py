"""One apply at a time: an fcntl lock on /run/hostmedic/apply.lock (under --root when given).

The kernel drops the lock when its holder exits, however it exits, so a crashed apply
never leaves a stale lock behind. The holder writes its PID into the file so that the
refusal can name it.
"""
from __future__ import annotations

import fcntl
import os

from hostmedic.remediations.host import HostError

LOCK_FILE = "run/hostmedic/apply.lock"


class Busy(Exception):
    """Another apply holds the lock."""


class ApplyLock:
    def __init__(self, host):
        self.path = host.state_path(LOCK_FILE)
        self.fd: int | None = None

    def __enter__(self) -> "ApplyLock":
        os.makedirs(os.path.dirname(self.path), mode=0o755, exist_ok=True)
        try:  # O_NOFOLLOW: a link planted in a --root tree must not make us truncate its target
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as err:
            raise HostError(f"cannot open the apply lock {self.path}: {err.strerror} "
                            "(a symlink there is never followed)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise Busy(f"another `diagnose fix` is applying a fix (lock {self.path}"
                       + (f" held by pid {holder}" if holder.isdigit() else "")
                       + "): wait for it to finish, then run this again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
