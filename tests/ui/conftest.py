"""UI test helpers: a real :class:`agent.conversation.ChatAgent` over the real ML-100K index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def build_agent(store: Any, sessions_dir: Path, engine: Any = None, count_tokens: Callable[[str], int] | None = None,
                **settings: Any) -> Any:
    """A ChatAgent over ``store``'s "ml100k" catalog; with ``engine`` the LLM ranker + explainer,
    else the retrieval order. Sessions go to a SQLite file under ``sessions_dir``."""
    from agent.conversation import ChatAgent
    from agent.pipeline import RecommendPipeline
    from agent.rerank import RetrievalOrderRanker
    from agent.settings import AgentSettings
    from retrieval.retriever import Retriever
    from ui.wiring import Stack

    aset = AgentSettings(sessions_url=f"sqlite:///{sessions_dir / 'sessions.db'}", **settings)
    retriever = Retriever(store, "ml100k")
    if engine is None:
        pipeline = RecommendPipeline(retriever, RetrievalOrderRanker(), aset)
    else:
        from agent.explain import Explainer
        from agent.rerank import VerbalizerRanker

        pipeline = RecommendPipeline(retriever, VerbalizerRanker(engine, aset), aset,
                                     explainer=Explainer(engine, aset), count_tokens=count_tokens or engine.count_tokens)
    return ChatAgent(Stack(store, retriever, engine, pipeline), aset)


@pytest.fixture
def make_agent(ml100k_store, tmp_path) -> Callable[..., Any]:
    """Factory: ``make_agent(engine=None, count_tokens=None, **agent_settings)``."""
    return lambda engine=None, **kw: build_agent(ml100k_store, tmp_path, engine, **kw)
