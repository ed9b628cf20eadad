"""The rule-pack loader on damaged and hostile rule files: never an exception, every problem
names the file (and, where the file is readable YAML, the line and the field); a broken
user rule never takes the built-in pack down with it."""
from __future__ import annotations

import os
import time

from hypothesis import given
from hypothesis import strategies as st

from hostmedic.engine.rulepack import builtin_rules_dir, load_pack, load_rule

from .fuzzkit import FUZZ_FEW, MUTATIONS, decode, mutate

RULE_FILES = sorted(n for n in os.listdir(builtin_rules_dir()) if n.endswith(".yaml"))
BUILTIN = load_pack()


def _read(name: str) -> str:
    with open(os.path.join(builtin_rules_dir(), name), encoding="utf-8") as fh:
        return fh.read()


def _check(path: str) -> None:
    rule, problems = load_rule(path)
    assert (rule is None) == bool(problems)
    for problem in problems:
        assert problem.path == path and str(problem).startswith(path)
        assert problem.message
        if problem.field and problem.field != "(top)":
            assert problem.line is not None, str(problem)


rule_bytes = st.one_of(
    st.builds(lambda n, how, pos, blob: mutate(_read(n), how, pos, blob).encode("utf-8", "surrogatepass"),
              st.sampled_from(RULE_FILES), st.sampled_from(MUTATIONS), st.integers(0, 1 << 30),
              st.binary(max_size=32)),
    st.binary(max_size=3000),
    st.text(max_size=3000).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(lambda n, pos, junk: _read(n).encode()[:pos % 8000] + junk + _read(n).encode()[pos % 8000:],
              st.sampled_from(RULE_FILES), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8)),
)


@FUZZ_FEW
@given(st.sampled_from(RULE_FILES), rule_bytes)
def test_damaged_rule_file_gives_problems_never_an_exception(tmp_path_factory, name, data):
    folder = tmp_path_factory.mktemp("rules")
    path = str(folder / name)
    with open(path, "wb") as fh:
        fh.write(data)
    _check(path)
    pack = load_pack([str(folder)])  # the built-in rules are all still there
    assert {r.id for r in BUILTIN.rules} <= {r.id for r in pack.rules}


def test_truncated_at_every_line_names_file_line_and_field(tmp_path):
    text = _read("nfs-mount-hang.yaml")
    lines = text.splitlines(keepends=True)
    for n in range(0, len(lines), 3):
        path = tmp_path / "nfs-mount-hang.yaml"
        path.write_text("".join(lines[:n]))
        _check(str(path))
        _rule, problems = load_rule(str(path))
        if n and problems:  # a truncated mapping lacks fields: each named, with a line
            assert all(p.line for p in problems), [str(p) for p in problems]


def test_invalid_utf8_names_the_line(tmp_path):
    text = _read("oom-kill.yaml").encode()
    at = text.index(b"\n", len(text) // 2) + 1
    path = tmp_path / "oom-kill.yaml"
    path.write_bytes(text[:at] + b"title: caf\xe9\n" + text[at:])
    _rule, problems = load_rule(str(path))
    assert len(problems) == 1 and "UTF-8" in problems[0].message
    assert problems[0].line == text[:at].count(b"\n") + 1


def test_empty_and_binary_files(tmp_path):
    for name, data in (("empty.yaml", b""), ("zeros.yaml", b"\0" * 4096), ("random.yaml", os.urandom(4096)),
                       ("list.yaml", b"- a\n- b\n"), ("scalar.yaml", b"just text\n")):
        (tmp_path / name).write_bytes(data)
        _check(str(tmp_path / name))
    pack = load_pack([str(tmp_path)])
    assert len(pack.problems) >= 5 and len(pack.rules) == len(BUILTIN.rules)


def test_huge_rule_file_is_refused_quickly(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("id: huge\n" + "# " + "x" * (8 << 20) + "\n")
    started = time.monotonic()
    _rule, problems = load_rule(str(path))
    assert problems and "KiB" in problems[0].message
    assert time.monotonic() - started < 5


def test_yaml_alias_bomb_is_refused_with_its_line(tmp_path):
    """A "billion laughs" file: nine lines that expand to 387 million strings when the schema
    error is formatted or the rule is hashed. Refused before that, in milliseconds."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    lines += ["id: bomb", "title: *a8", "severity: error"]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    _rule, problems = load_rule(str(path))
    assert time.monotonic() - started < 2
    assert problems[0].line == 2 and "alias" in problems[0].message


def test_python_tags_are_refused(tmp_path):
    """Rules are data: a Python object tag is a problem with a line, never a call."""
    text = _read("oom-kill.yaml")
    (tmp_path / "oom-kill.yaml").write_text("!!python/object/apply:os.system ['id']\n" + text)
    _check(str(tmp_path / "oom-kill.yaml"))
    assert load_rule(str(tmp_path / "oom-kill.yaml"))[0] is None
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "oom-kill.yaml").write_text("id: oom-kill\ntitle: !!python/name:os.system\n")
    rule, problems = load_rule(str(evil / "oom-kill.yaml"))
    assert rule is None and problems[0].line


def test_unreadable_entries_in_a_rule_directory(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere.yaml")
    pack = load_pack([str(tmp_path)])
    assert len(pack.rules) == len(BUILTIN.rules)
    assert {p.path for p in pack.problems} == {str(tmp_path / "folder.yaml"), str(tmp_path / "dangling.yaml")}
    assert all("cannot read" in p.message for p in pack.problems)


def test_decode_is_what_sources_do():
    assert decode(b"\xff") == "\ufffd"
