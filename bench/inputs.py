"""Benchmark inputs besides the journal files (journal_input.py): a sosreport whose
journal is sos's `journalctl --no-pager` text, a KVM host's sosreport with 50 domains
and their qemu and console logs, a pack of generated rules, and the rule pack's
patterns as GNU grep -E patterns.
"""
from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import journal_input

REPO = Path(__file__).resolve().parent.parent
HOST_TEMPLATE = REPO / "tests/data/sosreports/healthy-rhel9-host/sosreport"
TEMPLATE_DOMAIN = "app01"


def sos_journal_tree(root: Path, entries: int) -> Path:
    """A sosreport of a guest whose journal is sos_commands/logs/journalctl_--no-pager."""
    logs = root / "sos_commands/logs"
    logs.mkdir(parents=True, exist_ok=True)
    (root / "version.txt").write_text("sosreport: 4.8.1\n")
    with open(logs / "journalctl_--no-pager", "w") as out:
        for chunk in journal_input.short_text(entries):
            out.write(chunk)
    return root


def host_tree(root: Path, domains: int, journal_entries: int) -> Path:
    """A KVM host's sosreport: the healthy RHEL 9 host of the tests with `domains`
    domains (definition, live status, qemu log, console log of a few boots each) and a
    journal of journal_entries entries."""
    shutil.copytree(HOST_TEMPLATE, root, dirs_exist_ok=True)
    qemu_etc, qemu_run, qemu_log = (root / "etc/libvirt/qemu", root / "run/libvirt/qemu",
                                    root / "var/log/libvirt/qemu")
    templates = {
        "etc": (qemu_etc / f"{TEMPLATE_DOMAIN}.xml").read_text(),
        "run": (qemu_run / f"{TEMPLATE_DOMAIN}.xml").read_text(),
        "log": (qemu_log / f"{TEMPLATE_DOMAIN}.log").read_text(),
        "console": (qemu_log / f"{TEMPLATE_DOMAIN}-console.log").read_text(),
    }
    old_uuid = re.search(r"<uuid>([^<]+)</uuid>", templates["etc"])[1]
    for folder in (qemu_etc, qemu_run, qemu_log):
        for f in folder.iterdir():
            if f.is_file():
                f.unlink()
    rows = [" Id   Name    State", "-----------------------"]
    for i in range(domains):
        name = f"vm{i:02d}"
        new_uuid = str(uuid.UUID(int=i + 1))

        def own(text: str) -> str:
            return text.replace(TEMPLATE_DOMAIN, name).replace(old_uuid, new_uuid)
        (qemu_etc / f"{name}.xml").write_text(own(templates["etc"]))
        (qemu_run / f"{name}.xml").write_text(own(templates["run"]))
        (qemu_run / f"{name}.pid").write_text(f"{3000 + i}\n")
        (qemu_log / f"{name}.log").write_text(own(templates["log"]) * 10)  # ten starts
        (qemu_log / f"{name}-console.log").write_text(own(templates["console"]) * 30)  # thirty boots
        rows.append(f" {i + 1:<4} {name:<7} running")
    (root / "sos_commands/virsh/virsh_-r_list_--all").write_text("\n".join(rows) + "\n\n")
    with open(root / "sos_commands/logs/journalctl_--no-pager", "w") as out:
        for chunk in journal_input.short_text(journal_entries, seed=2):
            out.write(chunk)
    list_boots = root / "sos_commands/systemd/journalctl_--list-boots"
    if list_boots.exists():
        list_boots.unlink()  # the template's boots are not this journal's
    return root


RULE = """id: bench-widget-{i:03d}
title: Widget {i} of the bench daemon failed
severity: warning
confidence: medium
summary: "bench daemon widget {i} failed with code {{{{ all('w.code')|join(', ') }}}}"
symptoms:
  - kind: bench_widget_{i:03d}
    pattern: '^widget-{i:03d}: (?P<what>\\w+) failed with code (?P<code>\\d+) after (?P<ms>\\d+) ms$'
when:
  - name: widget {i} failed
    facts:
      - {{as: w, kind: bench_widget_{i:03d}}}
explain: |
  Widget {i} failed.
examples:
  positive:
    - name: one failure
      source: generated for the benchmark
      log: |
        Nov 21 10:00:00 host benchd[12]: widget-{i:03d}: flush failed with code 5 after 12 ms
  negative:
    - name: another widget
      source: generated for the benchmark
      log: |
        Nov 21 10:00:00 host benchd[12]: widget-{j:03d}: flush failed with code 5 after 12 ms
"""


def generated_rules(folder: Path, count: int = 300) -> Path:
    """count rules of the pack's format, each with its own symptom pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"bench-widget-{i:03d}.yaml").write_text(RULE.format(i=i, j=(i + 1) % count + count))
    return folder


_CLASSES = {r"\d": "[0-9]", r"\D": "[^0-9]", r"\s": "[[:space:]]", r"\S": "[^[:space:]]"}
_IN_CLASS = {r"\d": "0-9", r"\s": "[:space:]", r"\w": "[:alnum:]_"}


def to_ere(pattern: str) -> str | None:
    """A Python regex as a GNU grep -E one of the same meaning for finding lines: groups
    lose their names, lazy quantifiers become greedy, (?i) letters become [xX], a
    look-ahead is dropped (a superset), "^" is dropped (a pattern reads the message after
    the syslog prefix, grep the whole line). None when it cannot be said in ERE."""
    out, i, fold, in_class, depth = [], 0, [], False, 0
    pattern = re.sub(r"\(\?!(?:[^()]|\([^()]*\))*\)", "", pattern)  # md's "(?!(?P=up) )"
    if "(?P=" in pattern:
        return None
    global_fold = pattern.startswith("(?i)")
    if global_fold:
        pattern = pattern[4:]
    while i < len(pattern):
        c = pattern[i]
        two = pattern[i:i + 2]
        if in_class:
            if two in _IN_CLASS:
                out.append(_IN_CLASS[two]); i += 2; continue
            if c == "\\":
                nxt = pattern[i + 1]
                out.append("\\\\" if nxt == "\\" else nxt); i += 2; continue  # ERE: no escapes in []
            if c == "]" and out[-1] not in ("[", "[^"):
                in_class = False
            out.append(c); i += 1; continue
        if c == "[":
            in_class = True
            if pattern[i:i + 2] == "[^":
                out.append("[^"); i += 2
            else:
                out.append("["); i += 1
            if i < len(pattern) and pattern[i] == "]":
                out.append("]"); i += 1
            continue
        if two in _CLASSES:
            out.append(_CLASSES[two]); i += 2; continue
        if c == "\\":
            out.append(pattern[i:i + 2]); i += 2; continue
        if pattern.startswith("(?P<", i):
            i = pattern.index(">", i) + 1; out.append("("); fold.append(False); depth += 1; continue
        if pattern.startswith("(?i:", i):
            i += 4; out.append("("); fold.append(True); depth += 1; continue
        if pattern.startswith("(?:", i):
            i += 3; out.append("("); fold.append(False); depth += 1; continue
        if pattern.startswith("(?", i):
            return None
        if c == "(":
            fold.append(False); depth += 1
        elif c == ")" and fold:
            fold.pop()
        elif c in "+*?}" and pattern[i + 1:i + 2] == "?":
            out.append(c); i += 2; continue
        elif c == "^" and (i == 0 or pattern[i - 1] in "(|"):
            i += 1; continue
        if c.isalpha() and (global_fold or any(fold)):
            out.append(f"[{c.lower()}{c.upper()}]"); i += 1; continue
        out.append(c); i += 1
    return "".join(out)


def grep_patterns(pack, path: Path) -> tuple[Path, int, int]:
    """The pack's symptom patterns as a grep -E -f file; (path, written, left out)."""
    lines, skipped = [], 0
    for pat in pack.symptom_patterns():
        ere = to_ere(pat.source)
        if ere is None:
            skipped += 1
        else:
            lines.append(ere)
    path.write_text("\n".join(lines) + "\n")
    return path, len(lines), skipped
