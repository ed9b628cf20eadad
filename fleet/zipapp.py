"""Build the zipapp shipped to fleet hosts: the collectors and what they import, nothing else.

Built at run time from the installed package (so it is always this hostmedic's
collectors), with the rule pack's log patterns written into its __main__.py.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipapp

from hostmedic import collectors as _collectors
from hostmedic import engine as _engine
from hostmedic import fleet as _fleet

# engine modules the collectors import (stdlib only); the rest of the engine stays home
ENGINE_MODULES = ("__init__.py", "facts.py", "sources.py", "patterns.py")
FLEET_MODULES = ("__init__.py", "remote_collect.py")

MAIN = '''\
import sys
if sys.version_info[:2] < (3, 8):
    sys.stderr.write("hostmedic: python %d.%d is too old: the collectors need python3 >= 3.8\\n"
                     % sys.version_info[:2])
    sys.exit(3)
import json
from hostmedic.fleet.remote_collect import main
PATTERNS = json.loads({patterns!r})
sys.exit(main(PATTERNS, version={version!r}, rule_pack={rule_pack!r}))
'''


def _copy(package, dest: str, names=None) -> None:
    folder = os.path.dirname(os.path.abspath(package.__file__))
    os.makedirs(dest, exist_ok=True)
    for name in sorted(names or os.listdir(folder)):
        if name.endswith(".py"):
            shutil.copyfile(os.path.join(folder, name), os.path.join(dest, name))


def build(path: str, patterns: list[str], version: str = "unknown", rule_pack: str = "") -> str:
    """Write the zipapp to path (mode 0600) and return path."""
    with tempfile.TemporaryDirectory(prefix="hostmedic-zipapp-") as staging:
        top = os.path.join(staging, "hostmedic")
        os.makedirs(top)
        with open(os.path.join(top, "__init__.py"), "w"):  # a regular package: no namespace needed
            pass
        _copy(_engine, os.path.join(top, "engine"), ENGINE_MODULES)
        _copy(_collectors, os.path.join(top, "collectors"))
        _copy(_fleet, os.path.join(top, "fleet"), FLEET_MODULES)
        with open(os.path.join(staging, "__main__.py"), "w", encoding="utf-8") as fh:
            fh.write(MAIN.format(patterns=json.dumps(sorted(set(patterns))), version=version,
                                 rule_pack=rule_pack))
        tmp = path + ".part"
        zipapp.create_archive(staging, tmp, compressed=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
