"""`diagnose fleet`: collect on every host of an Ansible inventory, analyse here, report once.

    diagnose fleet -i INVENTORY [--forks N] [-o fleet.html] [--limit PATTERN] [--become]

Exit status: the worst finding across the fleet (Nagios: 0, 1 warning, 2 error or
critical); a host that could not be diagnosed makes it at least 1; 3 when no host
could be diagnosed or Ansible could not run.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile

from hostmedic.engine.config import ConfigError, load_config
from hostmedic.engine.facts import write_private_file
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import DEFAULT_TIMEOUT
from hostmedic.fleet import ansible_run, report, zipapp
from hostmedic.reports import fleet_html

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3


class FleetUsage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise FleetUsage(f"{message} (see diagnose fleet --help)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diagnose fleet", description=(
        "Diagnose every host of an Ansible inventory: Ansible ships the collectors (a zipapp of "
        "the standard library only; the hosts need python3, nothing else) and brings the fact "
        "snapshots back, in parallel; the rules run here, and one fleet report links to each "
        "host's runbook."), epilog="Exit: worst finding across the fleet (0, 1, 2); at least 1 "
        "when a host could not be diagnosed; 3 when none could.")
    p.add_argument("-i", "--inventory", required=True, metavar="INVENTORY",
                   help="an Ansible inventory file or folder")
    p.add_argument("--forks", type=int, default=10, help="hosts collected at once (Ansible forks; default 10)")
    p.add_argument("--limit", metavar="PATTERN", help="only these hosts (Ansible's --limit)")
    p.add_argument("--become", action="store_true", help="collect as root (Ansible become, e.g. sudo)")
    p.add_argument("-o", "--output", metavar="FLEET.html", default="fleet.html",
                   help="the fleet report (default fleet.html); FLEET.json and the hosts' runbooks "
                        "in FLEET-hosts/ are written beside it")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds each command may run on a host (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--boots", type=int, default=2, help="how many of the latest boots to read (default 2)")
    p.add_argument("--task-timeout", type=int, default=900,
                   help="seconds the collection may take on one host (default 900)")
    p.add_argument("--rules", metavar="DIR", action="append", default=[], help="an extra rule directory")
    p.add_argument("--config", metavar="FILE", help="configuration file (suppressions; default "
                   "/etc/hostmedic/config.yaml when it exists)")
    return p


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr)


def run(args, command_line: str) -> int:
    if not os.path.exists(args.inventory):
        raise FleetUsage(f"no inventory {args.inventory}")
    if args.forks < 1:
        raise FleetUsage("--forks must be at least 1")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise FleetUsage(f"cannot write {args.output}: its folder does not exist")
    try:
        config = load_config(args.config)
    except ConfigError as err:
        raise FleetUsage(str(err))
    pack = load_pack(config.rule_dirs + args.rules)
    if not pack.rules:
        raise FleetUsage("no usable rule (see diagnose rules lint)")
    work = tempfile.mkdtemp(prefix="hostmedic-fleet-")
    try:
        app = zipapp.build(os.path.join(work, "hostmedic.pyz"),
                           [p.source for p in pack.symptom_patterns()], _version(), pack.version)
        print(f"collecting on the inventory's hosts through Ansible ({args.forks} at a time)...",
              file=sys.stderr)
        runs = ansible_run.run(args.inventory, work, app, forks=args.forks, timeout=args.timeout,
                               boots=args.boots, become=args.become, limit=args.limit,
                               task_timeout=args.task_timeout, progress=_progress)
        results = report.analyse(runs, pack, config, args.output, command_line)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc = report.document(results, report.rule_table(results, pack), args.inventory, command_line)
    json_path = os.path.splitext(args.output)[0] + ".json"
    write_private_file(args.output, fleet_html.render(doc))
    write_private_file(json_path, json.dumps(doc, indent=2, default=str) + "\n")
    sys.stdout.write(report.text(doc))
    print(f"fleet report written to {args.output} (and {json_path})", file=sys.stderr)
    return _exit(doc)


def _exit(doc: dict) -> int:
    if not doc["counts"]["diagnosed"]:
        return EXIT_UNKNOWN
    code = {"critical": EXIT_CRITICAL, "error": EXIT_CRITICAL, "warning": EXIT_WARNING}.get(doc["worst"], EXIT_OK)
    return max(code, EXIT_WARNING) if doc["failed"] else code


def _version() -> str:
    from hostmedic.engine.analysis import tool_version
    return tool_version()


def main(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
        return run(args, shlex.join(["diagnose", "fleet", *argv]))
    except (FleetUsage, ansible_run.FleetError) as err:
        print(f"diagnose fleet: {err}", file=sys.stderr)
        return EXIT_UNKNOWN
