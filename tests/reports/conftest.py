"""Shared report-test helpers: analyses of the example incidents, and a hostile one.

The hostile case is the bundled NFS example with markup planted where a host controls the
text (the host name, an NFS server name, a hung task's name, a journal line) and a user rule
that overrides nfs-mount-hang with references no report may turn into links.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hostmedic.collectors import Options
from hostmedic.engine import analysis as flow
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import SosreportSource

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "nfs-hang-guest"
CASES = sorted(p.parent for p in (REPO / "tests" / "data" / "sosreports").glob("*/expected.yaml"))

HOSTILE_HOST = 'web"><svg/onload=alert(3)>\\x'
HOSTILE_SERVER = "storage01<script>window.__pwned=1;alert(1)</script>"
HOSTILE_TASK = "</style><img/src=x/onerror=alert(2)>"
HOSTILE_LINE = "evil: </textarea>'\"><script>window.__pwned=2</script> ``` | [x](javascript:alert(8))"
HOSTILE_REFS = ["javascript:alert(4)", " JaVaScRiPt:alert(5)", "data:text/html,<script>alert(6)</script>",
                'https://x.example/"onmouseover="alert(7)', "https://example.com/ok"]


def analyse(tree: Path, rule_dirs: list[str] | None = None, command_line: str = "diagnose"):
    pack = load_pack(rule_dirs or [])
    with SosreportSource(str(tree)) as source:
        base = flow.collect(source, pack, Options())
    base.meta["rule_pack_used"] = pack.version
    return flow.analyse(base, pack)


def case_tree(case: Path) -> Path:
    return case / "sosreport" if (case / "sosreport").is_dir() else case


@pytest.fixture(scope="session")
def example_analysis():
    return analyse(EXAMPLE)


@pytest.fixture(scope="session")
def hostile_case(tmp_path_factory) -> tuple[Path, Path]:
    return make_hostile(tmp_path_factory.mktemp("hostile"))


def make_hostile(root: Path) -> tuple[Path, Path]:
    """(sosreport tree, rule dir) with markup in every place a host writes."""
    tree = root / "sosreport"
    shutil.copytree(EXAMPLE, tree)
    (tree / "sos_commands/host/hostname").write_text(HOSTILE_HOST + "\n")
    journal = tree / "sos_commands/logs/journalctl_--no-pager"
    text = journal.read_text().replace("storage01.example.net", HOSTILE_SERVER)
    text = text.replace("INFO: task git:30218", f"INFO: task {HOSTILE_TASK}:30218")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "not responding" in line)
    lines.insert(at, lines[at].split(" kernel: ")[0] + " kernel: nfs: server " + HOSTILE_SERVER +
                 " not responding, still trying " + HOSTILE_LINE)
    journal.write_text("\n".join(lines) + "\n")
    for name in ("etc/fstab", "proc/mounts"):
        path = tree / name
        path.write_text(path.read_text().replace("storage01.example.net", HOSTILE_SERVER))
    rules = root / "rules"
    rules.mkdir()
    rule = yaml.safe_load((REPO / "rules" / "nfs-mount-hang.yaml").read_text())
    rule["references"] = HOSTILE_REFS
    (rules / "nfs-mount-hang.yaml").write_text(yaml.safe_dump(rule, sort_keys=False))
    return tree, rules


@pytest.fixture(scope="session")
def hostile_analysis(hostile_case):
    tree, rules = hostile_case
    return analyse(tree, [str(rules)])
