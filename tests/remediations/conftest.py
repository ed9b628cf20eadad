"""Fixtures for the remediation tests (helpers: fixkit.py)."""
from __future__ import annotations

import pytest

from fixkit import TEST_URI, make_tree


@pytest.fixture
def tree(tmp_path):
    """A guest's tree to fix with --root: its fstab and unit files."""
    return make_tree(tmp_path)


@pytest.fixture
def conn():
    """One read-write connection to libvirt's test driver: its state lives as long as it."""
    libvirt = pytest.importorskip("libvirt")
    libvirt.registerErrorHandler(lambda *_: None, None)
    c = libvirt.open(TEST_URI)
    yield c
    c.close()
