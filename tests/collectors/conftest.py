"""Shared helpers for collector tests: a Context around any Source, and the data folder."""
from __future__ import annotations

import os
from typing import Callable

import pytest

from hostmedic.collectors import Context, Options
from hostmedic.engine.facts import FactBase
from hostmedic.engine.sources import Source

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


@pytest.fixture
def data_dir() -> str:
    """tests/data, where the real-format fixtures live."""
    return DATA


@pytest.fixture
def make_ctx() -> Callable[..., Context]:
    """make_ctx(source, interesting=None, **options): a Context with an empty fact base.

    `interesting` tells log collectors which lines a rule would want (default: none);
    other keyword arguments become collector Options (libvirt_uri, timeout, ...)."""
    def make(source: Source, interesting: Callable[[str], bool] | None = None,
             **options) -> Context:
        ctx = Context(source=source, facts=FactBase(), options=Options(**options))
        if interesting is not None:
            ctx.interesting = interesting
        return ctx
    return make
