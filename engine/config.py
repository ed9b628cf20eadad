"""The user's configuration: extra rule directories and suppressions.

    # /etc/hostmedic/config.yaml (or --config FILE)
    rules: [/srv/hostmedic/rules]        # more rule directories
    suppress:
      - rule: failed-units               # a rule id
        hosts: ["lab-*"]                 # optional: only on these hosts (shell patterns)
        reason: known noise on lab hosts  # shown in the report
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

SYSTEM_CONFIG = "/etc/hostmedic/config.yaml"
SYSTEM_RULES_DIR = "/etc/hostmedic/rules.d"


class ConfigError(Exception):
    """The configuration file is unusable; the message names the file and the problem."""


@dataclass
class Suppression:
    rule: str
    hosts: list[str] = field(default_factory=list)
    reason: str = ""

    def applies(self, rule: str, host: str) -> bool:
        return rule == self.rule and (not self.hosts or any(fnmatch.fnmatch(host, h) for h in self.hosts))


@dataclass
class Config:
    path: str | None = None
    rule_dirs: list[str] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)

    def suppressed(self, rule: str, host: str) -> Suppression | None:
        return next((s for s in self.suppressions if s.applies(rule, host)), None)


def load_config(path: str | None) -> Config:
    """The named file, else the system one if it exists, else an empty configuration."""
    if path is None:
        if not os.path.exists(SYSTEM_CONFIG):
            return Config(rule_dirs=[SYSTEM_RULES_DIR] if os.path.isdir(SYSTEM_RULES_DIR) else [])
        path = SYSTEM_CONFIG
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the configuration: {err.strerror}") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise ConfigError(f"{where}: not valid YAML: {getattr(err, 'problem', err)}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'rules' and/or 'suppress'")
    unknown = set(data) - {"rules", "suppress"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
                          "known: rules, suppress")
    config = Config(path=path, rule_dirs=[SYSTEM_RULES_DIR] if os.path.isdir(SYSTEM_RULES_DIR) else [])
    config.rule_dirs += [str(d) for d in _list(data.get("rules"), path, "rules")]
    for i, item in enumerate(_list(data.get("suppress"), path, "suppress")):
        if not isinstance(item, dict) or not isinstance(item.get("rule"), str):
            raise ConfigError(f"{path}: suppress[{i}] needs a 'rule: RULE-ID'")
        config.suppressions.append(Suppression(item["rule"], [str(h) for h in _list(item.get("hosts"), path,
                                                                                  f"suppress[{i}].hosts")],
                                               str(item.get("reason", ""))))
    return config


def _list(value: Any, path: str, key: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{path}: '{key}' must be a list")
    return value
