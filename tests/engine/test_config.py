"""Users' own rules override built-in ones by id; suppressions hide a rule (per host)."""
import json
import pathlib
import subprocess
import sys

import pytest

from hostmedic.engine.config import ConfigError, load_config
from hostmedic.engine.rulepack import builtin_rules_dir, load_pack

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
import helpers_journal  # noqa: E402


@pytest.fixture
def journal_dir(tmp_path):
    if helpers_journal.journal_remote() is None:
        pytest.skip("systemd-journal-remote is not installed")
    helpers_journal.build_journal(tmp_path / "j" / "x.journal", helpers_journal.two_boots_export())
    return tmp_path / "j"


def diagnose(*args):
    r = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", *map(str, args), "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    return r, json.loads(r.stdout) if r.stdout.startswith("{") else None


def test_user_rule_overrides_builtin_by_id(tmp_path, journal_dir):
    mine = tmp_path / "rules"
    mine.mkdir()
    text = pathlib.Path(builtin_rules_dir(), "nfs-mount-hang.yaml").read_text()
    (mine / "nfs-mount-hang.yaml").write_text(text.replace("severity: error", "severity: warning"))
    pack = load_pack([str(mine)])
    assert pack.get("nfs-mount-hang").path.startswith(str(mine))
    assert pack.overridden and not pack.problems
    r, doc = diagnose("--journal-dir", journal_dir, "--rules", mine)
    sev = {f["rule"]: f["severity"] for f in doc["findings"]}
    assert sev["nfs-mount-hang"] == "warning"
    assert "rule overridden" in r.stderr


def test_suppression_per_host(tmp_path, journal_dir):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("suppress:\n  - rule: nfs-mount-hang\n    reason: lab NFS server is switched off at night\n")
    _r, doc = diagnose("--journal-dir", journal_dir, "--config", cfg)
    assert "nfs-mount-hang" not in {f["rule"] for f in doc["findings"]}
    assert doc["suppressed"] == [{"rule": "nfs-mount-hang", "severity": "error",
                                  "reason": "lab NFS server is switched off at night"}]
    cfg.write_text("suppress:\n  - rule: nfs-mount-hang\n    hosts: ['some-other-host*']\n")
    _r, doc = diagnose("--journal-dir", journal_dir, "--config", cfg)
    assert "nfs-mount-hang" in {f["rule"] for f in doc["findings"]}


@pytest.mark.parametrize("text,message", [
    ("suppress: [{hosts: [a]}]\n", "suppress[0] needs a 'rule: RULE-ID'"),
    ("supress: []\n", "unknown key(s) supress"),
    ("suppress: [\n", "not valid YAML"),
])
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(str(cfg))
    assert message in str(err.value) and str(cfg) in str(err.value)
    r = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--config", str(cfg), "--facts", "/x"],
                       capture_output=True, text=True)
    assert r.returncode == 3 and "config.yaml" in r.stderr
