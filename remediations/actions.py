"""The steps a fix is made of: a command, a libvirt call, a file edit, a note.

Each step knows how to show itself exactly (the argv, the API call, the diff), apply
itself, and undo itself. A fix's plan is its list of steps; rollback undoes the steps
that were started, last first.
"""
from __future__ import annotations

import difflib
import os
import shlex
import stat
from typing import Any, Callable, Sequence

from hostmedic.engine.facts import write_atomic

RISKS = ("safe", "disruptive", "destructive")


class StepFailed(Exception):
    """A step could not be applied (or undone); the message says what went wrong."""


def worst(risks) -> str:
    return max(risks, key=RISKS.index, default="safe")


def diff(old: str | None, new: str | None, name: str) -> list[str]:
    lines = difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(),
                                 "/dev/null" if old is None else f"a{name}",
                                 "/dev/null" if new is None else f"b{name}", lineterm="", n=2)
    return list(lines)


class Action:
    kind = "note"
    say = ""
    risk = "safe"
    reversible = True

    def lines(self) -> list[str]:
        """The exact command, call or diff, as shown in the plan."""
        return []

    def stale(self, host) -> str | None:
        """Why the plan no longer fits the system (it changed since), or None."""
        return None

    def apply(self, host, backups) -> None:
        pass

    def undo(self, host) -> None:
        pass

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "say": self.say, "risk": self.risk,
                "reversible": self.reversible, "detail": self.lines()}


class Note(Action):
    """Something the plan does not do, and why (e.g. daemon-reload under --root)."""

    def __init__(self, say: str):
        self.say = say


class Run(Action):
    """A command (argv list), with the command that undoes it, if any."""

    kind = "command"

    def __init__(self, say: str, argv: Sequence[str], undo: Sequence[str] | None = None,
                 risk: str = "safe", ok: Sequence[int] = (0,)):
        self.say, self.argv, self.undo_argv, self.risk = say, list(argv), list(undo or []), risk
        self.ok_codes = tuple(ok)
        self.reversible = bool(undo)
        self.output = ""
        self.rc: int | None = None

    def lines(self) -> list[str]:
        out = [shlex.join(self.argv)]
        if self.undo_argv:
            out.append(f"(undo: {shlex.join(self.undo_argv)})")
        return out

    def apply(self, host, backups) -> None:
        ran = host.run(self.argv)
        self.rc, self.output = ran.rc, (ran.out + ran.err).strip()
        if ran.rc not in self.ok_codes:
            raise StepFailed(ran.why())

    def undo(self, host) -> None:
        if self.undo_argv:
            ran = host.run(self.undo_argv)
            if not ran.ok:
                raise StepFailed(ran.why())


class WriteFile(Action):
    """Replace a file's text atomically (or create it), keeping its mode and owner; the
    commands in `then` run after the write and again after an undo (daemon-reload)."""

    kind = "file"

    def __init__(self, host, shown: str, new: str | None, say: str, mode: int = 0o644,
                 then: Sequence[Sequence[str]] = ()):
        self.shown, self.path, self.new, self.say = shown, host.path(shown), new, say
        self.then = [list(argv) for argv in then]
        self.old, self.mode, self.owner = None, mode, None
        if os.path.lexists(self.path):
            st = os.lstat(self.path)
            if not stat.S_ISREG(st.st_mode):
                raise StepFailed(f"{shown} is not a regular file (a symlink?): edit it by hand")
            try:
                with open(self.path, encoding="utf-8") as fh:
                    self.old = fh.read()
            except UnicodeDecodeError:
                raise StepFailed(f"{shown} is not UTF-8 text: edit it by hand") from None
            self.mode, self.owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
        self.created_dirs: list[str] = []

    def lines(self) -> list[str]:
        out = diff(self.old, self.new, self.shown)
        if self.old is not None and self.new is not None:
            out.append(f"(mode {self.mode:04o} kept)")
        elif self.new is not None:
            out.append(f"(new file, mode {self.mode:04o})")
        return out + [f"then: {shlex.join(argv)}" for argv in self.then]

    def _current(self) -> str | None:
        if not os.path.lexists(self.path):
            return None
        with open(self.path, encoding="utf-8") as fh:
            return fh.read()

    def stale(self, host) -> str | None:
        if not host.inside(self.path):
            return f"{self.shown} leads out of --root (a symlink): edit it by hand"
        if self._current() != self.old:
            return f"{self.shown} changed since the plan was made"
        return None

    def apply(self, host, backups) -> None:
        backups.save_file(self.shown, self.old, self.mode)
        parent = os.path.dirname(self.path)
        missing = []
        while not os.path.isdir(parent):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            os.mkdir(directory, 0o755)
            self.created_dirs.append(directory)
        if self.new is None:
            if os.path.lexists(self.path):
                os.unlink(self.path)
        else:
            uid, gid = self.owner or (None, None)
            write_atomic(self.path, self.new, self.mode, uid, gid)
        self._reload(host)

    def undo(self, host) -> None:
        if self.old is None:
            if os.path.lexists(self.path):
                os.unlink(self.path)
        else:
            uid, gid = self.owner or (None, None)
            write_atomic(self.path, self.old, self.mode, uid, gid)
        for directory in reversed(self.created_dirs):
            if os.path.isdir(directory) and not os.listdir(directory):
                os.rmdir(directory)
        self._reload(host)

    def _reload(self, host) -> None:
        for argv in self.then:
            ran = host.run(argv)
            if not ran.ok:
                raise StepFailed(ran.why())


class DefineDomain(Action):
    """Replace a domain's persistent definition through the libvirt API (virDomainDefineXML)."""

    kind = "api"

    def __init__(self, host, name: str, old: str, new: str, say: str, shown_old: str | None = None):
        self.name, self.old, self.new, self.say = name, old, new, say
        self.shown_old = shown_old or old  # the old XML written the way the new one is

    def lines(self) -> list[str]:
        return ["virDomainDefineXMLFlags(conn, <the new XML>, VIR_DOMAIN_DEFINE_VALIDATE)"
                "   (like `virsh define FILE`); the change:",
                *diff(self.shown_old, self.new, f"/{self.name}.xml")]

    def stale(self, host) -> str | None:
        from hostmedic.remediations import domainxml
        if domainxml.inactive_xml(host.domain(self.name)) != self.old:
            return f"the definition of {self.name} changed since the plan was made"
        return None

    def apply(self, host, backups) -> None:
        import libvirt
        backups.save_text(f"domain-{self.name}.xml", self.old, f"libvirt domain {self.name} "
                          "(persistent definition; restore with `virsh define FILE`)")
        try:
            host.libvirt().defineXMLFlags(self.new, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        except libvirt.libvirtError as err:
            raise StepFailed(f"libvirt refused the new definition: {err.get_error_message()}") from None

    def undo(self, host) -> None:
        import libvirt
        try:
            host.libvirt().defineXML(self.old)
        except libvirt.libvirtError as err:
            raise StepFailed(f"libvirt refused the saved definition: {err.get_error_message()}") from None


class DomainCall(Action):
    """One call on a domain (resume, sendKey, destroy, create); `virsh` shows the equivalent."""

    kind = "api"

    def __init__(self, name: str, say: str, call: str, virsh: Sequence[str],
                 run: Callable[[Any], Any], risk: str = "safe"):
        self.name, self.say, self.call, self.virsh, self.run = name, say, call, list(virsh), run
        self.risk, self.reversible = risk, False

    def lines(self) -> list[str]:
        return [f"{self.call}   (like `{shlex.join(self.virsh)}`)"]

    def apply(self, host, backups) -> None:
        import libvirt
        try:
            self.run(host.domain(self.name))
        except libvirt.libvirtError as err:
            raise StepFailed(f"{self.call} failed: {err.get_error_message()}") from None
