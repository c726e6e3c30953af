"""One recommendation turn: retrieve -> rerank -> explain, with timings, notices and audit.

Invariants: every recommendation is a retrieved catalog item that satisfies the request's hard
filters and is not excluded; an LLM failure degrades the result (retrieval order and/or no
reasons, with a notice) and never raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent.understanding.context import build_context
from agent.llm.engine import LLMCall, audit_scope
from agent.reasons.explain import Explainer
from agent.ranking.acclaim import item_passes
from agent.ranking.fusion import CandidateSources
from agent.ranking.rerank import Ranker
from agent.settings import RerankSettings
from agent.types import Context, Feedback, Recommendation, RerankResult, Turn
from retrieval.candidates import Candidate
from retrieval.retriever import Filters, Retriever


@dataclass
class TurnRequest:
    """What one turn asks for. ``history`` holds item ids, oldest first; ``query`` defaults to
    the latest user message; ``k`` is the number of picks shown."""

    turns: Sequence[Turn]
    history: Sequence[str] = ()
    feedback: Sequence[Feedback] = ()
    filters: Filters = field(default_factory=Filters)
    exclude: Sequence[str] = ()
    k: int = 10
    query: str | None = None
    mmr_lambda: float | None = None
    text_led: bool = False  # the words describe the film beyond the constraints (agent.ranking.fusion.TEXT_LED_WEIGHT)
    wished_genres: Sequence[str] = ()  # genres a mood word hints at ("funny"): raised, not required
    avoid_genres: Sequence[str] = ()  # genres the wish reading says would spoil it: lowered, not excluded
    acclaim: str | None = None  # an agent.ranking.acclaim rule every pick must meet ("critics", ...)
    lexical_query: str = ""  # the words no rule read, for the BM25 source (agent.ranking.fusion)
    shun_query: str = ""  # words whose films are lowered ("gore slasher"; agent.ranking.fusion)
    rating_weight: float | None = None  # a mood's weight of the mean-rating feature (None = learned)


@dataclass
class TurnResult:
    """Everything a turn produced. ``timings`` are seconds per stage (retrieve, rerank, explain,
    total); ``llm_calls`` are the audit records of this turn's LLM calls."""

    candidates: list[Candidate]
    rerank: RerankResult
    recommendations: list[Recommendation]
    context: Context | None = None
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    llm_calls: list[LLMCall] = field(default_factory=list)


class RecommendPipeline:
    """Composes a :class:`Retriever` (or, when the catalog has interaction data, the fused
    :class:`agent.ranking.fusion.CandidateSources`), a :class:`Ranker` and an optional :class:`Explainer`."""

    def __init__(
        self,
        retriever: Retriever,
        ranker: Ranker,
        settings: RerankSettings,
        explainer: Explainer | None = None,
        count_tokens: Callable[[str], int] = lambda text: len(text) // 4 + 1,
        sources: CandidateSources | None = None,
    ) -> None:
        self.retriever, self.ranker, self.settings = retriever, ranker, settings
        self.explainer, self.count_tokens, self.sources = explainer, count_tokens, sources

    def run(self, request: TurnRequest, on_ranked: Callable[[list[Recommendation]], None] | None = None) -> TurnResult:
        """Run one turn. ``on_ranked`` is called with the ranked picks (no reasons yet) as soon as
        they are known, so a UI can show them while the reasons are generated."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        with audit_scope() as calls:
            user_text = request.query or next((t.text for t in reversed(request.turns) if t.role == "user"), "")
            t0 = time.perf_counter()
            k = max(request.k, self.settings.max_candidates)
            if self.sources is not None:
                candidates = self.sources.candidates(user_text or None, list(request.history), request.filters,
                                                     list(request.exclude), k, text_led=request.text_led,
                                                     wished_genres=request.wished_genres,
                                                     avoid_genres=request.avoid_genres,
                                                     acclaim=request.acclaim, lexical_query=request.lexical_query,
                                                     shun_query=request.shun_query,
                                                     rating_weight=request.rating_weight)
            else:
                candidates = self.retriever.retrieve(
                    user_text or None, history=list(request.history), k=k,
                    filters=request.filters, exclude=list(request.exclude), mmr_lambda=request.mmr_lambda,
                )
                if request.acclaim:  # no rating data: the rule on the facts alone (no count: not little-known)
                    candidates = [c for c in candidates if item_passes(request.acclaim, c.item, None)]
            timings["retrieve_s"] = time.perf_counter() - t0
            # Hard constraints hold whatever happens later (defence in depth).
            banned = set(request.exclude) | set(request.history)
            candidates = [c for c in candidates if request.filters.matches_item(c.item) and c.item.id not in banned]
            history_items = self.retriever.store.get_items(self.retriever.catalog, list(request.history)[-50:])
            context = build_context(
                request.turns, self.count_tokens, self.settings.context_token_budget, feedback=request.feedback,
                history=[history_items[h] for h in request.history if h in history_items],
            ) if any(t.role == "user" for t in request.turns) else None
            t0 = time.perf_counter()
            if context is None or not candidates:
                from agent.ranking.rerank import RetrievalOrderRanker

                rerank = RetrievalOrderRanker().rank(context, candidates)  # type: ignore[arg-type]
            else:
                rerank = self.ranker.rank(context, candidates)
            timings["rerank_s"] = time.perf_counter() - t0
            shown = rerank.ranked[: request.k]
            recs = [Recommendation(item=s.item, rank=i + 1, score=s.score) for i, s in enumerate(shown)]
            notices = [rerank.notice] if rerank.notice else []
            if on_ranked is not None:
                on_ranked(recs)
            t0 = time.perf_counter()
            if self.explainer is not None and context is not None and shown:
                explained = self.explainer.explain(context, shown)
                recs = explained.recommendations
                if explained.notice:
                    notices.append(explained.notice)
            timings["explain_s"] = time.perf_counter() - t0
        timings["total_s"] = time.perf_counter() - started
        return TurnResult(candidates, rerank, recs, context, notices, timings, list(calls))
