"""One non-interactive turn (``recchat recommend``): the same call for the CLI and the evaluation.

Today it applies only the filters passed in (the CLI's ``--year-min``/``--genre``/... flags): the
message itself is the retrieval query and the reranker's conversation, and constraints written in
it are not read (measured by ``recchat eval --protocol requests``).
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.app import App
from agent.pipeline import TurnRequest, TurnResult
from agent.types import Turn
from retrieval.retriever import Filters


def recommend_once(app: App, message: str, *, history: Sequence[str] = (), k: int = 5,
                   filters: Filters | None = None) -> TurnResult:
    """Retrieve -> rerank -> explain for ``message`` (history: catalog ids, oldest first)."""
    request = TurnRequest(turns=[Turn("user", message)], history=list(history), k=k, filters=filters or Filters())
    return app.pipeline.run(request)
