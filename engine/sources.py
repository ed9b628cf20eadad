"""Sources: where collectors get command output and file content.

A collector never runs a command or opens a file itself. It asks its Source,
and the Source decides how: run it on this host with a timeout, or read the
file that sos wrote for that command inside a sosreport. A read never raises
for a missing, failing, denied or hung command: it returns a result whose
status says what happened and a hint for the user.
"""
from __future__ import annotations

import errno
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from typing import Sequence

DEFAULT_TIMEOUT = 10.0
MAX_READ_BYTES = 256 * 1024 * 1024  # one file or command output; more is cut
OK, MISSING, FAILED, DENIED, TIMEOUT, ABSENT = "ok", "missing", "failed", "denied", "timeout", "absent"
NOT_APPLICABLE = "not applicable"  # e.g. SMART inside a VM with only virtual disks

_DENIED_WORDS = re.compile(r"permission denied|operation not permitted|must be root|"
                           r"access denied|authentication (?:failed|unavailable)", re.I)


@dataclass
class Result:
    """The output of one command or file read, or why there is none."""

    status: str  # ok | missing | failed | denied | timeout | absent
    name: str  # the command line or path actually read (for provenance)
    text: str = ""
    detail: str = ""  # what went wrong, in one line
    rc: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def lines(self) -> list[str]:
        return self.text.splitlines()


class Source:
    """What every source offers collectors."""

    kind = "abstract"
    live = False  # a running system (commands answer now), not a collected archive
    description = ""

    def run(self, argv: Sequence[str], timeout: float | None = None,
            sos_paths: Sequence[str] = ()) -> Result:
        raise NotImplementedError

    def read(self, path: str, sos_paths: Sequence[str] = ()) -> Result:
        raise NotImplementedError

    def listdir(self, path: str) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode(data: bytes) -> str:
    return data[:MAX_READ_BYTES].decode("utf-8", errors="replace")


class LocalSource(Source):
    """This host: commands run with a timeout, files read directly."""

    kind = "local"
    live = True

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, root: str = "/"):
        self.timeout = timeout
        self.root = root
        self.description = "this host"

    def run(self, argv: Sequence[str], timeout: float | None = None,
            sos_paths: Sequence[str] = ()) -> Result:
        name = " ".join(argv)
        limit = self.timeout if timeout is None else timeout
        if shutil.which(argv[0]) is None:
            return Result(MISSING, name, detail=f"{argv[0]} is not installed")
        try:
            # A new session so that a timeout kills the whole process group.
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True,
                                    env={**os.environ, "LC_ALL": "C.UTF-8", "SYSTEMD_PAGER": "",
                                         "PAGER": "cat", "SYSTEMD_COLORS": "0"})
        except PermissionError as err:
            return Result(DENIED, name, detail=str(err))
        except OSError as err:
            return Result(MISSING if err.errno == errno.ENOENT else FAILED, name, detail=str(err))
        out, err_out, timed_out, cut = communicate_capped(proc, limit)
        if timed_out:
            return Result(TIMEOUT, name, detail=f"no answer within {limit:g} s")
        text, err_text = _decode(out), _decode(err_out)
        if cut:
            return Result(OK, name, text=text, detail=f"output cut at {MAX_READ_BYTES >> 20} MiB "
                          "(the command was stopped there)")
        if proc.returncode != 0:
            first = next((l.strip() for l in err_text.splitlines() if l.strip()), "")
            status = DENIED if _DENIED_WORDS.search(err_text) else FAILED
            return Result(status, name, text=text, rc=proc.returncode,
                          detail=f"exit status {proc.returncode}" + (f": {first}" if first else ""))
        return Result(OK, name, text=text, rc=0)

    def read(self, path: str, sos_paths: Sequence[str] = ()) -> Result:
        full = os.path.join(self.root, path.lstrip("/"))
        try:
            with open(full, "rb") as fh:
                return Result(OK, path, text=_decode(_read_capped(fh)))
        except FileNotFoundError:
            return Result(ABSENT, path, detail="no such file")
        except PermissionError as err:
            return Result(DENIED, path, detail=err.strerror or "permission denied")
        except OSError as err:
            return Result(FAILED, path, detail=err.strerror or str(err))

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(os.path.join(self.root, path.lstrip("/"))))
        except OSError:
            return []


def _read_capped(fh) -> bytes:
    """Read in chunks: /proc and /sys files refuse one huge read (ENOMEM) and
    answer in short reads."""
    chunks, size = [], 0
    while size < MAX_READ_BYTES:
        chunk = fh.read(1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def communicate_capped(proc: subprocess.Popen, limit: float) -> tuple[bytes, bytes, bool, bool]:
    """communicate() that keeps at most MAX_READ_BYTES of output: a command that floods
    (`yes`, a huge journal) is stopped there instead of growing this process without
    bound. Returns (stdout, stderr, timed out, cut)."""
    deadline = time.monotonic() + limit
    keep = {proc.stdout: MAX_READ_BYTES, proc.stderr: 1 << 20}  # stderr: its first lines matter
    chunks: dict = {proc.stdout: [], proc.stderr: []}
    sizes = dict.fromkeys(keep, 0)
    timed_out = cut = False
    with selectors.DefaultSelector() as sel:
        for pipe in keep:
            sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map() and not cut:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                room = keep[key.fileobj] - sizes[key.fileobj]
                if room > 0:
                    chunks[key.fileobj].append(data[:room])
                    sizes[key.fileobj] += min(room, len(data))
                elif key.fileobj is proc.stdout:
                    cut = True
    if timed_out or cut:
        _kill_group(proc)
    try:  # a process stuck in the kernel (hung NFS) may never die: do not wait long for it
        proc.wait(timeout=1 if timed_out or cut else max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        timed_out = not cut
    for pipe in keep:
        pipe.close()
    return b"".join(chunks[proc.stdout]), b"".join(chunks[proc.stderr]), timed_out, cut


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def sos_mangle(argv: Sequence[str]) -> str:
    """The file name sos gives a command's output (sos Plugin._mangle_command)."""
    name = re.sub(r"^/(usr/|)(bin|sbin)/", "", " ".join(argv))
    name = re.sub(r"[^\w\-\.\/]+", "_", name)
    return re.sub(r"/", ".", name).strip(" ._-")[:255]


class SosreportError(Exception):
    """A sosreport could not be opened; the message names the path."""


class SosreportSource(Source):
    """A sosreport folder, or a .tar.xz/.tar.gz/.tar.bz2 read through a private temp dir.

    Command output is looked up by the name sos gives it under sos_commands/<plugin>/;
    files by their path under the report's root. Nothing in the report is modified,
    and no symlink inside it is followed out of its tree.
    """

    kind = "sosreport"
    MAX_UNPACKED = 4 * 1024 ** 3  # bound decompression bombs
    MAX_MEMBER = 1024 ** 3
    MAX_MEMBERS = 500_000  # a big host's sosreport holds tens of thousands
    MAX_SCANNED = 16 * 1024 ** 3  # skipping a member still decompresses it: bound the time too

    def __init__(self, path: str):
        self.path = path
        self.description = f"sosreport {path}"
        self._tmp: str | None = None
        self.problems: list[str] = []
        if os.path.isdir(path):
            top = path
        elif os.path.isfile(path):
            top = self._unpack(path)
        else:
            raise SosreportError(f"{path}: no such sosreport folder or tarball")
        self.root = os.path.realpath(_find_sos_root(top))
        self._commands = self._index_commands()

    def _unpack(self, path: str) -> str:
        self._tmp = tempfile.mkdtemp(prefix="hostmedic-sos-")
        total = scanned = count = 0
        try:
            with tarfile.open(path, "r:*") as tar:
                for member in tar:
                    count, scanned = count + 1, scanned + member.size
                    if count > self.MAX_MEMBERS or scanned > self.MAX_SCANNED:
                        self.problems.append(f"{path}: more than {self.MAX_MEMBERS} members or "
                                             f"{self.MAX_SCANNED >> 30} GiB; the rest was not read")
                        break
                    if not (member.isfile() or member.isdir() or member.issym()):
                        continue
                    if member.isfile():
                        if member.size > self.MAX_MEMBER or total + member.size > self.MAX_UNPACKED:
                            self.problems.append(f"{member.name}: skipped, too large to unpack")
                            continue
                        total += member.size
                    try:
                        tar.extract(member, self._tmp, filter="data")
                    except (tarfile.FilterError, OSError) as err:
                        self.problems.append(f"{member.name}: skipped ({err})")
        except (tarfile.TarError, EOFError, OSError) as err:
            # A truncated tarball still gives what was unpacked before the damage.
            self.problems.append(f"{path}: archive is damaged or truncated ({_one_line(err)}); "
                                 "analysing the part that could be read")
            if not os.listdir(self._tmp):
                self.close()
                raise SosreportError(f"{path}: not a readable sosreport tarball ({_one_line(err)})") from err
        return self._tmp

    def _index_commands(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        base = os.path.join(self.root, "sos_commands")
        if not os.path.isdir(base):
            self.problems.append(f"{self.path}: no sos_commands folder; only plain files are read")
            return index
        for plugin in sorted(os.listdir(base)):
            pdir = os.path.join(base, plugin)
            if not os.path.isdir(pdir) or os.path.islink(pdir):
                continue
            for dirpath, _dirs, files in os.walk(pdir):
                for name in files:
                    rel = os.path.relpath(os.path.join(dirpath, name), self.root)
                    index.setdefault(name, []).append(rel)
        return index

    def _safe(self, rel: str) -> str | None:
        full = os.path.realpath(os.path.join(self.root, rel.lstrip("/")))
        if full != self.root and not full.startswith(self.root + os.sep):
            return None  # a symlink pointing out of the report
        return full

    def _read_rel(self, rel: str, shown: str) -> Result:
        full = self._safe(rel)
        if full is None:
            return Result(DENIED, shown, detail="link points outside the sosreport; not followed")
        try:
            # O_NONBLOCK: a FIFO planted in a report folder must not hang the run.
            fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with open(fd, "rb") as fh:
                mode = os.fstat(fd).st_mode
                if stat.S_ISDIR(mode):
                    return Result(ABSENT, shown, detail="is a folder")
                if not stat.S_ISREG(mode):
                    return Result(FAILED, shown, detail="not a regular file; not read")
                return Result(OK, shown, text=_decode(_read_capped(fh)))
        except FileNotFoundError:
            return Result(ABSENT, shown, detail="not in this sosreport")
        except IsADirectoryError:
            return Result(ABSENT, shown, detail="is a folder")
        except OSError as err:
            return Result(FAILED, shown, detail=err.strerror or str(err))

    def find_command(self, argv: Sequence[str], sos_paths: Sequence[str] = ()) -> str | None:
        for rel in sos_paths:
            if self._safe(rel) and os.path.isfile(self._safe(rel) or ""):
                return rel
        hits = self._commands.get(sos_mangle(argv))
        return hits[0] if hits else None

    def run(self, argv: Sequence[str], timeout: float | None = None,
            sos_paths: Sequence[str] = ()) -> Result:
        rel = self.find_command(argv, sos_paths)
        if rel is None:
            return Result(ABSENT, " ".join(argv), detail="not collected in this sosreport")
        return self._read_rel(rel, rel)

    def read(self, path: str, sos_paths: Sequence[str] = ()) -> Result:
        for rel in [path, *sos_paths]:
            result = self._read_rel(rel, rel.lstrip("/"))
            if result.status != ABSENT:
                return result
        return Result(ABSENT, path.lstrip("/"), detail="not in this sosreport")

    def listdir(self, path: str) -> list[str]:
        full = self._safe(path)
        if full is None or not os.path.isdir(full):
            return []
        return sorted(os.listdir(full))

    def sos_files(self, prefix: str) -> list[str]:
        """Paths of collected command outputs whose file name starts with prefix."""
        return sorted(rel for name, rels in self._commands.items() if name.startswith(prefix)
                      for rel in rels)

    def read_rel(self, rel: str) -> Result:
        return self._read_rel(rel, rel)

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _one_line(err: BaseException) -> str:
    """tarfile lists every compression it tried on lines of their own: one line for users."""
    return "; ".join(part.strip().lstrip("- ") for part in str(err).splitlines() if part.strip())


def _find_sos_root(top: str) -> str:
    """The folder holding sos_commands/ (a tarball has one top-level folder)."""
    for marker in ("sos_commands", "version.txt", "sos_reports"):
        if os.path.exists(os.path.join(top, marker)):
            return top
    entries = [e for e in os.listdir(top) if not e.startswith(".")]
    if len(entries) == 1 and os.path.isdir(os.path.join(top, entries[0])):
        return _find_sos_root(os.path.join(top, entries[0]))
    # Stray members beside the report's folder (a damaged or crafted tarball): the one
    # real folder that holds sos_commands/ is still the report.
    marked = [e for e in entries if not os.path.islink(os.path.join(top, e))
              and os.path.isdir(os.path.join(top, e, "sos_commands"))]
    return os.path.join(top, marked[0]) if len(marked) == 1 else top
