"""The `diagnose` command.

    diagnose [SOURCE] [--format text|json|html|markdown|prometheus] [-o FILE] [--report FILE.html]
    diagnose collect [SOURCE] -o facts.json             save a fact snapshot
    diagnose rules list | show ID | lint [DIR...] | test [ID...]
    diagnose fix --list | ID [--domain D|--unit U|--mount M...] [--apply]   show or apply a fix
    diagnose hook install | uninstall | status | run      the post-reboot hook (systemd)
    diagnose fleet -i INVENTORY [--forks N] [-o fleet.html]   many hosts through Ansible

SOURCE is this host (default), --host NAME (over SSH), --sosreport PATH (folder or
tarball) or --facts SNAPSHOT.json. Exit status follows the Nagios plugin convention:
0 nothing at warning or above, 1 warning, 2 error or critical, 3 the diagnosis
itself could not run.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

import yaml

from hostmedic.collectors import Options
from hostmedic.engine import analysis as flow
from hostmedic.engine.config import Config, ConfigError, load_config
from hostmedic.engine.facts import FactBase, SnapshotError, write_private_file
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import DEFAULT_TIMEOUT, LocalSource, SosreportError, SosreportSource
from hostmedic.reports import FORMATS, renderer

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3


class UsageError(Exception):
    """The diagnosis cannot run; the message says why and what to do."""


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3 ("could not run"), not argparse's 2, which means critical here."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _source_args(p: argparse.ArgumentParser, snapshot: bool = True) -> None:
    g = p.add_argument_group("where the evidence comes from (default: this host)")
    g.add_argument("--sosreport", metavar="PATH", help="a sosreport folder or .tar.xz/.tar.gz (read only)")
    if snapshot:
        g.add_argument("--facts", metavar="SNAPSHOT", help="a fact snapshot saved by `diagnose collect`")
    g.add_argument("--host", metavar="NAME", help="a remote host over SSH (as `ssh NAME` reaches it; "
                   "needs python3 there, nothing else of ours)")
    g.add_argument("--sudo", action="store_true", help="with --host: read as root through `sudo -n`")
    g.add_argument("--ssh-config", metavar="FILE", default=os.environ.get("HOSTMEDIC_SSH_CONFIG"),
                   help="with --host: ssh configuration file (ssh -F; default $HOSTMEDIC_SSH_CONFIG, "
                        "else ssh's own)")
    g.add_argument("--ssh-option", metavar="KEY=VALUE", action="append", default=[],
                   help="with --host: an ssh option (ssh -o; repeatable)")
    g.add_argument("--journal-dir", metavar="DIR", help="read journal files from DIR (e.g. a copied /var/log/journal)")
    g.add_argument("--journal-file", metavar="FILE", action="append", default=[],
                   help="read this journal file (repeatable)")
    g.add_argument("--libvirt-uri", default="qemu:///system", help="libvirt URI (read-only connection)")
    g.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds each command may run (default {DEFAULT_TIMEOUT:g})")
    g.add_argument("--boots", type=int, default=2, help="how many of the latest boots to read (default 2)")
    p.add_argument("--rules", metavar="DIR", action="append", default=[],
                   help="an extra rule directory (repeatable); its rules override built-in ones by id")
    p.add_argument("--config", metavar="FILE",
                   help="configuration file (default /etc/hostmedic/config.yaml when it exists)")
    p.add_argument("--no-redact", action="store_true",
                   help="keep passwords, tokens, keys and connection strings found in the evidence "
                        "(masked by default in reports and snapshots)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diagnose", description=(
        "Diagnose a Linux VM or KVM host after an incident: collect the evidence, match it "
        "against the rule pack, explain the root cause and propose the fix."),
        epilog="More: `diagnose collect --help`, `diagnose rules --help`.")
    _source_args(p)
    p.add_argument("--format", choices=list(FORMATS), default="text",
                   help="text (default), json, html (one self-contained file), markdown (tickets, chat), "
                        "prometheus (node_exporter textfile collector)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of the terminal")
    p.add_argument("--report", metavar="FILE.html", help="also write the HTML report to FILE.html")
    return p


def _collect_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diagnose collect",
                                description="Collect facts and save them as a JSON snapshot.")
    _source_args(p, snapshot=False)
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the snapshot file to write")
    return p


def _rules_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diagnose rules", description="Inspect, lint and test the rule pack.")
    p.add_argument("--rules", metavar="DIR", action="append", default=[], help="an extra rule directory")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="list the rules")
    show = sub.add_parser("show", help="show one rule")
    show.add_argument("id")
    lint = sub.add_parser("lint", help="validate rule files (default: the built-in pack)")
    lint.add_argument("dirs", nargs="*", metavar="DIR")
    test = sub.add_parser("test", help="run every rule's positive and negative examples")
    test.add_argument("ids", nargs="*", metavar="ID")
    return p


def _options(args) -> Options:
    return Options(timeout=args.timeout, libvirt_uri=args.libvirt_uri, journal_dir=args.journal_dir,
                   journal_files=list(args.journal_file), boots=args.boots)


def _open_source(args):
    if args.sosreport:
        try:
            return SosreportSource(args.sosreport)
        except SosreportError as err:
            raise UsageError(f"{err}. Give a sosreport folder or a .tar.xz/.tar.gz made by `sos report`.")
    if args.host:
        return _open_ssh(args)
    if args.sudo or args.ssh_option:
        raise UsageError("--sudo and --ssh-option go with --host")
    return LocalSource(timeout=args.timeout)


def _open_ssh(args):
    from hostmedic.engine.ssh_source import SshError, SshSource
    if args.sosreport or args.journal_dir or args.journal_file:
        raise UsageError("--host reads that host's own journal and files: leave out "
                         "--sosreport, --journal-dir and --journal-file")
    try:
        return SshSource(args.host, timeout=args.timeout, sudo=args.sudo, config=args.ssh_config,
                         options=args.ssh_option)
    except SshError as err:
        raise UsageError(str(err))


def _only(args) -> list[str] | None:
    """Copied journal files come from another host (or another root): read only them,
    so that this machine's mounts, units and domains are not mixed into their story."""
    if not args.sosreport and (args.journal_dir or args.journal_file):
        return ["journal", "boots"]
    return None


def _config(args) -> Config:
    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as err:
        raise UsageError(str(err))


def _pack(args, out):
    pack = load_pack(_config(args).rule_dirs + args.rules)
    for note in pack.overridden:
        print(f"note: rule overridden: {note}", file=sys.stderr)
    for problem in pack.problems:
        print(f"warning: rule skipped: {problem}", file=sys.stderr)
    if not pack.rules:
        raise UsageError("no usable rule: the rule pack is empty or every rule is broken "
                         "(see `diagnose rules lint`)")
    return pack


def _exit_status(analysis) -> int:
    worst = analysis.worst
    if worst in ("critical", "error"):
        return EXIT_CRITICAL
    return EXIT_WARNING if worst == "warning" else EXIT_OK


def cmd_diagnose(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    for path in (args.output, args.report):
        if path:
            _check_output(path, args)
    pack = _pack(args, sys.stderr)
    if args.facts:
        if args.sosreport or args.host:
            raise UsageError("give either --facts or --sosreport/--host, not both")
        try:
            base = FactBase.load(args.facts)
        except SnapshotError as err:
            raise UsageError(str(err))
    else:
        with _open_source(args) as source:
            base = flow.collect(source, pack, _options(args), _only(args), redact=not args.no_redact)
    base.meta["rule_pack_used"] = pack.version
    command_line = shlex.join(["diagnose", *argv])
    try:
        result = flow.analyse(base, pack, redact=not args.no_redact)
        result.suppress(_config(args))
        report = renderer(args.format).render(result, command_line)
    except (TypeError, ValueError, AttributeError, KeyError) as err:
        if not args.facts:
            raise
        raise UsageError(f"{args.facts}: a fact holds a value of the wrong type ({type(err).__name__}: "
                         f"{err}); was the snapshot edited? Make a new one with `diagnose collect`")
    if args.output:
        _write_report(args.output, report)
    else:
        sys.stdout.write(report)
    if args.report:
        _write_report(args.report, renderer("html").render(result, command_line))
    return _exit_status(result)


def _check_output(path: str, args) -> None:
    """Fail now, not after a long collection; and never write over what was given to read."""
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise UsageError(f"cannot write {path}: its folder does not exist")
    given = [getattr(args, "sosreport", None), getattr(args, "facts", None), args.journal_dir,
             *args.journal_file, getattr(args, "config", None), *args.rules]
    out = os.path.realpath(path)
    for item in filter(None, given):
        real = os.path.realpath(item)
        if out == real or out.startswith(real.rstrip(os.sep) + os.sep):
            raise UsageError(f"will not write {path}: it is {item} or inside it, which was given "
                             "to read (inputs are never modified)")


def _write_report(path: str, text: str) -> None:
    try:
        write_private_file(path, text)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}")
    print(f"report written to {path}", file=sys.stderr)


def cmd_collect(argv: list[str]) -> int:
    args = _collect_parser().parse_args(argv)
    _check_output(args.output, args)
    pack = _pack(args, sys.stderr)
    progress = _show_progress if sys.stderr.isatty() else None
    with _open_source(args) as source:
        base = flow.collect(source, pack, _options(args), _only(args), progress,
                            redact=not args.no_redact)
    base.save(args.output)
    problems = [s for s in base.of_kind("collector_status") if s.fields["status"] != "ok"]
    print(f"{len(base.facts)} facts saved to {args.output}"
          + (f" ({len(problems)} collector problem(s); see the report)" if problems else ""), file=sys.stderr)
    return EXIT_OK


def _show_progress(name: str, seconds: float, statuses: list) -> None:
    """One line per collector on a terminal: what it read, how long it took."""
    worst = next((s.fields["status"] for s in statuses if s.fields["status"] != "ok"), "ok")
    print(f"  {name:<14} {seconds:6.2f} s  {worst}", file=sys.stderr)


def cmd_rules(argv: list[str]) -> int:
    args = _rules_parser().parse_args(argv)
    if args.action == "lint":
        pack = load_pack(args.dirs, builtin=not args.dirs) if args.dirs else load_pack(args.rules)
        for problem in pack.problems:
            print(problem)
        print(f"{len(pack.rules)} rule(s) valid, {len(pack.problems)} problem(s)")
        return 1 if pack.problems else 0
    pack = load_pack(args.rules)
    for problem in pack.problems:
        print(f"warning: rule skipped: {problem}", file=sys.stderr)
    if args.action == "list":
        for rule in sorted(pack.rules, key=lambda r: r.id):
            print(f"{rule.id:<32} {rule.severity:<8} {rule.title}")
        return 0
    if args.action == "show":
        rule = pack.get(args.id)
        if rule is None:
            print(f"no rule {args.id!r}; `diagnose rules list` shows the ids", file=sys.stderr)
            return EXIT_UNKNOWN
        print(f"# {rule.path}")
        print(yaml.safe_dump(rule.data, sort_keys=False, allow_unicode=True, width=100))
        return 0
    from hostmedic.engine.ruletest import run_examples
    unknown = [i for i in args.ids if not pack.get(i)]
    if unknown:
        print(f"no rule {', '.join(unknown)}; `diagnose rules list` shows the ids", file=sys.stderr)
        return EXIT_UNKNOWN
    results = run_examples(pack, args.ids or None)
    failed = [r for r in results if not r.passed]
    for r in results:
        if not r.passed:
            print(f"FAIL {r.rule} {r.polarity} example {r.name!r}: fired {r.fired or 'nothing'}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or pack.problems else 0


def cmd_fix(argv: list[str]) -> int:
    """Remediations have their own options and exit codes (remediations/cli.py)."""
    from hostmedic.remediations.cli import main as fix_main
    return fix_main(argv)


def cmd_hook(argv: list[str]) -> int:
    """The post-reboot hook has its own options (hook/cli.py)."""
    from hostmedic.hook.cli import main as hook_main
    return hook_main(argv)


def cmd_fleet(argv: list[str]) -> int:
    """Many hosts through Ansible (fleet/cli.py)."""
    from hostmedic.fleet.cli import main as fleet_main
    return fleet_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"collect": cmd_collect, "rules": cmd_rules, "fix": cmd_fix, "hook": cmd_hook,
                "fleet": cmd_fleet}
    try:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        return cmd_diagnose(argv)
    except UsageError as err:
        print(f"diagnose: {err}", file=sys.stderr)
        return EXIT_UNKNOWN
    except KeyboardInterrupt:
        print("diagnose: interrupted", file=sys.stderr)
        return EXIT_UNKNOWN
    except Exception as err:  # a bug: one clear line, the traceback only on request
        if os.environ.get("HOSTMEDIC_DEBUG"):
            raise
        print(f"diagnose: internal error: {type(err).__name__}: {err} "
              "(set HOSTMEDIC_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return EXIT_UNKNOWN


if __name__ == "__main__":
    sys.exit(main())
