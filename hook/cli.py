"""`diagnose hook`: the post-reboot hook.

    diagnose hook install [--root DIR] [--keep N] [--webhook URL] [--policy FILE] [--timeout S] [--boots N]
    diagnose hook uninstall [--root DIR]
    diagnose hook status [--root DIR]
    diagnose hook run [--root DIR] [--journal-dir DIR]     what the unit runs after each boot

Exit status: 0 done (for `run`: the diagnosis ran, whatever it found: the findings go to
the journal and the reports, and a failed unit would only add noise); `status` exits 3
when the hook is not installed and enabled; 3 when it could not run.
"""
from __future__ import annotations

import argparse
import sys

from hostmedic.collectors import Options
from hostmedic.engine.config import ConfigError
from hostmedic.engine.sources import DEFAULT_TIMEOUT
from hostmedic.hook import postboot, unit
from hostmedic.hook.policy import PolicyError


class HookUsage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise HookUsage(f"{message} (see diagnose hook --help)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diagnose hook", description=(
        "A systemd unit that diagnoses the previous and the current boot after each boot, keeps "
        "the last reports in /var/lib/hostmedic/reports (HTML and JSON, mode 0600), logs a "
        "one-line summary with HOSTMEDIC_* fields to the journal, can POST the JSON to a webhook, "
        "and applies no fix unless a policy file allows it."))
    sub = p.add_subparsers(dest="action", required=True)
    inst = sub.add_parser("install", help="write and enable the unit")
    uninst = sub.add_parser("uninstall", help="disable and remove the unit (reports are kept)")
    stat = sub.add_parser("status", help="is it installed and enabled, its settings, the last reports")
    run = sub.add_parser("run", help="one run now (what the unit starts after each boot)")
    for sp in (inst, uninst, stat, run):
        sp.add_argument("--root", metavar="DIR", default="/",
                        help="the system tree to work on (default /); with a tree, systemctl --root")
    inst.add_argument("--keep", type=int, default=10, metavar="N", help="reports kept (default 10 runs)")
    inst.add_argument("--webhook", metavar="URL", help="POST each run's JSON report here (http or https)")
    inst.add_argument("--policy", metavar="FILE",
                      help="YAML `allow: [fix-id, ...]`: the only fixes it may apply (default: none)")
    inst.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds each command may run")
    inst.add_argument("--boots", type=int, default=2, help="boots to read (default 2: previous and current)")
    run.add_argument("--settings", metavar="FILE", help="settings file (default ROOT/etc/hostmedic/postboot.yaml)")
    run.add_argument("--journal-dir", metavar="DIR", help="read these journal files instead of this host's journal")
    return p


def main(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
        if args.action == "install":
            if args.keep < 1:
                raise HookUsage("--keep must be at least 1")
            settings = postboot.Settings(keep=args.keep, webhook=postboot.check_webhook(args.webhook),
                                         timeout=args.timeout, boots=args.boots)
            for line in unit.install(args.root, settings, args.policy):
                print(line)
            return 0
        if args.action == "uninstall":
            for line in unit.uninstall(args.root):
                print(line)
            return 0
        if args.action == "status":
            ok, lines = unit.status(args.root)
            for line in lines:
                print(line)
            return 0 if ok else 3
        settings = postboot.load_settings(args.settings or postboot.under(args.root, postboot.SETTINGS))
        options = Options(timeout=settings.timeout, boots=settings.boots, journal_dir=args.journal_dir)
        only = ["journal", "boots"] if args.journal_dir else None
        result = postboot.run(settings, args.root, options, only)
    except (HookUsage, postboot.HookError, PolicyError, ConfigError) as err:
        print(f"diagnose hook: {err}", file=sys.stderr)
        return 3
    if not result.journal:  # no journal here: say it where systemd or the user will see it
        print(result.message)
    for fix in result.fixes:
        print(f"fix {fix['fix']} ({fix['rule']}): {fix['result']}: {fix['message']}")
    if result.webhook and result.webhook != "sent":
        print(f"webhook: {result.webhook}", file=sys.stderr)
    return 0
