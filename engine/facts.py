"""Facts and the fact base.

A fact is plain data: a kind, its fields, and where it came from (provenance).
The fact base holds every fact of one run plus the metadata of the source, and
saves to / loads from a versioned JSON snapshot, so that analysing a snapshot
replays exactly what analysing its source did.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

SNAPSHOT_FORMAT = "hostmedic-facts"
SNAPSHOT_VERSION = 1


@dataclass
class Provenance:
    """Where a fact came from: a command, a file or a journal, and where in it."""

    origin: str  # "command" | "file" | "journal" | "api" | "derived"
    name: str  # command line, file path, journal description or API call
    line: int | None = None  # 1-based line in the output or file
    time: float | None = None  # epoch seconds of the event, when known
    boot: str | None = None  # boot id, when known

    def describe(self) -> str:
        where = self.name
        if self.line is not None:
            where += f":{self.line}"
        return where


@dataclass
class Fact:
    kind: str
    fields: dict[str, Any]
    source: Provenance
    id: int = 0  # set by the fact base; unique within one run

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "fields": self.fields, "source": vars(self.source)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Fact":
        return cls(kind=data["kind"], fields=dict(data.get("fields") or {}),
                   source=Provenance(**data["source"]), id=int(data.get("id", 0)))


@dataclass
class FactBase:
    """All facts of one run, in the order they were collected."""

    meta: dict[str, Any] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)

    def add(self, kind: str, fields: dict[str, Any], source: Provenance) -> Fact:
        fact = Fact(kind=kind, fields=fields, source=source, id=len(self.facts) + 1)
        self.facts.append(fact)
        return fact

    def extend(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            self.add(fact.kind, fact.fields, fact.source)

    def of_kind(self, *kinds: str) -> Iterator[Fact]:
        wanted = set(kinds)
        return (f for f in self.facts if f.kind in wanted)

    def status(self, collector: str, status: str, detail: str = "", hint: str = "",
               name: str = "") -> Fact:
        """Record how a collector (or one of its reads) went: ok, missing, failed,
        denied, timeout or absent. Every report lists these."""
        return self.add("collector_status", {
            "collector": collector, "status": status, "detail": detail, "hint": hint, "what": name,
        }, Provenance("derived", collector))

    # -- snapshots ---------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "meta": self.meta,
                "facts": [f.to_json() for f in self.facts]}

    def save(self, path: str) -> None:
        # One fact a line: diffable and greppable, without the cost of full indentation.
        doc = self.to_json()
        facts = doc.pop("facts")
        head = json.dumps(doc, sort_keys=True)[:-1]
        body = ",\n".join(json.dumps(f, ensure_ascii=False) for f in facts)
        write_private_file(path, f'{head}, "facts": [\n{body}\n]}}\n')

    @classmethod
    def load(cls, path: str) -> "FactBase":
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except OSError as err:
            raise SnapshotError(f"{path}: cannot read the snapshot: {err.strerror}") from err
        except (ValueError, RecursionError) as err:  # bad JSON or UTF-8, a 5000-digit number, deep nesting
            raise SnapshotError(f"{path}: not a JSON fact snapshot ({str(err)[:200]}); "
                                "make one with `diagnose collect -o FILE`") from err
        if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(f"{path}: not a hostmedic fact snapshot "
                                "(no \"format\": \"hostmedic-facts\" at the top)")
        if data.get("version") != SNAPSHOT_VERSION:
            raise SnapshotError(f"{path}: snapshot version {data.get('version')!r} is not "
                                f"supported (this hostmedic reads version {SNAPSHOT_VERSION})")
        if not isinstance(data.get("meta") or {}, dict) or not isinstance(data.get("facts") or [], list):
            raise SnapshotError(f"{path}: malformed snapshot (\"meta\" must be an object, "
                                "\"facts\" a list)")
        base = cls(meta=dict(data.get("meta") or {}))
        for i, item in enumerate(data.get("facts") or [], 1):
            try:
                fact = Fact.from_json(item)
                if not isinstance(fact.kind, str) or not all(isinstance(k, str) for k in fact.fields):
                    raise TypeError("kind and field names must be text")
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                raise SnapshotError(f"{path}: fact #{i} is malformed ({err})") from err
            base.facts.append(fact)
        return base


class SnapshotError(Exception):
    """A fact snapshot could not be read; the message names the file."""


def write_private_file(path: str, text: str) -> None:
    """Write atomically (temp file, fsync, rename) with mode 0600."""
    write_atomic(path, text, 0o600)


def write_atomic(path: str, text: str, mode: int, uid: int | None = None, gid: int | None = None) -> None:
    """Temp file in the same directory, fsync, mode (and owner) set, rename over PATH,
    then fsync the directory so that the rename itself survives a crash."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".hostmedic-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            if uid is not None and os.geteuid() == 0:
                os.fchown(fh.fileno(), uid, gid if gid is not None else -1)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
