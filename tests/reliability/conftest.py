"""Fixtures of the reliability tests: a real ChatAgent over the real ML-100K index (shared helper)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.ui.conftest import build_agent


@pytest.fixture
def make_agent(ml100k_store, tmp_path) -> Callable[..., Any]:
    """Factory: ``make_agent(engine=None, **agent_settings)`` with sessions under ``tmp_path``."""
    return lambda engine=None, **kw: build_agent(ml100k_store, tmp_path, engine, **kw)
