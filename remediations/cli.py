"""`diagnose fix`: show a fix's exact plan, and apply it when asked.

    diagnose fix --list
    diagnose fix ID [--domain D] [--disk vda] [--unit U] [--mount M] [settings...]
                    [--apply [--yes] [--allow-disruptive]] [--root DIR] [--libvirt-uri URI]

Without --apply nothing changes: the plan is printed (exit 1 when it would change
something, 0 when the fix is already in place). Exit codes: runner.py and the README.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from hostmedic.remediations import MODULES, runner
from hostmedic.remediations.host import Host
from hostmedic.remediations.target import BadValue, Target, unit_name

TARGET_OPTIONS = {  # option -> Target field, for the check that a fix takes what it is given
    "domain": "domain", "disk": "disks", "unit": "unit", "mount": "mount", "server": "server",
    "stop_timeout": "stop_timeout", "mount_timeout": "mount_timeout", "nofile": "nofile",
    "min_free": "min_free", "automount": "automount", "soft": "soft", "timeo": "timeo",
    "retrans": "retrans", "accept_data_risk": "accept_data_risk", "restart": "restart"}


class FixUsage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise FixUsage(f"{message} (see diagnose fix --help)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diagnose fix", description=(
        "Show the exact plan of a fix (commands, libvirt calls, file diffs) and, with --apply, "
        "apply it: one at a time (lock), with backups, verification, automatic rollback and an "
        "audit record."), epilog="Exit: 0 applied or already in place, 1 dry run with changes "
        "pending, 2 refused, 3 could not run, 4 failed and rolled back, 5 rollback failed too.")
    p.add_argument("id", nargs="?", metavar="ID", help="the fix (see --list)")
    p.add_argument("--list", action="store_true", help="list the fixes with their scope and risk")
    t = p.add_argument_group("what to act on")
    t.add_argument("--domain", metavar="D", help="libvirt domain (name or UUID)")
    t.add_argument("--disk", metavar="TARGET", action="append", help="domain disk by target, e.g. vda (repeatable)")
    t.add_argument("--unit", metavar="U", help="systemd unit (no suffix: .service)")
    t.add_argument("--mount", metavar="M", help="mount point (/mnt/nfs) or mount unit (mnt-nfs.mount)")
    t.add_argument("--server", metavar="S", help="NFS server (nfs-server-check)")
    s = p.add_argument_group("settings")
    s.add_argument("--stop-timeout", metavar="SPAN", help="unit-stop-timeout: TimeoutStopSec (default 30s)")
    s.add_argument("--mount-timeout", metavar="SPAN", help="x-systemd.mount-timeout (default 30s)")
    s.add_argument("--nofile", metavar="N[:M]", help="unit-limit-nofile: soft[:hard] (default 65536:524288)")
    s.add_argument("--min-free", metavar="SIZE", help="libvirt-resume-after-space: free space needed "
                   "under each disk image (default 1G)")
    s.add_argument("--automount", action=argparse.BooleanOptionalAction, default=None,
                   help="nfs-mount-options: x-systemd.automount (default on)")
    s.add_argument("--soft", action="store_true", default=None, help="nfs-mount-options: soft instead of hard "
                   "(needs --accept-data-risk)")
    s.add_argument("--timeo", type=int, metavar="DECISECONDS", help="nfs-mount-options: timeo= (needs --accept-data-risk)")
    s.add_argument("--retrans", type=int, metavar="N", help="nfs-mount-options: retrans= (needs --accept-data-risk)")
    s.add_argument("--accept-data-risk", action="store_true", default=None,
                   help="allow NFS options that can lose writes (soft, timeo, retrans)")
    s.add_argument("--restart", action="store_true", default=None,
                   help="unit-limit-nofile: restart the service (disruptive)")
    a = p.add_argument_group("applying")
    a.add_argument("--apply", action="store_true", help="apply the plan (default: only show it)")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation (automation)")
    a.add_argument("--allow-disruptive", action="store_true",
                   help="allow disruptive steps (restart a service, reboot or destroy a domain)")
    a.add_argument("--root", metavar="DIR", default="/", help="act on the system tree in DIR "
                   "(files, and hostmedic's lock, backups and audit log); live-only steps are skipped")
    a.add_argument("--libvirt-uri", metavar="URI", default="qemu:///system", help="libvirt URI for host fixes "
                   "(read-write; default qemu:///system)")
    a.add_argument("--format", choices=["text", "json"], default="text")
    return p


def target_of(args, fix) -> Target:
    given = {opt: getattr(args, opt) for opt in TARGET_OPTIONS if getattr(args, opt) not in (None, [])}
    takes = {*fix.NEEDS, *fix.TAKES}
    foreign = [opt for opt in given if opt not in takes]
    if foreign:
        raise FixUsage(f"fix {fix.ID} does not use {', '.join('--' + o.replace('_', '-') for o in foreign)}"
                       f" (it takes {', '.join('--' + o.replace('_', '-') for o in sorted(takes)) or 'no options'})")
    if "unit" in given:
        given["unit"] = unit_name(given["unit"])
    return Target(**{TARGET_OPTIONS[opt]: value for opt, value in given.items()})


def list_fixes(fmt: str) -> int:
    rows = []
    for fix_id in sorted(MODULES):
        fix = runner.load(fix_id)
        rows.append({"id": fix.ID, "title": fix.TITLE, "scope": fix.SCOPE, "risk": fix.RISK,
                     "reversible": fix.REVERSIBLE, "needs": ["--" + n for n in fix.NEEDS],
                     "manual": bool(getattr(fix, "MANUAL", False))})
    if fmt == "json":
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        flags = "reversible" if r["reversible"] else "one-way"
        if r["manual"]:
            flags = "check list"
        print(f"{r['id']:<29} {r['scope']:<5} {r['risk']:<11} {flags:<10} "
              f"{' '.join(r['needs']) or '-':<9} {r['title']}")
    return 0


class TerminalUI(runner.Quiet):
    """Prints the plan and the progress, and asks on the terminal."""

    def __init__(self, fmt: str):
        self.out = sys.stdout if fmt == "text" else None

    def _print(self, text: str = "") -> None:
        if self.out is not None:
            print(text, file=self.out)

    def plan(self, fix, target, host, steps) -> None:
        head = ", ".join(f"{k} {v if isinstance(v, str) else ','.join(v)}" for k, v in target.describe().items())
        self._print(f"Fix {fix.ID}: {fix.TITLE}")
        self._print(f"  scope {fix.SCOPE}, risk {fix.RISK}, {'reversible' if fix.REVERSIBLE else 'not reversible'}"
                    + (f"; {head}" if head else "")
                    + (f"; root {os.path.realpath(host.root)}" if host.offline else "")
                    + (f"; libvirt {host.libvirt_uri}" if fix.SCOPE == "host" else ""))
        if getattr(fix, "EFFECT", ""):
            self._print(f"  Takes effect: {fix.EFFECT}")
        if not [s for s in steps if s.kind != "note"]:
            return
        self._print("  Plan:")
        for n, step in enumerate(steps, 1):
            if step.kind == "note":
                self._print(f"    {n}. note: {step.say}")
                continue
            self._print(f"    {n}. {step.say}  [{step.risk}{'' if step.reversible else ', not undoable'}]")
            for line in step.lines():
                self._print(f"         {line}")

    def manual(self, fix, steps) -> None:
        self._print(f"Fix {fix.ID}: {fix.TITLE} (a check list to follow by hand)")
        for n, st in enumerate(steps, 1):
            self._print(f"  {n}. {st['say']}")
            if st.get("command"):
                self._print(f"       {st['command']}")

    def progress(self, text: str) -> None:
        print(f"  ... {text}", file=sys.stderr)

    def confirm(self, fix, target, risk: str) -> bool | None:
        if sys.stdin.isatty():
            tty_in, tty_out, close = sys.stdin, sys.stderr, []
        else:
            try:  # input piped in, but a person at the terminal (as sudo and ssh ask)
                tty_in = open("/dev/tty", encoding="utf-8")
            except OSError:
                return None  # no terminal: only --yes can say yes
            tty_out = open("/dev/tty", "w", encoding="utf-8")
            close = [tty_in, tty_out]
        try:
            if risk == "destructive":
                word = target.name() or fix.ID
                tty_out.write(f"This is destructive and cannot be undone. Type {word} to go on: ")
                tty_out.flush()
                return tty_in.readline().strip() == word
            tty_out.write(f"Apply this {risk} plan? [y/N] ")
            tty_out.flush()
            return tty_in.readline().strip().lower() in ("y", "yes")
        finally:
            for fh in close:
                fh.close()


def main(argv: list[str], conn=None) -> int:
    try:
        args = parser().parse_args(argv)
        if args.list:
            return list_fixes(args.format)
        if not args.id:
            raise FixUsage("give a fix id, or --list to see them")
        try:
            fix = runner.load(args.id)
        except runner.UnknownFix as err:
            raise FixUsage(str(err))
        target = target_of(args, fix)
        if not os.path.isdir(args.root):
            raise FixUsage(f"--root {args.root}: no such directory")
    except (FixUsage, BadValue) as err:
        print(f"diagnose fix: {err}", file=sys.stderr)
        return runner.CANNOT_RUN
    host = Host(root=args.root, libvirt_uri=args.libvirt_uri, conn=conn)
    ui = TerminalUI(args.format)
    outcome = runner.run(fix.ID, target, host, apply=args.apply, yes=args.yes,
                         allow_disruptive=args.allow_disruptive, ui=ui)
    if args.format == "json":
        print(json.dumps(outcome.to_json(), indent=2))
        return outcome.code
    stream = sys.stdout if outcome.code in (runner.APPLIED, runner.DRY_RUN) else sys.stderr
    if outcome.result == "error":
        print(f"diagnose fix: {outcome.message}", file=stream)
        return outcome.code
    print(f"{outcome.result}: {outcome.message}", file=stream)
    for problem in outcome.problems:
        if problem not in outcome.message:
            print(f"  - {problem}", file=stream)
    for note in outcome.notes:
        print(f"  note: {note}", file=stream)
    if outcome.backup:
        print(f"backup: {outcome.backup}", file=stream)
    if outcome.audit:
        print(f"audit: {outcome.audit}" + (" (and the journal)" if outcome.journal else ""), file=stream)
    return outcome.code
