"""The systemd journal: every boot's story, as ``log`` facts, plus one ``journal_boot`` per boot.

Where it reads from, in this order:

* ``--journal-file F`` / ``--journal-dir DIR`` (any source): those journal files, with
  systemd-python (``journal.Reader(files=[...])`` / ``Reader(path=DIR)``).
* a live host (``source.kind == "local"``): its own journal, with systemd-python.
* a sosreport: the raw journal if sos copied it (``--all-logs`` puts /var/log/journal in the
  report), else the text sos saved from ``journalctl``. sos (sos/report/plugins/logs.py,
  ``Plugin.add_journal`` in sos/report/plugins/__init__.py) names those files after the
  command, under sos_commands/logs/:

      journalctl_--no-pager                          all boots ("-- Boot ID --" between them)
      journalctl_--no-pager_--catalog_--boot         this boot, sos 3.6-4.3 (catalog lines "-- ")
      journalctl_--no-pager_--catalog_--boot_-1      the boot before, sos 3.6-4.3
      journalctl_--no-pager_--boot[_-1]              the same from sos 4.4 on (no catalog)
      journalctl_--no-pager_--since_-3days           Debian/COS variants: all boots since then
      journalctl_--all_--this-boot_--no-pager        sos 3.2

  sos >= 4.9 runs the all-boots command with ``--reverse`` and turns the text back with
  its own ``tac``: the boot markers then stand *after* the boot they name. The manifest says
  which command ran, so the markers are read the right way round.
  ``--disk-usage``, ``--list-boots`` and per-unit or ``--output`` variants are not read here.
* any other source (e.g. over SSH), or when systemd-python is not installed: the text of
  ``journalctl --output=short-iso-precise --boot=N`` through the source.

Boots are numbered from the end: 0 is the last boot in the data ("current"), -1 the one
before. ``ctx.options.boots`` says how many of the latest boots are read (default 2).
"""
from __future__ import annotations

import calendar
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from hostmedic.collectors import logtext, sostime
from hostmedic.engine.facts import Provenance
from hostmedic.engine.sources import ABSENT, DENIED, FAILED, MISSING, OK

NAME = "journal"
SYSTEM_DIRS = ("/var/log/journal", "/run/log/journal")

HINT_NO_JOURNAL = ("no journal here (journald not running, or Storage=volatile and the host "
                   "rebooted); point --journal-dir at a copied /var/log/journal")
HINT_NO_MODULE = ("install systemd-python (Debian/Ubuntu: apt install python3-systemd; "
                  "RHEL/Fedora: dnf install python3-systemd) to read journal files directly")
HINT_DENIED = ("run as root, or add this user to the systemd-journal (or adm) group, "
               "to read the system journal")
HINT_CORRUPT = ("the journal file is damaged or not a journal file; `journalctl --file F "
                "--verify` shows where; copy the files again, or read what is left with "
                "--journal-dir on the folder")
HINT_SOS_NONE = ("this sosreport has no journal output (the host may not run journald, or the "
                 "logs plugin was skipped: run `sos report -o logs`); classic log files are read "
                 "by the logfiles collector")

_RAW = lambda value: value  # noqa: E731  (systemd-python gives bytes; we decode, never raise)
_BOOT_MARK = re.compile(r"^-- (?:Boot (?P<id>[0-9a-f]{32})|Reboot) --\s*$")
_CATALOG = re.compile(r"^(?:-- |░░)")  # `journalctl --catalog` notes, C and UTF-8 locales


# --------------------------------------------------------------------------- helpers
def _text(value: Any) -> str | None:
    """A journal field as str: bytes are decoded (bad UTF-8 replaced), a repeated
    field gives its first non-empty value (journalctl shows the first)."""
    if isinstance(value, (list, tuple)):
        value = next((v for v in value if v not in (None, b"", "")), value[0] if value else None)
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _int(value: Any) -> int | None:
    text = _text(value)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _boot_hex(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = text.strip().replace("-", "").lower()
    return text if re.fullmatch(r"[0-9a-f]{32}", text) else None


def entry_to_line(entry: dict[str, Any], offset: int, boot_id: str | None) -> logtext.Line | None:
    """One journal entry (as systemd-python returns it) as a log line; None without MESSAGE
    (journalctl's short output skips those too)."""
    message = _text(entry.get("MESSAGE"))
    if message is None:
        return None
    message = message.rstrip("\n")
    realtime = _int(entry.get("__REALTIME_TIMESTAMP"))
    transport = _text(entry.get("_TRANSPORT"))
    ident = _text(entry.get("SYSLOG_IDENTIFIER"))
    if not ident:
        ident = "kernel" if transport == "kernel" else _text(entry.get("_COMM"))
    pid = _int(entry.get("_PID"))
    if pid is None:
        pid = _int(entry.get("SYSLOG_PID"))
    unit = (_text(entry.get("UNIT")) or _text(entry.get("USER_UNIT"))
            or _text(entry.get("_SYSTEMD_UNIT")))
    fields = {
        "t": realtime / 1e6 if realtime is not None else None,
        "ident": ident,
        "pid": pid,
        "unit": unit,
        "priority": _int(entry.get("PRIORITY")),
        "host": _text(entry.get("_HOSTNAME")),
        "boot": offset,
        "boot_id": _boot_hex(entry.get("_BOOT_ID")) or boot_id,
    }
    return logtext.Line(message, None, fields)  # type: ignore[arg-type]  # no line in a journal


def _add_boot_fact(ctx, origin: str, name: str, boot_id: str | None, offset: int,
                   first_t: float | None, last_t: float | None, read: bool, **extra: Any) -> None:
    fields = {"boot_id": boot_id, "offset": offset, "first_t": first_t, "last_t": last_t,
              "read": read, **extra}
    fields = {k: v for k, v in fields.items() if v is not None}
    ctx.add("journal_boot", fields, Provenance(origin, name, None, first_t, boot_id))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _keep_boots(ctx) -> int:
    try:
        return max(1, int(ctx.options.boots))
    except (TypeError, ValueError):
        return 2


# --------------------------------------------------------------------------- journal files
@dataclass
class Target:
    """Journal files to open with systemd-python."""

    description: str  # provenance name: "journal of this host", "journal files in DIR", ...
    path: str | None = None  # Reader(path=...)
    files: list[str] = field(default_factory=list)  # Reader(files=...)
    dirs: list[str] = field(default_factory=list)  # where the files live, to explain an empty read
    journalctl_args: list[str] = field(default_factory=list)  # the same for the text fallback


def _journal_files_under(dirs: Iterable[str]) -> list[str]:
    found = []
    for top in dirs:
        for dirpath, _dirs, files in os.walk(top):
            found += [os.path.join(dirpath, f) for f in files
                      if f.endswith(".journal") or f.endswith(".journal~")]
    return sorted(found)


def _open_reader(journal_mod, target: Target):
    conv = {key: _RAW for key in journal_mod.DEFAULT_CONVERTERS}
    if target.files:
        return journal_mod.Reader(files=list(target.files), converters=conv)
    if target.path:
        return journal_mod.Reader(path=target.path, converters=conv)
    return journal_mod.Reader(converters=conv)


def _error_status(err: OSError) -> tuple[str, str, str]:
    """(status, detail, hint) for an error opening journal files."""
    what = err.strerror or str(err)
    if isinstance(err, PermissionError):
        return DENIED, f"cannot open the journal: {what}", HINT_DENIED
    if isinstance(err, FileNotFoundError):
        return ABSENT, f"no such file or folder ({what})", "check the --journal-file/--journal-dir path"
    where = f" {err.filename}" if getattr(err, "filename", None) else ""
    return (FAILED, f"cannot read the journal{where}: damaged, truncated or not a journal file "
            f"({what})", HINT_CORRUPT)


def _boot_spans(reader) -> list[tuple[float, float, str, str | None]]:
    """(first_t, last_t, boot_id, host) of every boot in the files, oldest first."""
    spans = []
    for raw in reader.query_unique("_BOOT_ID"):
        boot_id = _boot_hex(raw)
        if boot_id is None:
            continue
        reader.flush_matches()
        reader.add_match(_BOOT_ID=boot_id)
        reader.seek_head()
        first = reader.get_next()
        reader.seek_tail()
        last = reader.get_previous()
        if not first:
            continue
        first_t = _int(first.get("__REALTIME_TIMESTAMP")) or 0
        last_t = _int((last or first).get("__REALTIME_TIMESTAMP")) or first_t
        spans.append((first_t / 1e6, last_t / 1e6, boot_id, _text(first.get("_HOSTNAME"))))
    reader.flush_matches()
    spans.sort()
    return spans


def _raw_entries(reader):
    """Entries as raw bytes fields: systemd-python's converting get_next() is six times
    slower, and entry_to_line decodes only the fields it keeps."""
    if not hasattr(reader, "_get_all"):
        while True:
            entry = reader.get_next()
            if not entry:
                return
            yield entry
    while reader._next():
        entry = reader._get_all()
        entry["__REALTIME_TIMESTAMP"] = reader._get_realtime()
        yield entry


def _tail_from(reader, boot_id: str) -> int | None:
    """The time (microseconds) of the TAIL_LINES-th last story line of a boot: story lines
    from there on are its tail (logtext.StoryWindow). Found through the journal's index."""
    reader.flush_matches()
    reader.add_match(_BOOT_ID=boot_id)
    for ident in sorted(logtext.STORY_IDENTS):
        reader.add_match(SYSLOG_IDENTIFIER=ident)  # one field: any of them
    reader.seek_tail()
    start = None
    for _ in range(logtext.TAIL_LINES):
        if not reader._previous():
            break
        start = reader._get_realtime()
    return start


def _read_boot(ctx, reader, boot_id: str, offset: int, name: str, counter: list[int]) -> None:
    """Add one boot's lines worth keeping. Only MESSAGE, SYSLOG_IDENTIFIER and PRIORITY
    are read to decide; the other fields only of the few lines kept."""
    window = logtext.StoryWindow(_tail_from(reader, boot_id) if hasattr(reader, "_previous") else None)
    reader.flush_matches()
    reader.add_match(_BOOT_ID=boot_id)
    reader.seek_head()
    if not hasattr(reader, "_get"):
        for entry in _raw_entries(reader):
            counter[0] += 1
            line = entry_to_line(entry, offset, boot_id)
            if line is not None:
                logtext.add_log_line(ctx, "journal", line, "journal", name, window=window,
                                     position=_int(entry.get("__REALTIME_TIMESTAMP")))
        return
    get, step, realtime = reader._get, reader._next, reader._get_realtime
    story = logtext.STORY_IDENTS
    while step():
        counter[0] += 1
        try:
            message = get("MESSAGE")
        except KeyError:
            continue  # journalctl's short output skips entries without MESSAGE too
        try:
            ident = get("SYSLOG_IDENTIFIER").decode("utf-8", errors="replace") or None
        except KeyError:
            ident = None
        if ident is not None:
            try:
                priority = int(get("PRIORITY"))
            except (KeyError, ValueError):
                priority = None
            text = message.decode("utf-8", errors="replace").rstrip("\n")
            if not window.wants(ctx, ident, priority, text, realtime() if ident in story else None):
                continue
        entry = reader._get_all()
        entry["__REALTIME_TIMESTAMP"] = realtime()
        line = entry_to_line(entry, offset, boot_id)
        if line is None:
            continue
        if ident is None:  # the identifier comes from _TRANSPORT or _COMM: decide now
            logtext.add_log_line(ctx, "journal", line, "journal", name, window=window,
                                 position=entry["__REALTIME_TIMESTAMP"])
        else:
            window.note(line.fields, line.message)
            logtext.add_log_line(ctx, "journal", line, "journal", name, kept=True)


def read_journal_files(ctx, target: Target, journal_mod, salvage: bool = True) -> bool:
    """Read target with systemd-python. Records statuses; True when entries were read."""
    name = target.description
    try:
        reader = _open_reader(journal_mod, target)
    except OSError as err:
        if len(target.files) > 1 and salvage:
            return _read_salvaging(ctx, target, journal_mod)
        status, detail, hint = _error_status(err)
        ctx.status(NAME, status, detail=detail, hint=hint, name=name)
        return False
    try:
        try:
            spans = _boot_spans(reader)
        except OSError as err:
            status, detail, hint = _error_status(err)
            ctx.status(NAME, status, detail=detail, hint=hint, name=name)
            return False
        unreadable = [f for f in _journal_files_under(target.dirs) if not os.access(f, os.R_OK)]
        if not spans:
            _explain_empty(ctx, target, unreadable)
            return False
        keep = _keep_boots(ctx)
        last = len(spans) - 1
        for i, (first_t, last_t, boot_id, host) in enumerate(spans):
            _add_boot_fact(ctx, "journal", name, boot_id, i - last, first_t, last_t,
                           read=i > last - keep, host=host)
        counter = [0]
        try:
            for i, (_f, _l, boot_id, _h) in enumerate(spans):
                if i > last - keep:
                    _read_boot(ctx, reader, boot_id, i - last, name, counter)
        except OSError as err:  # a file damaged past its header: keep what was read
            ctx.status(NAME, FAILED, detail=f"reading stopped after {counter[0]} entries: "
                       f"{err.strerror or err}", hint=HINT_CORRUPT, name=name)
        entries = counter[0]
        read = min(keep, len(spans))
        detail = f"{_plural(read, 'boot')}, {entries} {'entry' if entries == 1 else 'entries'} read"
        if len(spans) > read:
            detail += f" ({len(spans)} boots in the files; --boots sets how many of the latest are read)"
        hint = ""
        if unreadable:
            detail += f"; {_plural(len(unreadable), 'journal file')} not readable by this user"
            hint = HINT_DENIED
        ctx.status(NAME, OK, detail=detail, hint=hint, name=name)
        return True
    finally:
        reader.close()


def _read_salvaging(ctx, target: Target, journal_mod) -> bool:
    """Several files, and opening them together failed: find the bad ones, read the rest."""
    good = []
    for path in target.files:
        try:
            _open_reader(journal_mod, Target(path, files=[path])).close()
            good.append(path)
        except OSError as err:
            status, detail, hint = _error_status(err)
            ctx.status(NAME, status, detail=detail, hint=hint, name=f"journal file {path}")
    if not good:
        return False
    return read_journal_files(ctx, Target(_describe_files(good), files=good), journal_mod,
                              salvage=False)


def _explain_empty(ctx, target: Target, unreadable: list[str]) -> None:
    files = _journal_files_under(target.dirs)
    name = target.description
    if unreadable:
        ctx.status(NAME, DENIED, detail=f"{_plural(len(unreadable), 'journal file')} in "
                   f"{', '.join(target.dirs)} not readable by this user", hint=HINT_DENIED, name=name)
    elif files or target.files:
        n = len(files) or len(target.files)
        ctx.status(NAME, FAILED, detail=f"{_plural(n, 'journal file')} but no readable entry "
                   "(damaged, truncated, or not journal files)", hint=HINT_CORRUPT, name=name)
    elif target.path and os.path.isdir(os.path.join(target.path, "journal")):
        ctx.status(NAME, ABSENT, detail=f"no journal files directly in {target.path}",
                   hint=f"its journal/ subfolder looks like one: --journal-dir "
                        f"{os.path.join(target.path, 'journal')}", name=name)
    else:
        ctx.status(NAME, ABSENT, detail="no journal files" + (f" in {', '.join(target.dirs)}"
                   if target.dirs else ""), hint=HINT_NO_JOURNAL, name=name)


def _describe_files(files: list[str]) -> str:
    return ("journal file " if len(files) == 1 else "journal files ") + ", ".join(files)


def _explicit_target(opts) -> Target:
    if opts.journal_files:
        files = list(opts.journal_files)
        return Target(_describe_files(files), files=files,
                      journalctl_args=[f"--file={f}" for f in files])
    directory = opts.journal_dir
    return Target(f"journal files in {directory}", path=directory, dirs=[directory],
                  journalctl_args=[f"--directory={directory}"])


def _local_target(source) -> Target:
    root = getattr(source, "root", "/") or "/"
    if os.path.realpath(root) == "/":
        return Target("journal of this host", dirs=[d for d in SYSTEM_DIRS if os.path.isdir(d)])
    dirs = [os.path.join(root, d.lstrip("/")) for d in SYSTEM_DIRS]
    dirs = [d for d in dirs if os.path.isdir(d)]
    return Target(f"journal files in {root}", files=_journal_files_under(dirs), dirs=dirs,
                  journalctl_args=[f"--root={root}"])


def _import_journal() -> Any | None:
    try:
        from systemd import journal as journal_mod  # type: ignore[import-not-found]
    except ImportError:
        return None
    return journal_mod


# --------------------------------------------------------------------------- journalctl text
def clean_journal_text(text: str) -> str:
    """Drop `--catalog` explanations: "-- " lines in the C locale, "░░" lines in UTF-8 ones
    (logtext would take the latter for continuations of the message above)."""
    return "\n".join(l for l in text.splitlines() if _BOOT_MARK.match(l) or not _CATALOG.match(l))


def _markers_after(text: str, lines: list[logtext.Line]) -> dict[int, str | None]:
    """For text whose boot markers follow the boot they name (journalctl --reverse turned
    back by tac): boot offset -> boot id."""
    marks = [(n, m["id"]) for n, raw in enumerate(text.splitlines(), 1)
             for m in [_BOOT_MARK.match(raw)] if m]
    last_line: dict[int, int] = {}
    first_line: dict[int, int] = {}
    for line in lines:
        b = line.fields["boot"]
        last_line[b] = line.lineno
        first_line.setdefault(b, line.lineno)
    ids: dict[int, str | None] = {}
    for b, end in last_line.items():
        nxt = first_line.get(b + 1, 10 ** 12)
        between = [i for n, i in marks if end < n < nxt]
        ids[b] = between[-1] if between else None
    return ids


def _boot_facts_from_lines(ctx, lines: list[logtext.Line], origin: str, name: str,
                           keep: int) -> None:
    spans: dict[int, list] = {}
    for line in lines:
        b = line.fields.get("boot", 0)
        span = spans.setdefault(b, [None, None, line.fields.get("boot_id")])
        t = line.fields.get("t")
        if t is not None:
            span[0] = t if span[0] is None else min(span[0], t)
            span[1] = t if span[1] is None else max(span[1], t)
    for b in sorted(spans):
        first_t, last_t, boot_id = spans[b]
        _add_boot_fact(ctx, origin, name, boot_id, b, first_t, last_t, read=b > -keep)


def _add_text_lines(ctx, lines: list[logtext.Line], origin: str, name: str, keep: int) -> int:
    windows = _text_windows(lines)
    added = 0
    for index, line in enumerate(lines):
        boot = line.fields.get("boot", 0)
        if boot > -keep:
            logtext.add_log_line(ctx, "journal", line, origin, name, window=windows[boot], position=index)
            added += 1
    return added


def _text_windows(lines: list[logtext.Line]) -> dict[int, logtext.StoryWindow]:
    """A StoryWindow per boot, its tail from the TAIL_LINES-th last story line on."""
    tail_from: dict[int, int] = {}
    seen: dict[int, int] = {}
    for index in range(len(lines) - 1, -1, -1):
        fields = lines[index].fields
        boot = fields.get("boot", 0)
        if fields.get("ident") in logtext.STORY_IDENTS and seen.get(boot, 0) < logtext.TAIL_LINES:
            seen[boot] = seen.get(boot, 0) + 1
            tail_from[boot] = index
        tail_from.setdefault(boot, index)
    return {boot: logtext.StoryWindow(start) for boot, start in tail_from.items()}


@dataclass
class SosJournalFiles:
    full: list[str] = field(default_factory=list)
    this_boot: list[str] = field(default_factory=list)
    last_boot: list[str] = field(default_factory=list)


_SKIP_OPTS = {"--disk-usage", "--list-boots", "--unit", "-u", "--identifier", "-t", "--output",
              "-o", "--user-unit", "--field", "-F", "--header", "--verify", "--dmesg", "-k",
              "--grep", "-g", "--priority", "-p", "--reverse", "-r"}


def classify_sos_names(rels: Iterable[str]) -> SosJournalFiles:
    """Sort sos's journalctl outputs into all-boots, this-boot and last-boot files."""
    found = SosJournalFiles()
    for rel in rels:
        base = os.path.basename(rel)
        if not base.startswith("journalctl_"):
            continue
        tokens = base[len("journalctl_"):].split("_")
        if any(t in _SKIP_OPTS for t in tokens):
            continue
        boot = None
        for i, tok in enumerate(tokens):
            if tok in ("--boot", "-b"):
                nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
                boot = nxt if nxt and not nxt.startswith("--") else "0"
            elif tok == "--this-boot":
                boot = "0"
        if boot is None:
            found.full.append(rel)
        elif boot == "0":
            found.this_boot.append(rel)
        elif boot == "-1":
            found.last_boot.append(rel)
    logs_first = lambda rel: (not rel.startswith("sos_commands/logs/"), "--since" in rel, rel)  # noqa: E731
    for group in (found.full, found.this_boot, found.last_boot):
        group.sort(key=logs_first)
    return found


def _sos_manifest(source) -> dict:
    result = source.read("sos_reports/manifest.json")
    if not result.ok:
        return {}
    try:
        data = json.loads(result.text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _sos_version(source) -> tuple[int, ...]:
    result = source.read("version.txt")
    m = re.search(r"sos(?:report| report):\s*(\d{1,9})\.(\d{1,9})", result.text) if result.ok else None
    return (int(m[1]), int(m[2])) if m else ()


def reversed_in_sos(source, rel: str, manifest: dict) -> bool:
    """Did sos run this journalctl with --reverse (and tac its output back)? The manifest
    records the command it ran; without a manifest, sos >= 4.9 did so by default."""
    base = os.path.basename(rel)
    stack: list[Any] = [manifest]
    seen_command = False
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            run = item.get("exec")
            path = item.get("filepath")
            if isinstance(run, str) and run.startswith("journalctl") and isinstance(path, str) \
                    and os.path.basename(path) in (base, base + ".tailed"):
                seen_command = True
                if "--reverse" in run.split():
                    return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    if seen_command:
        return False
    return _sos_version(source) >= (4, 9)


_LIST_BOOT = re.compile(r"^\s*(?P<idx>-?\d+)\s+(?P<id>[0-9a-f]{32})\b(?P<rest>.*)$")
_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)")


def parse_list_boots(text: str) -> dict[int, tuple[str, float | None, float | None]]:
    """`journalctl --list-boots`: offset -> (boot id, first, last). The times are the wall
    clock printed (read as UTC, as logtext reads text time stamps)."""
    boots: dict[int, tuple[str, float | None, float | None]] = {}
    for raw in text.splitlines():
        m = _LIST_BOOT.match(raw)
        if not m:
            continue
        stamps = []
        for s in _STAMP.finditer(m["rest"]):
            try:
                stamps.append(float(calendar.timegm(tuple(int(x) for x in s.groups()) + (0, 0, 0))))
            except (ValueError, OverflowError):
                stamps.append(None)
        first = stamps[0] if stamps else None
        last = stamps[1] if len(stamps) > 1 else None
        boots[int(m["idx"])] = (m["id"], first, last)
    return boots


def collect_sos_text(ctx) -> bool:
    """sos's journalctl text: the all-boots file when it has lines, else the this/last-boot pair.
    Boot ids come from sos_commands/systemd/journalctl_--list-boots when sos saved it."""
    source = ctx.source
    lister: Callable[[str], list[str]] | None = getattr(source, "sos_files", None)
    rels = lister("journalctl") if lister else []
    found = classify_sos_names(rels)
    reference = sostime.collection_time(source)
    keep = _keep_boots(ctx)
    problems: list[str] = []
    chosen: list[tuple[str, list[logtext.Line]]] = []
    for rel in found.full[:1]:
        result = source.read_rel(rel)
        if not result.ok:
            ctx.status(NAME, result, name=rel)
            continue
        text = clean_journal_text(result.text)
        lines = list(logtext.parse_syslog_text(text, reference, "journal"))
        if not lines:
            problems.append(f"{rel} holds no log lines")
            continue
        if reversed_in_sos(source, rel, _sos_manifest(source)):
            ids = _markers_after(text, lines)
            for line in lines:
                line.fields["boot_id"] = ids.get(line.fields["boot"])
        chosen.append((rel, lines))
    if not chosen:
        for offset, group in ((-1, found.last_boot), (0, found.this_boot)):
            if not group:
                continue
            rel = group[0]
            result = source.read_rel(rel)
            if not result.ok:
                ctx.status(NAME, result, name=rel)
                continue
            lines = list(logtext.parse_syslog_text(clean_journal_text(result.text), reference, "journal"))
            for line in lines:
                line.fields["boot"] = offset
            if lines:
                chosen.append((rel, lines))
            else:
                problems.append(f"{rel} holds no log lines")
    if not chosen:
        if problems:
            ctx.status(NAME, ABSENT, detail="; ".join(problems),
                       hint="journalctl found nothing when sos ran (journald not running, or the "
                            "journal was empty)", name="sos_commands/logs")
        else:
            ctx.status(NAME, ABSENT, detail="no journalctl output in this sosreport",
                       hint=HINT_SOS_NONE, name="sos_commands/logs")
        return False

    listed: dict[int, tuple[str, float | None, float | None]] = {}
    list_rel = next((r for r in rels if os.path.basename(r) == "journalctl_--list-boots"), None)
    if list_rel:
        result = source.read_rel(list_rel)
        listed = parse_list_boots(result.text) if result.ok else {}
    in_text: set[int] = set()
    for _rel, lines in chosen:
        for line in lines:
            in_text.add(line.fields["boot"])
            if line.fields["boot"] in listed:
                line.fields["boot_id"] = listed[line.fields["boot"]][0]
    for offset in sorted(set(listed) - in_text):  # boots the text does not reach (size limit)
        boot_id, first_t, last_t = listed[offset]
        _add_boot_fact(ctx, "file", list_rel or "", boot_id, offset, first_t, last_t, read=False)
    total = 0
    for rel, lines in chosen:
        _boot_facts_from_lines(ctx, lines, "file", rel, keep)
        total += _add_text_lines(ctx, lines, "file", rel, keep)
    read = len({b for b in in_text if b > -keep})
    detail = (f"{_plural(read, 'boot')}, {total} lines read from "
              + " and ".join(rel for rel, _l in chosen))
    if len(in_text) > read:
        detail += f" ({len(in_text)} boots in it; --boots sets how many of the latest are read)"
    ctx.status(NAME, OK, detail=detail, name=chosen[-1][0])
    return True


def _sos_binary_target(source) -> Target | None:
    """The raw journal sos copies with --all-logs (var/log/journal/<machine-id>/*.journal)."""
    root = getattr(source, "root", None)
    if not root:
        return None
    files = []
    for top in ("var/log/journal", "run/log/journal"):
        for sub in [""] + source.listdir(top):
            rel = f"{top}/{sub}".rstrip("/")
            for name in source.listdir(rel):
                if name.endswith(".journal") or name.endswith(".journal~"):
                    full = os.path.realpath(os.path.join(root, rel, name))
                    if full.startswith(os.path.realpath(root) + os.sep) and os.path.isfile(full):
                        files.append(full)
    if not files:
        return None
    return Target("journal files in the sosreport's var/log/journal", files=sorted(set(files)))


_NO_DATA = re.compile(r"No journal files were found|is not available|No such boot ID|"
                      r"-- No entries --", re.I)


def collect_journalctl_text(ctx, extra_args: list[str], why: str = "") -> bool:
    """`journalctl` text through the source, one boot at a time (SSH, or no systemd-python)."""
    source = ctx.source
    keep = _keep_boots(ctx)
    timeout = max(60.0, float(getattr(ctx.options, "timeout", 10.0) or 10.0))
    base = ["journalctl", "--no-pager", *extra_args]
    shown = " ".join(base)
    listed = source.run([*base, "--list-boots"], timeout=timeout)
    ids = {offset: boot[0] for offset, boot in parse_list_boots(listed.text).items()}
    if listed.ok and not ids:
        ctx.status(NAME, ABSENT, detail="journalctl lists no boots" + (f" ({why})" if why else ""),
                   hint=HINT_NO_JOURNAL, name=shown)
        return False
    if listed.status in (MISSING, DENIED):
        ctx.status(NAME, listed, hint=HINT_DENIED if listed.status == DENIED else
                   "journalctl is not installed there: no journal to read")
        return False
    reference = sostime.collection_time(source)
    got: list[tuple[int, str, list[logtext.Line]]] = []
    failure = None
    for offset in range(-(keep - 1), 1):
        if ids and offset not in ids:
            continue
        boot = f"--boot={ids.get(offset, offset)}"
        result = source.run([*base, "--output=short-iso-precise", boot], timeout=timeout)
        if result.status == FAILED and "output" in (result.text + result.detail).lower():
            result = source.run([*base, "--output=short-iso", boot], timeout=timeout)  # systemd < 234
        if not result.ok:
            if not _NO_DATA.search(result.text + " " + result.detail):
                failure = result
            continue
        lines = list(logtext.parse_syslog_text(clean_journal_text(result.text), reference, "journal"))
        for line in lines:
            line.fields["boot"] = offset
            line.fields["boot_id"] = ids.get(offset)
        if lines:
            got.append((offset, result.name, lines))
    if not got:
        if failure is not None:
            ctx.status(NAME, failure, hint=HINT_DENIED if failure.status == DENIED
                       else "check that journalctl runs there and can read the journal")
        else:
            ctx.status(NAME, ABSENT, detail="journalctl shows no entries" + (f" ({why})" if why else ""),
                       hint=HINT_NO_JOURNAL, name=shown)
        return False
    for offset in sorted(ids):
        if not any(o == offset for o, _n, _l in got):
            _add_boot_fact(ctx, "command", f"{shown} --list-boots", ids[offset], offset,
                           None, None, read=False)
    total = 0
    for offset, name, lines in got:
        _boot_facts_from_lines(ctx, lines, "command", name, keep)
        total += _add_text_lines(ctx, lines, "command", name, keep)
    detail = f"{_plural(len(got), 'boot')}, {total} lines read from journalctl text"
    if why:
        detail += f" ({why})"
    if failure is not None:
        detail += f"; {failure.name}: {failure.detail}"
    ctx.status(NAME, OK, detail=detail, hint=HINT_NO_MODULE if why else "", name=shown)
    return True


# --------------------------------------------------------------------------- entry point
def collect(ctx) -> None:
    source = ctx.source
    opts = ctx.options
    kind = getattr(source, "kind", "")
    journal_mod = _import_journal()

    if opts.journal_dir or opts.journal_files:
        target = _explicit_target(opts)
    elif kind == "local":
        target = _local_target(source)
    elif kind == "sosreport":
        target = _sos_binary_target(source) if journal_mod is not None else None
        if target is not None and read_journal_files(ctx, target, journal_mod):
            return
        collect_sos_text(ctx)
        return
    else:
        collect_journalctl_text(ctx, [])
        return

    if journal_mod is None:
        if kind == "local" and (source.run(["journalctl", "--version"]).ok):
            collect_journalctl_text(ctx, target.journalctl_args,
                                    why="systemd-python is not installed: no unit or priority")
            return
        ctx.status(NAME, MISSING, detail="systemd-python is not installed", hint=HINT_NO_MODULE,
                   name=target.description)
        return
    read_journal_files(ctx, target, journal_mod)
