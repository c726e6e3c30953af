"""Pipelines compared on the same users, and the registry that builds them by name.

=================  =====================================================================
name               what ranks
=================  =====================================================================
``popularity``     items by the number of users who interacted with them in training
                   (every user's history; held-out items never count), ties by item id
``retrieval``      the product's retriever: cosine to the recency-weighted mean embedding of
                   the user's history (:meth:`retrieval.retriever.Retriever.query_vector`)
``retrieval+llm``  ``retrieval``'s top ``rerank_k`` reranked by the LLM verbalizer
                   (:class:`agent.ranking.rerank.VerbalizerRanker`, ``permutations`` orders), plus
                   explanations of its top picks (:class:`agent.reasons.explain.Explainer`)
=================  =====================================================================

Full protocol: ``retrieval`` ranks the whole catalog through Chroma (history excluded) and
keeps ``list_k`` items; a reranker reorders the first ``rerank_k`` and the rest keeps the
retrieval order. Sampled protocol: the frozen candidates are scored instead (``retrieval`` by
exact cosine), so every pipeline ranks exactly the same 20 items.

Any :class:`agent.ranking.rerank.Ranker` plugs in as ``retrieval+<name>``::

    registry = default_registry()
    registry.register_ranker("retrieval+ce", lambda ctx: MyCrossEncoderRanker(...))

The LLM pipeline sees one fixed user turn (:data:`eval.settings.DEFAULT_INSTRUCTION`) and the
newest ``history_window`` history items, trimmed to the agent's token budget.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.reasons.grounding import GroundingChecker, GroundingReport
from eval.settings import EvalSettings
from eval.splits import UserCase
from retrieval.candidates import Candidate
from retrieval.items import Item

if TYPE_CHECKING:
    from agent.llm.engine import Engine
    from agent.ranking.rerank import Ranker
    from agent.settings import AgentSettings
    from retrieval.retriever import Retriever
    from retrieval.store import ChromaStore


@dataclass(frozen=True)
class UserRequest:
    """One user to rank for: ``candidates`` are the frozen sampled-protocol items, or None
    (full protocol: rank the whole universe, history masked). ``position``: 0-based place of
    the user in the seeded sample (``explain_users`` explains positions below it)."""

    case: UserCase
    candidates: list[str] | None = None
    position: int = 0


@dataclass
class PipelineOutput:
    """``ranked`` item ids best first (catalog ids only, no duplicates, never a history item).
    ``retrieved_rank``: 1-based rank of the target in the retriever's top ``rerank_k`` (None =
    not retrieved), only set by pipelines with a retrieval stage in the full protocol.
    ``timings`` in seconds per stage; ``info`` holds JSON-able details (LLM, explanations)."""

    ranked: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    retrieved_rank: int | None = None
    has_retrieval_stage: bool = False
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalContext:
    """Shared, read-only resources of one run (built once; not global). The engine is created
    on first use and closed by :meth:`close`."""

    settings: EvalSettings
    items: dict[str, Item]
    universe: list[str]  # sorted catalog ids that occur in the interactions
    popularity: dict[str, int]  # training users per item
    n_users: int
    store_factory: "Callable[[], ChromaStore] | None" = None
    engine_factory: "Callable[[], Engine] | None" = None
    _store: "ChromaStore | None" = field(default=None, init=False, repr=False)
    _retriever: "Retriever | None" = field(default=None, init=False, repr=False)
    _engine: "Engine | None" = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    retrieval_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def store(self) -> "ChromaStore":
        """The Chroma store with the catalog indexed (built by ``store_factory`` on first use)."""
        with self._lock:
            if self._store is None:
                if self.store_factory is None:
                    raise RuntimeError("this pipeline needs a Chroma store (EvalContext.store_factory)")
                self._store = self.store_factory()
            return self._store

    @property
    def has_store(self) -> bool:
        return self._store is not None

    @property
    def retriever(self) -> "Retriever":
        from retrieval.retriever import Retriever

        if self._retriever is None:
            self._retriever = Retriever(self.store, self.settings.index_name)
        return self._retriever

    def engine(self) -> "Engine":
        with self._lock:
            if self._engine is None:
                if self.engine_factory is None:
                    raise RuntimeError("this pipeline needs an LLM engine (EvalContext.engine_factory)")
                self._engine = self.engine_factory()
            return self._engine

    def agent_settings(self) -> "AgentSettings":
        """The agent settings of the LLM stages (:meth:`eval.settings.EvalSettings.effective_agent`)."""
        return self.settings.effective_agent()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


class Pipeline(abc.ABC):
    """Ranks items for one user. ``uses_llm`` pipelines are run with several users in flight."""

    name: str = "pipeline"
    uses_llm: bool = False

    @abc.abstractmethod
    def recommend(self, request: UserRequest) -> PipelineOutput:
        """The user's ranked list (see :class:`PipelineOutput`)."""

    def model_ids(self) -> dict[str, str]:
        """Models behind this pipeline (for the report)."""
        return {}

    def checkpoints(self) -> dict[str, str]:
        """Role -> path of the trained checkpoints this pipeline loaded (hashed into the report
        by :func:`eval.provenance.checkpoint_provenance`); none by default."""
        return {}


class PopularityPipeline(Pipeline):
    """Most popular first (training interactions); ties by item id (full) or candidate order (sampled)."""

    name = "popularity"

    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self.order = sorted(ctx.universe, key=lambda i: (-ctx.popularity.get(i, 0), i))

    def recommend(self, request: UserRequest) -> PipelineOutput:
        t0 = time.perf_counter()
        if request.candidates is not None:
            pos = {c: n for n, c in enumerate(request.candidates)}
            ranked = sorted(request.candidates, key=lambda i: (-self.ctx.popularity.get(i, 0), pos[i]))
        else:
            seen = set(request.case.history)
            ranked = []
            for item in self.order:
                if item not in seen:
                    ranked.append(item)
                    if len(ranked) >= self.ctx.settings.list_k:
                        break
        return PipelineOutput(ranked, {"rank_s": time.perf_counter() - t0})


class RetrievalPipeline(Pipeline):
    """History-embedding retrieval (see module doc)."""

    name = "retrieval"

    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx

    def model_ids(self) -> dict[str, str]:
        return {"embedder": self.ctx.store.embedder.model_id} if self.ctx.has_store else {}

    def retrieve(self, request: UserRequest) -> tuple[list[Candidate], PipelineOutput]:
        """Candidates in retrieval order (sampled: all frozen candidates, by exact cosine)."""
        s = self.ctx.settings
        t0 = time.perf_counter()
        with self.ctx.retrieval_lock:
            retriever = self.ctx.retriever
            if request.candidates is not None:
                vector = retriever.query_vector(history=list(request.case.history))
                found = self.ctx.store.get_embeddings(s.index_name, request.candidates)
                scores = {c: float(found[c] @ vector) if c in found else -2.0 for c in request.candidates}
                pos = {c: n for n, c in enumerate(request.candidates)}
                order = sorted(request.candidates, key=lambda c: (-scores[c], pos[c]))
                cands = [Candidate(self.ctx.items[c], scores[c], r, ("history",)) for r, c in enumerate(order)]
            else:
                cands = retriever.retrieve(history=list(request.case.history), k=s.list_k)
                cands = [Candidate(self.ctx.items.get(c.item.id, c.item), c.score, c.rank, c.sources) for c in cands]
        out = PipelineOutput([c.item.id for c in cands], {"retrieve_s": time.perf_counter() - t0})
        if request.candidates is None:
            head = out.ranked[: s.rerank_k]
            out.has_retrieval_stage = True
            out.retrieved_rank = head.index(request.case.target) + 1 if request.case.target in head else None
        return cands, out

    def recommend(self, request: UserRequest) -> PipelineOutput:
        return self.retrieve(request)[1]


class _RecordingChecker(GroundingChecker):
    """A grounding checker that keeps every report (one per explained pick), for the metrics."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[GroundingReport] = []

    def check(self, reason: str, item: Item, user_evidence: str = "") -> GroundingReport:
        report = super().check(reason, item, user_evidence)
        self.reports.append(report)
        return report


class RerankPipeline(Pipeline):
    """Retrieval, then ``ranker`` over the first ``rerank_k`` candidates; optionally explains."""

    def __init__(self, name: str, ctx: EvalContext, ranker: "Ranker", *, uses_llm: bool = False,
                 explain: bool = False) -> None:
        self.name = name
        self.ctx = ctx
        self.ranker = ranker
        self.uses_llm = uses_llm
        self.explain = explain
        self.base = RetrievalPipeline(ctx)

    def model_ids(self) -> dict[str, str]:
        ids = self.base.model_ids()
        engine = getattr(self.ranker, "engine", None)
        if engine is not None:
            ids["llm"] = str(getattr(engine, "model", "") or self.ctx.settings.agent.llm)
        ids["ranker"] = getattr(self.ranker, "name", type(self.ranker).__name__)
        return ids

    def checkpoints(self) -> dict[str, str]:
        return ranker_checkpoints(self.ranker)

    def _count_tokens(self) -> Callable[[str], int]:
        engine = getattr(self.ranker, "engine", None)
        return engine.count_tokens if engine is not None else (lambda text: len(text.split()))

    def recommend(self, request: UserRequest) -> PipelineOutput:
        from agent.understanding.context import build_context
        from agent.types import Turn

        s = self.ctx.settings
        cands, out = self.base.retrieve(request)
        head, tail = cands[: s.rerank_k], cands[s.rerank_k :]
        history = [self.ctx.items[h] for h in request.case.history[-s.history_window:] if h in self.ctx.items]
        budget = getattr(getattr(self.ranker, "settings", None), "context_token_budget", 1500)
        t0 = time.perf_counter()
        context = build_context([Turn("user", s.instruction)], self._count_tokens(), budget, history=history)
        result = self.ranker.rank(context, head)
        out.timings["rerank_s"] = time.perf_counter() - t0
        if "llm_s" in result.timings:
            out.timings["rerank_llm_s"] = result.timings["llm_s"]
        out.ranked = [sc.item.id for sc in result.ranked] + [c.item.id for c in tail]
        out.info.update({"degraded": result.degraded, "error": result.error, "permutations": len(result.permutations),
                         "context_tokens": context.tokens, "dropped_history": context.dropped_history})
        if self.explain and not result.degraded and self._explains(request):
            out.info["explain"] = self._explain(context, result.ranked, out)
        return out

    def _explains(self, request: UserRequest) -> bool:
        """True when this user is among the first ``explain_users`` of the sample (or no limit)."""
        limit = self.ctx.settings.explain_users
        return limit is None or request.position < limit

    def _explain(self, context: Any, ranked: Sequence[Any], out: PipelineOutput) -> dict[str, Any]:
        from agent.reasons.explain import Explainer

        agent_settings = getattr(self.ranker, "settings", None) or self.ctx.agent_settings()
        checker = _RecordingChecker()
        explainer = Explainer(self.ctx.engine(), agent_settings, checker)
        t0 = time.perf_counter()
        res = explainer.explain(context, ranked)
        out.timings["explain_s"] = time.perf_counter() - t0
        k = min(agent_settings.explain_top_k, len(ranked))
        recs = res.recommendations[:k]
        return {"picks": k, "with_reason": sum(1 for r in recs if r.reason), "missing": res.missing,
                "dropped": res.dropped, "ungrounded": res.ungrounded, "error": res.error,
                "claims": sum(len(r.claims) for r in checker.reports),
                "grounded_claims": sum(1 for r in checker.reports for c in r.claims if c.grounded),
                "reasons": [{"item_id": r.item.id, "reason": r.reason, "grounded": r.grounded,
                             "ungrounded": list(r.ungrounded_claims)} for r in recs],
                "explained_ids": [r.item.id for r in recs]}


PipelineFactory = Callable[[EvalContext], Pipeline]
RankerFactory = Callable[[EvalContext], "Ranker"]


class PipelineRegistry:
    """Pipeline names -> factories. Create one per run (:func:`default_registry`); no globals."""

    def __init__(self) -> None:
        self._factories: dict[str, PipelineFactory] = {}

    def register(self, name: str, factory: PipelineFactory) -> None:
        """Add (or replace) a pipeline."""
        if not name or "," in name:
            raise ValueError(f"bad pipeline name {name!r}")
        self._factories[name] = factory

    def register_ranker(self, name: str, factory: RankerFactory, *, uses_llm: bool = False,
                        explain: bool = False) -> None:
        """Add ``name`` = retrieval's top ``rerank_k`` reranked by the :class:`Ranker` that
        ``factory(ctx)`` builds (a trained ranker plugs in here)."""
        self.register(name, lambda ctx: RerankPipeline(name, ctx, factory(ctx), uses_llm=uses_llm,
                                                        explain=explain and ctx.settings.explain))

    @property
    def names(self) -> list[str]:
        return list(self._factories)

    def build(self, name: str, ctx: EvalContext) -> Pipeline:
        try:
            factory = self._factories[name]
        except KeyError:
            raise ValueError(f"unknown pipeline {name!r}; known: {', '.join(self._factories)}") from None
        return factory(ctx)


def _verbalizer(ctx: EvalContext) -> "Ranker":
    from agent.ranking.rerank import VerbalizerRanker

    return VerbalizerRanker(ctx.engine(), ctx.agent_settings())


def default_registry() -> PipelineRegistry:
    """``popularity``, ``retrieval``, ``retrieval+llm`` and ``retrieval+order`` (the identity
    ranker through the rerank path: a check that the plumbing itself changes nothing)."""
    from agent.ranking.rerank import RetrievalOrderRanker

    registry = PipelineRegistry()
    registry.register("popularity", PopularityPipeline)
    registry.register("retrieval", RetrievalPipeline)
    registry.register_ranker("retrieval+llm", _verbalizer, uses_llm=True, explain=True)
    registry.register_ranker("retrieval+order", lambda ctx: RetrievalOrderRanker())
    return registry


def ranker_checkpoints(ranker: object) -> dict[str, str]:
    """``{"ranker": folder}`` of a ranker loaded from a trained checkpoint (a ranker with a
    ``model_dir``, or a fusion ranker wrapping one as ``cross_encoder``); else empty."""
    for candidate in (ranker, getattr(ranker, "cross_encoder", None)):
        model_dir = getattr(candidate, "model_dir", None)
        if model_dir:
            return {"ranker": str(model_dir)}
    return {}


def popularity_counts(cases: Sequence[UserCase]) -> dict[str, int]:
    """Training users per item: how many users' histories hold it (held-out items excluded)."""
    counts: dict[str, int] = {}
    for case in cases:
        for item in set(case.history):
            counts[item] = counts.get(item, 0) + 1
    return counts


def item_vectors(ctx: EvalContext, ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Stored embeddings of ``ids``. The store is opened for this only when a retrieval-based
    pipeline is in the run; otherwise (popularity only) the result is empty (no diversity)."""
    uses_retrieval = any(p.startswith("retrieval") for p in ctx.settings.pipelines)
    if not ids or not (ctx.has_store or (uses_retrieval and ctx.store_factory is not None)):
        return {}
    with ctx.retrieval_lock:
        return ctx.store.get_embeddings(ctx.settings.index_name, list(ids))
