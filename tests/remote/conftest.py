"""The `lab` fixture: real sshd servers on loopback addresses (see sshlab.py)."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sshlab import SshLab, lab_missing  # noqa: E402


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    why = lab_missing()
    if why:
        pytest.skip(why)
    mp = pytest.MonkeyPatch()
    mp.delenv("SSH_AUTH_SOCK", raising=False)  # only the lab's key is offered
    the_lab = SshLab(tmp_path_factory.mktemp("sshlab"))
    yield the_lab
    the_lab.stop_all()
    mp.undo()
