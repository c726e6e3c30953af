"""UI test helpers: a real :class:`agent.conversation.ChatAgent` over the real ML-100K index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def build_agent(store: Any, sessions_dir: Path, engine: Any = None, count_tokens: Callable[[str], int] | None = None,
                **settings: Any) -> Any:
    """A ChatAgent over ``store``'s "ml100k" catalog; with ``engine`` the LLM reads the messages (and
    ranks and explains where ``settings`` ask), else the rules and the retrieval order. Sessions go to a SQLite file under ``sessions_dir``."""
    from agent.app import assemble
    from agent.conversation import ChatAgent
    from agent.settings import AgentSettings
    from retrieval.retriever import Retriever

    settings.setdefault("understand_with_llm", engine is not None)  # with an engine, its reading too
    aset = AgentSettings(sessions_url=f"sqlite:///{sessions_dir / 'sessions.db'}", **settings)
    app = assemble(store, Retriever(store, "ml100k"), engine, aset)
    if count_tokens is not None:
        app.pipeline.count_tokens = count_tokens
    return ChatAgent(app)


@pytest.fixture
def make_agent(ml100k_store, tmp_path) -> Callable[..., Any]:
    """Factory: ``make_agent(engine=None, count_tokens=None, **agent_settings)``."""
    return lambda engine=None, **kw: build_agent(ml100k_store, tmp_path, engine, **kw)
