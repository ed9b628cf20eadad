"""Every collector through its real path: a sosreport holding every file the fixtures have,
with some of those files damaged (random, truncated, binary, invalid UTF-8, huge lines,
junk spliced in...). The run gives facts and statuses, never a collector crash, and the
analysis and every report render."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostmedic.engine import analysis as flow
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import SosreportSource
from hostmedic.reports import FORMATS, renderer

from .fuzzkit import DATA, FUZZ_FEW, MUTATIONS, decode, mutate

PACK = load_pack()


def _trees() -> list[Path]:
    roots = [p.parent for p in Path(DATA).rglob("version.txt")]
    return sorted(r for r in roots if (r / "sos_commands").is_dir() or (r / "proc").is_dir())


def _union() -> dict[str, bytes]:
    """One file per path across every fixture sosreport (the first tree that has it wins)."""
    out: dict[str, bytes] = {}
    for tree in _trees():
        for path in sorted(tree.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out.setdefault(str(path.relative_to(tree)), path.read_bytes())
    return out


UNION = _union()
NAMES = sorted(UNION)


@pytest.fixture(scope="module")
def base_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("union") / "sosreport-union-2024-11-21-abcdef"
    for rel, data in UNION.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def _diagnose(tree: Path) -> None:
    with SosreportSource(str(tree)) as src:
        base = flow.collect(src, PACK)
    crashed = [f.fields for f in base.of_kind("collector_status") if "internal error" in f.fields["detail"]]
    assert not crashed, crashed
    analysis = flow.analyse(base, PACK)
    for fmt in FORMATS:
        renderer(fmt).render(analysis, "diagnose --sosreport fuzz")


def test_the_union_tree_itself(base_tree):
    assert len(NAMES) > 60
    _diagnose(base_tree)


damage = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(MUTATIONS + ["binary", "delete"]),
                            st.integers(0, 1 << 30), st.binary(max_size=48)), min_size=1, max_size=12)


@FUZZ_FEW
@given(damage)
def test_damaged_files_never_crash_a_collector(base_tree, tmp_path_factory, changes):
    tree = tmp_path_factory.mktemp("fuzz") / base_tree.name
    shutil.copytree(base_tree, tree)
    for rel, how, pos, blob in changes:
        path = tree / rel
        if how == "delete":
            path.unlink(missing_ok=True)
        elif how == "binary":
            path.write_bytes(os.urandom(pos % 5000) + blob)
        else:
            path.write_bytes(mutate(decode(UNION[rel]), how, pos, blob).encode("utf-8", "surrogatepass"))
    _diagnose(tree)
    shutil.rmtree(tree.parent)


@pytest.mark.parametrize("how", ["truncate", "numbers", "invalid_utf8", "huge_line", "columns", "empty"])
def test_every_file_damaged_at_once(base_tree, tmp_path, how):
    tree = tmp_path / base_tree.name
    for rel, data in UNION.items():
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = decode(data)
        target.write_bytes(mutate(text, how, len(text) // 2 + 7, b"").encode("utf-8", "surrogatepass"))
    _diagnose(tree)
