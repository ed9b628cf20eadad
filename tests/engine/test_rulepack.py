"""The rule-pack loader: schema and semantic errors name the file, line and field."""
import shutil
import subprocess
import sys

from hostmedic.engine.rulepack import builtin_rules_dir, load_pack, load_rule

GOOD = open(f"{builtin_rules_dir()}/nfs-mount-hang.yaml", encoding="utf-8").read()


def _lint(*dirs):
    return subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "rules", "lint", *map(str, dirs)],
                          capture_output=True, text=True)


def test_builtin_pack_lints_clean():
    r = _lint()
    assert r.returncode == 0, r.stdout
    assert "0 problem(s)" in r.stdout


def test_bad_severity_names_file_line_and_field(tmp_path):
    (tmp_path / "nfs-mount-hang.yaml").write_text(GOOD.replace("severity: error", "severity: sever"))
    r = _lint(tmp_path)
    assert r.returncode == 1
    line = GOOD.splitlines().index("severity: error") + 1
    assert f"nfs-mount-hang.yaml:{line}: severity: 'sever' is not one of" in r.stdout


def test_bad_regex_names_the_pattern_line(tmp_path):
    text = GOOD.replace(r"(?P<state>still trying|timed out)", r"(?P<state>still trying|timed out")
    (tmp_path / "nfs-mount-hang.yaml").write_text(text)
    rule, problems = load_rule(str(tmp_path / "nfs-mount-hang.yaml"))
    assert rule is None
    assert problems[0].field == "symptoms[0].pattern" and "bad regex" in problems[0].message
    assert text.splitlines()[problems[0].line - 1].strip().startswith("pattern:")


def test_unknown_alias_and_misspelt_key(tmp_path):
    text = GOOD.replace("after: nr", "after: nx").replace("group_by:", "groupby:")
    (tmp_path / "nfs-mount-hang.yaml").write_text(text)
    _rule, problems = load_rule(str(tmp_path / "nfs-mount-hang.yaml"))
    messages = " | ".join(str(p) for p in problems)
    assert "groupby" in messages and "check the spelling" in messages


def test_yaml_syntax_error_has_a_line(tmp_path):
    (tmp_path / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n")
    _rule, problems = load_rule(str(tmp_path / "broken.yaml"))
    assert problems[0].line and "not valid YAML" in problems[0].message


def test_a_broken_user_rule_is_skipped_and_the_builtin_pack_survives(tmp_path):
    (tmp_path / "mine.yaml").write_text("id: mine\n")
    pack = load_pack([str(tmp_path)])
    assert pack.get("nfs-mount-hang") is not None
    assert any("mine.yaml" in str(p) for p in pack.problems)


def test_alias_reference_is_checked(tmp_path):
    (tmp_path / "nfs-mount-hang.yaml").write_text(GOOD.replace("after: nr", "after: nx"))
    _rule, problems = load_rule(str(tmp_path / "nfs-mount-hang.yaml"))
    assert any("'nx'" in p.message for p in problems)
