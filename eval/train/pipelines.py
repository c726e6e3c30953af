"""Pipelines of the trained stages, registered on top of :func:`eval.pipelines.default_registry`.

=============================  ===============================================================
name                           what it ranks with
=============================  ===============================================================
``retrieval+knn``              reciprocal rank fusion of the ``retrieval`` stage (history
                               embedding over Chroma) and the behavioural item-kNN source
``retrieval+ranker``           ``retrieval``'s top ``rerank_k`` reranked by the cross-encoder
``retrieval+knn+ranker``       ``retrieval+knn``'s top ``rerank_k`` reranked by the cross-encoder
``retrieval-ft``               the tuned sentence-transformer: history TEXT query against the
                               catalog indexed with the tuned model (its own Chroma index)
``retrieval-ft+knn``           RRF of ``retrieval-ft`` and item-kNN
``retrieval-ft+knn+ranker``    ... reranked by the cross-encoder
``ease``                       EASE (:class:`retrieval.ease.EASE`), recency-weighted history
``knn+ease``                   RRF of item-kNN and EASE
``retrieval+ease``             RRF of ``retrieval`` and EASE
``sasrec``                     the trained SASRec sequential model (:mod:`retrieval.sasrec`;
                               ``recchat train sasrec``, chosen on validation)
``knn+sasrec``, ``sasrec+ease``  RRF of SASRec with item-kNN / EASE
``retrieval+sasrec``           RRF of ``retrieval`` and SASRec
``sasrec+ranker``              SASRec's top ``rerank_k`` reranked by the cross-encoder (a ranker
                               trained with ``--behaviour`` reads SASRec's catalog rank of every
                               candidate, :class:`StagedPipeline` ``rank_model``)
``retrieval+ranker+llm``       cross-encoder and LLM verbalizer fused
                               (:class:`agent.ranking.cross_encoder.FusionRanker`; weight from
                               ``recchat train fusion``, tuned on validation)
``sasrec+llm-lora``            SASRec's / EASE's top ``rerank_k`` reranked by the LLM verbalizer
``ease+llm-lora``              with a LoRA adapter (``recchat train llm-ranker``, LlamaRec's recipe;
                               :mod:`eval.train.llm_ranker`): the prompt shows the newest
                               ``history_items`` history items the adapter was trained with
``sasrec+llm-lora-fused``      the same LoRA verbalizer BESIDE its source: ``(1 - w) * softmax(source
``ease+llm-lora-fused``        scores / T) + w * LLM probabilities`` over the same candidates
                               (:func:`agent.ranking.cross_encoder.fuse_scores`); ``w`` and ``T``
                               from ``recchat train lora-fusion`` (validation split, saved beside
                               the adapter with the adapter's checksum)
=============================  ===============================================================

Item-kNN (:class:`retrieval.behaviour.ItemKNN`): cosine similarity between items' user sets, built from the
HISTORIES of the evaluated split only (held-out targets never count; for the test split the
validation item is history, as in every pipeline), shrunk by ``n / (n + shrink)`` with ``n`` the
co-occurrence count; a user's score for item ``j`` = sum over history items ``h`` of
``w(h) * sim(h, j)`` with recency weights (newest 1, halving every ``half_life`` items).

Reciprocal rank fusion: ``score(i) = sum_s w_s / (rrf_k + rank_s(i))`` (dense sources weigh
``dense_weight``, kNN 1; chosen on validation) over the sources' top
``fusion_depth`` lists (1-based ranks), ``rrf_k`` = 60 (Cormack et al.); ties keep the first
source's order. Sampled protocol: each source scores the frozen candidates and RRF runs on those
20 ranks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eval.pipelines import (EvalContext, Pipeline, PipelineOutput, PipelineRegistry, UserRequest, default_registry,
                            ranker_checkpoints)
from eval.settings import EvalSettings
from eval.splits import UserCase, leave_one_out
from retrieval.behaviour import ItemKNN
from retrieval.ease import EASE, ItemScorer
from retrieval.candidates import Candidate

if TYPE_CHECKING:
    from agent.ranking.rerank import Ranker
    from agent.types import Context, RerankResult
    from eval.data import EvalDataset
    from retrieval.store import ChromaStore


@dataclass(frozen=True)
class TrainedAssets:
    """Which trained models the pipelines use: ranker / retriever names or folders (None = the
    pipelines needing them fail with the training command), and an explicit fusion weight."""

    ranker: str | None = None
    retriever: str | None = None
    sasrec: str | None = None
    llm_ranker: str | None = None  # LoRA adapter of the LLM verbalizer (recchat train llm-ranker)
    fusion_weight: float | None = None
    knn_half_life: float = 1.0  # chosen on ML-100K VALIDATION (docs/results/issue7/README.md)
    knn_shrink: float = 5.0  # idem
    ease_lambda: float = 500.0  # chosen on ML-1M VALIDATION (recchat train ease; docs/results/ease-validation/grid.json)
    ease_half_life: float | None = 3.0  # idem (None = binary history, as in the paper: 0.052 vs 0.130 NDCG@10)
    rrf_k: int = 10  # chosen on validation (60 was worse: the dense source is weak here)
    dense_weight: float = 0.25  # RRF weight of the dense source (kNN weighs 1); chosen on validation
    fusion_depth: int = 200


def rrf(lists: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None) -> list[str]:
    """(Weighted) reciprocal rank fusion of best-first lists (see module doc): list ``s`` adds
    ``weights[s] / (k + rank)``; ties -> earlier first-seen."""
    score: dict[str, float] = {}
    first: dict[str, int] = {}
    n = 0
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    for ranked, w in zip(lists, weights):
        for r, item in enumerate(ranked, start=1):
            score[item] = score.get(item, 0.0) + w / (k + r)
            if item not in first:
                first[item] = n
                n += 1
    return sorted(score, key=lambda i: (-score[i], first[i]))


# ----------------------------------------------------------------------------- sources

Source = Callable[[UserRequest, int], list[str]]
"""A candidate source: best-first item ids for a request (full: top ``n`` of the universe,
history masked; sampled: the frozen candidates reordered)."""


def behaviour_source(model: "ItemScorer") -> Source:
    """A behavioural model (item-kNN or EASE) as a source; unknown frozen candidates go last."""
    def source(request: UserRequest, n: int) -> list[str]:
        if request.candidates is not None:
            s = model.scores(request.case.history)
            pos = {c: j for j, c in enumerate(request.candidates)}
            val = {c: float(s[model.pos[c]]) if c in model.pos else -np.inf for c in request.candidates}
            return sorted(request.candidates, key=lambda c: (-val[c], pos[c]))
        return model.top(request.case.history, n)
    return source


def base_dense_source(ctx: EvalContext) -> Source:
    """The eval harness's ``retrieval`` stage as a source."""
    from eval.pipelines import RetrievalPipeline

    base = RetrievalPipeline(ctx)

    def source(request: UserRequest, n: int) -> list[str]:
        if request.candidates is not None:
            return base.retrieve(request)[1].ranked
        with ctx.retrieval_lock:
            cands = ctx.retriever.retrieve(history=list(request.case.history), k=n)
        return [c.item.id for c in cands]
    return source


def tuned_dense_source(ctx: EvalContext, store: "ChromaStore", catalog: str, history_items: int = 30) -> Source:
    """History-text query encoded by the tuned model against its own index."""
    from eval.train.retriever import history_text
    from retrieval.retriever import Retriever

    retriever = Retriever(store, catalog)

    def source(request: UserRequest, n: int) -> list[str]:
        hist = [ctx.items[h] for h in request.case.history if h in ctx.items]
        text = history_text(hist, history_items)
        with ctx.retrieval_lock:
            if request.candidates is not None:
                q = store.embedder.encode([text])[0]
                found = store.get_embeddings(catalog, request.candidates)
                val = {c: float(found[c] @ q) if c in found else -2.0 for c in request.candidates}
                pos = {c: j for j, c in enumerate(request.candidates)}
                return sorted(request.candidates, key=lambda c: (-val[c], pos[c]))
            return [c.item.id for c in retriever.retrieve(text=text, k=n, exclude=list(request.case.history))]
    return source


class StagedPipeline(Pipeline):
    """Sources fused by RRF (one source: its own order), then optionally a ranker over the
    first ``rerank_k`` (context built exactly as :class:`eval.pipelines.RerankPipeline` does).

    The ranker's candidates carry ``rank`` = their position in the fused list, or, with
    ``rank_model``, their 0-based rank in that model's ranking of the whole catalog for the
    user's history (what a ranker trained with behaviour reads; in the sampled protocol the
    list position of a frozen candidate says nothing about the catalog). With ``score_model``
    their ``score`` is that model's score for the history (SASRec: the next-item logit), what a
    score-fusing ranker reads; else 0."""

    def __init__(self, name: str, ctx: EvalContext, sources: Sequence[Source], ranker: "Ranker | None" = None,
                 rrf_k: int = 60, depth: int = 200, models: dict[str, str] | None = None,
                 weights: Sequence[float] | None = None, checkpoints: dict[str, str] | None = None,
                 rank_model: ItemScorer | None = None, score_model: ItemScorer | None = None) -> None:
        self.name = name
        self.ctx = ctx
        self.sources = list(sources)
        self.ranker = ranker
        self.rrf_k = rrf_k
        self.depth = depth
        self.models = models or {}
        self.weights = list(weights) if weights is not None else None
        self._checkpoints = dict(checkpoints or {})
        self.rank_model = rank_model
        self.score_model = score_model

    def model_ids(self) -> dict[str, str]:
        return dict(self.models)

    def checkpoints(self) -> dict[str, str]:
        return dict(self._checkpoints)

    def recommend(self, request: UserRequest) -> PipelineOutput:
        s = self.ctx.settings
        t0 = time.perf_counter()
        ranked = self.source_order(request)
        if request.candidates is None:
            ranked = ranked[: s.list_k]
        out = PipelineOutput(ranked, {"retrieve_s": time.perf_counter() - t0})
        if request.candidates is None:
            head = ranked[: s.rerank_k]
            out.has_retrieval_stage = True
            out.retrieved_rank = head.index(request.case.target) + 1 if request.case.target in head else None
        if self.ranker is not None:
            k = s.rerank_k if request.candidates is None else len(ranked)
            tail = ranked[k:]
            t1 = time.perf_counter()
            cands, context = self.rerank_inputs(request, ranked[:k])
            result = self.ranker.rank(context, cands)
            out.timings["rerank_s"] = time.perf_counter() - t1
            out.ranked = [sc.item.id for sc in result.ranked] + tail
            out.info.update({"degraded": result.degraded, "error": result.error})
        return out

    def source_order(self, request: UserRequest) -> list[str]:
        """The sources' fused order (catalog items only, history removed), before any ranker."""
        n = max(self.depth, self.ctx.settings.list_k)
        lists = [src(request, n) for src in self.sources]
        ranked = rrf(lists, self.rrf_k, self.weights) if len(lists) > 1 else list(lists[0])
        history = set(request.case.history)
        return [i for i in ranked if i not in history and i in self.ctx.items]

    def rerank_inputs(self, request: UserRequest, head_ids: Sequence[str]) -> tuple[list[Candidate], "Context"]:
        """The ranker's candidates for ``head_ids`` (in that order; rank and score as the class
        doc says) and the context it reads (the instruction and the newest history items)."""
        from agent.understanding.context import build_context
        from agent.types import Turn

        s = self.ctx.settings
        history = request.case.history
        ranks: Sequence[int | None] = list(range(len(head_ids)))
        if self.rank_model is not None:
            ranks = self.rank_model.ranks(history, head_ids)
        scores = [0.0] * len(head_ids)
        if self.score_model is not None:
            every = self.score_model.scores(history)
            pos = self.score_model.pos
            scores = [float(every[pos[i]]) if i in pos else float("-inf") for i in head_ids]
        cands = [Candidate(self.ctx.items[i], sc, UNRANKED if r is None else r, ("fused",))
                 for r, sc, i in zip(ranks, scores, head_ids)]
        hist_items = [self.ctx.items[h] for h in history[-s.history_window:] if h in self.ctx.items]
        context = build_context([Turn("user", s.instruction)], lambda text: len(text.split()), 1500, history=hist_items)
        return cands, context


UNRANKED = 10**9
"""Candidate rank for an item the rank model does not know."""


# ----------------------------------------------------------------------------- registry


def fusion_path(ranker_dir: Path, llm: str) -> Path:
    """Where ``recchat train fusion`` stores the tuned weight for (ranker version, LLM)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in llm)
    return ranker_dir.parent / f"{ranker_dir.name}-fusion-{safe}.json"


def _histories(data: "EvalDataset", settings: EvalSettings) -> list[tuple[str, ...]]:
    split = leave_one_out(data.interactions, settings.split, settings.seed, settings.min_rating)
    return [c.history for c in split.cases]


#: Pipelines that need a trained checkpoint -> which one (the others run from the data alone and
#: are in ``recchat eval --pipelines``).
CHECKPOINTS: dict[str, tuple[str, ...]] = {
    "retrieval+ranker": ("ranker",), "retrieval+knn+ranker": ("ranker",), "knn+ranker": ("ranker",),
    "retrieval+ranker+llm": ("ranker",), "retrieval-ft": ("retriever",), "retrieval-ft+knn": ("retriever",),
    "retrieval-ft+knn+ranker": ("retriever", "ranker"), "sasrec": ("sasrec",), "knn+sasrec": ("sasrec",),
    "sasrec+ease": ("sasrec",), "retrieval+sasrec": ("sasrec",), "sasrec+ranker": ("sasrec", "ranker"),
    "sasrec+llm-lora": ("sasrec", "llm-ranker"), "ease+llm-lora": ("llm-ranker",),
    "sasrec+llm-lora-fused": ("sasrec", "llm-ranker"), "ease+llm-lora-fused": ("llm-ranker",),
}


def require_checkpoints(names: Sequence[str], assets: TrainedAssets) -> None:
    """Raise ValueError (naming the training and evaluation commands) when a pipeline of
    ``names`` needs a trained ranker / retriever that ``assets`` does not name."""
    have = {"ranker": assets.ranker is not None, "retriever": assets.retriever is not None,
            "sasrec": assets.sasrec is not None, "llm-ranker": assets.llm_ranker is not None}
    missing: dict[str, list[str]] = {}
    for name in names:
        for kind in CHECKPOINTS.get(name, ()):
            if not have[kind]:
                missing.setdefault(kind, []).append(name)
    if missing:
        parts = [f"{', '.join(ps)} need(s) a trained {kind} (train it with `recchat train {kind}`)"
                 for kind, ps in missing.items()]
        raise ValueError("; ".join(parts) + "; then evaluate with `recchat train eval --ranker NAME "
                         "[--retriever NAME] [--sasrec NAME] [--llm-ranker NAME] --pipelines ...` (same protocols "
                         "and report format)")


def trained_registry(settings: EvalSettings, data: "EvalDataset", assets: TrainedAssets,
                     base: PipelineRegistry | None = None) -> PipelineRegistry:
    """:func:`eval.pipelines.default_registry` plus the pipelines of the module doc. Heavy
    parts (kNN matrix, models, tuned index) are built only when a pipeline needs them."""
    from agent.ranking.cross_encoder import CrossEncoderRanker, FusionRanker, resolve_ranker

    registry = base or default_registry()
    cache: dict[Any, Any] = {}

    def knn(ctx: EvalContext) -> ItemKNN:
        if "knn" not in cache:
            cache["knn"] = ItemKNN(_histories(data, settings), ctx.universe, assets.knn_shrink, assets.knn_half_life)
        return cache["knn"]

    def ease(ctx: EvalContext) -> EASE:
        if "ease" not in cache:
            cache["ease"] = EASE(_histories(data, settings), ctx.universe, assets.ease_lambda, assets.ease_half_life)
        return cache["ease"]

    def sasrec(ctx: EvalContext) -> tuple[ItemScorer, list[str]]:
        """The model of ``assets.sasrec`` (comma-separated names: an ensemble) and its weight files."""
        from retrieval.sasrec import load_sasrec

        if assets.sasrec is None:
            raise ValueError("this pipeline needs a trained SASRec model: pass --sasrec NAME (recchat train sasrec)")
        if "sasrec" not in cache:
            model, files = load_sasrec(assets.sasrec)
            cache["sasrec"] = (model, [str(f) for f in files])
        return cache["sasrec"]

    def sasrec_records(model: ItemScorer, files: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
        from retrieval.sasrec import describe

        return ({"sasrec": describe(model)},
                {("sasrec" if n == 0 else f"sasrec_{n + 1}"): f for n, f in enumerate(files)})

    def behaviour_model(folder: str) -> ItemScorer:
        from retrieval.sasrec import SASRec

        loaded = cache.get("sasrec")  # the sasrec source's model when the ranker was trained on it: load once
        if loaded is not None and len(loaded[1]) == 1 and Path(loaded[1][0]).parent.resolve() == Path(folder).resolve():
            return loaded[0]
        if ("behaviour", folder) not in cache:
            cache[("behaviour", folder)] = SASRec.load(Path(folder))
        return cache[("behaviour", folder)]

    def ce(ctx: EvalContext) -> "Ranker":
        if assets.ranker is None:
            raise ValueError("this pipeline needs a trained ranker: pass --ranker NAME (recchat train ranker)")
        if "ce" not in cache:
            cache["ce"] = CrossEncoderRanker(resolve_ranker(assets.ranker))
        return cache["ce"]

    def tuned(ctx: EvalContext) -> Source:
        from eval.train.retriever import index_with, resolve_retriever, tuned_index_name
        from retrieval.settings import RetrievalSettings
        from retrieval.store import ChromaStore

        if assets.retriever is None:
            raise ValueError("this pipeline needs a trained retriever: pass --retriever NAME (recchat train retriever)")
        if "ft" not in cache:
            path = resolve_retriever(assets.retriever)
            rs = RetrievalSettings(embedder=str(path))
            if ctx.store is not None:
                rs = ctx.store.settings.model_copy(update={"embedder": str(path)})
            store = ChromaStore(rs)
            catalog = tuned_index_name(data.name, path)
            index_with(path, data.name, store=store, progress=False)
            cache["ft"] = (tuned_dense_source(ctx, store, catalog), str(path))
        return cache["ft"][0]

    def staged(name: str, parts: Sequence[str], rank: bool) -> None:
        def factory(ctx: EvalContext) -> Pipeline:
            sources = []
            models: dict[str, str] = {}
            checkpoints: dict[str, str] = {}
            weights = [1.0 if part in ("knn", "ease", "sasrec") else assets.dense_weight for part in parts]
            for part in parts:
                if part == "dense":
                    sources.append(base_dense_source(ctx))
                    models["embedder"] = ctx.store.embedder.model_id if ctx.store is not None else ""
                elif part == "knn":
                    sources.append(behaviour_source(knn(ctx)))
                    models["knn"] = f"item-kNN cosine, shrink {assets.knn_shrink}, half-life {assets.knn_half_life}"
                elif part == "ease":
                    sources.append(behaviour_source(ease(ctx)))
                    models["ease"] = f"EASE, lambda {assets.ease_lambda}, half-life {assets.ease_half_life}"
                elif part == "sasrec":
                    model, files = sasrec(ctx)
                    sources.append(behaviour_source(model))
                    described, files_by_key = sasrec_records(model, files)
                    models |= described
                    checkpoints |= files_by_key
                elif part == "ft":
                    sources.append(tuned(ctx))
                    models["tuned_embedder"] = checkpoints["retriever"] = cache["ft"][1]
            ranker = ce(ctx) if rank else None
            rank_model = None
            if ranker is not None:
                models["ranker"] = str(getattr(ranker, "model_dir", ""))
                checkpoints.update(ranker_checkpoints(ranker))
                behaviour = getattr(ranker, "behaviour", None)
                if behaviour is not None:
                    rank_model = behaviour_model(behaviour["source"])
                    models["ranker_behaviour"] = behaviour["source"]
            if len(parts) > 1:
                models["rrf"] = f"k={assets.rrf_k}, weights={dict(zip(parts, weights))}"
            return StagedPipeline(name, ctx, sources, ranker, assets.rrf_k, assets.fusion_depth, models, weights,
                                  checkpoints, rank_model)
        registry.register(name, factory)

    staged("retrieval+knn", ["dense", "knn"], False)
    staged("retrieval+knn+ranker", ["dense", "knn"], True)
    staged("knn", ["knn"], False)
    staged("knn+ranker", ["knn"], True)
    staged("ease", ["ease"], False)
    staged("knn+ease", ["knn", "ease"], False)
    staged("retrieval+ease", ["dense", "ease"], False)
    staged("sasrec", ["sasrec"], False)
    staged("knn+sasrec", ["knn", "sasrec"], False)
    staged("sasrec+ease", ["sasrec", "ease"], False)
    staged("retrieval+sasrec", ["dense", "sasrec"], False)
    staged("sasrec+ranker", ["sasrec"], True)
    staged("retrieval-ft", ["ft"], False)
    staged("retrieval-ft+knn", ["ft", "knn"], False)
    staged("retrieval-ft+knn+ranker", ["ft", "knn"], True)
    registry.register_ranker("retrieval+ranker", ce)

    def fused(ctx: EvalContext) -> "Ranker":
        from agent.ranking.rerank import VerbalizerRanker

        ranker = ce(ctx)
        weight = assets.fusion_weight
        if weight is None:
            path = fusion_path(Path(ranker.model_dir), ctx.settings.agent.llm)
            if not path.is_file():
                raise ValueError(f"no tuned fusion weight at {path}: run recchat train fusion --ranker {assets.ranker} "
                                 f"--llm {ctx.settings.agent.llm} (validation split), or pass --fusion-weight")
            weight = float(json.loads(path.read_text(encoding="utf-8"))["weight"])
        return FusionRanker(ranker, VerbalizerRanker(ctx.engine(), ctx.agent_settings()), weight,
                            max_candidates=ctx.settings.rerank_k)

    registry.register_ranker("retrieval+ranker+llm", fused, uses_llm=True)

    def llm_lora(ctx: EvalContext) -> tuple[Any, "Ranker"]:
        """(the trained adapter, a VerbalizerRanker over an engine that scores with it), built once."""
        from eval.train.llm_ranker import check_run, load_llm_ranker, lora_engine, lora_ranker

        if assets.llm_ranker is None:
            raise ValueError("this pipeline needs a trained LLM ranker: pass --llm-ranker NAME "
                             "(recchat train llm-ranker)")
        if "llm-lora" not in cache:
            trained = load_llm_ranker(assets.llm_ranker)
            check_run(trained, ctx)
            agent = ctx.agent_settings()
            cache["llm-lora"] = (trained, MemoRanker(lora_ranker(trained, lora_engine(trained, agent), agent)))
        return cache["llm-lora"]

    def lora_staged(name: str, part: str) -> None:
        def factory(ctx: EvalContext) -> Pipeline:
            import dataclasses

            trained, ranker = llm_lora(ctx)
            if part == "sasrec":
                model, files = sasrec(ctx)
                models, checkpoints = sasrec_records(model, files)
            else:
                model, checkpoints = ease(ctx), {}
                models = {"ease": f"EASE, lambda {assets.ease_lambda}, half-life {assets.ease_half_life}"}
            s = trained.settings
            models |= {"llm": s.llm, "llm_ranker": f"{trained.folder} (LoRA r={s.lora_r} on {s.source} top "
                       f"{s.candidates}, {s.history_items} history items, {s.layout} layout)",
                       "llm_engine": ranker.engine.backend}
            checkpoints["llm_ranker"] = str(trained.weights)
            # the prompt shows the history the adapter was trained with (StagedPipeline reads history_window)
            view = dataclasses.replace(ctx, settings=ctx.settings.model_copy(
                update={"history_window": s.history_items}))
            pipeline = StagedPipeline(name, view, [behaviour_source(model)], ranker, rrf_k=assets.rrf_k,
                                      depth=assets.fusion_depth, models=models, checkpoints=checkpoints,
                                      score_model=model)  # the LLM ignores them; *-fused reads them
            pipeline.uses_llm = True
            return pipeline
        registry.register(name, factory)

    lora_staged("sasrec+llm-lora", "sasrec")
    lora_staged("ease+llm-lora", "ease")

    def lora_fused(part: str) -> None:
        def factory(ctx: EvalContext) -> Pipeline:
            from agent.ranking.cross_encoder import FusionRanker
            from agent.ranking.rerank import RetrievalOrderRanker

            staged = registry.build(f"{part}+llm-lora", ctx)
            assert isinstance(staged, StagedPipeline) and staged.ranker is not None
            trained, _ = llm_lora(ctx)
            tuning = load_lora_fusion(trained.folder, trained.weights, part, ctx.settings.protocol)
            staged.name = f"{part}+llm-lora-fused"
            staged.ranker = FusionRanker(RetrievalOrderRanker(), staged.ranker, tuning.weight, tuning.temperature,
                                         max_candidates=ctx.settings.rerank_k)
            staged.models["lora_fusion"] = (f"weight {tuning.weight:g}, temperature {tuning.temperature:g} "
                                            f"({tuning.users} validation users)")
            return staged
        registry.register(f"{part}+llm-lora-fused", factory)

    lora_fused("sasrec")
    lora_fused("ease")
    return registry


class MemoRanker:
    """A ranker whose results are kept per (context, candidate ids in order): two pipelines
    asking the same LLM the same question (``sasrec+llm-lora`` and ``sasrec+llm-lora-fused``
    in one run) pay for it once. Other attributes are the wrapped ranker's."""

    def __init__(self, ranker: "Ranker") -> None:
        self.ranker = ranker
        self.memo: dict[tuple[str, tuple[str, ...]], "RerankResult"] = {}

    def rank(self, context: "Context", candidates: Sequence[Candidate]) -> "RerankResult":
        key = (context.text, tuple(c.item.id for c in candidates))
        if key not in self.memo:
            self.memo[key] = self.ranker.rank(context, candidates)
        return self.memo[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ranker, name)


# ----------------------------------------------------------------------------- fusion tuning


def fusion_examples(cases: Sequence[UserCase], split_name: str, ctx: EvalContext, ce: "Ranker", llm: "Ranker",
                    progress: bool = True) -> list[Any]:
    """Per user: retrieval top ``rerank_k``, cross-encoder logits and LLM probabilities over it
    (:class:`eval.train.ranker.FusionExample`). Degraded users are skipped."""
    from tqdm.auto import tqdm

    from agent.understanding.context import build_context
    from agent.types import Turn
    from eval.train.ranker import FusionExample

    s = ctx.settings
    out = []
    for case in tqdm(cases, desc="fusion (validation)", disable=not progress):
        with ctx.retrieval_lock:
            cands = ctx.retriever.retrieve(history=list(case.history), k=s.rerank_k)
        cands = [Candidate(ctx.items.get(c.item.id, c.item), c.score, c.rank, c.sources) for c in cands]
        hist = [ctx.items[h] for h in case.history[-s.history_window:] if h in ctx.items]
        context = build_context([Turn("user", s.instruction)], lambda t: len(t.split()), 1500, history=hist)
        a, b = ce.rank(context, cands), llm.rank(context, cands)
        if a.degraded or b.degraded:
            continue
        sa = {x.item.id: x.score for x in a.ranked}
        sb = {x.item.id: x.score for x in b.ranked}
        ids = tuple(c.item.id for c in cands)
        out.append(FusionExample(case.user_id, split_name, case.target, ids, tuple(sa[i] for i in ids),
                                 tuple(sb[i] for i in ids)))
    return out


def tune_fusion_on_validation(dataset: str, ranker: str, *, users: int = 100, llm: str | None = None,
                              llm_url: str | None = None, seed: int = 0) -> tuple[Any, Path]:
    """Tune the fusion weight on ``users`` VALIDATION-split users and save it (:func:`fusion_path`)."""
    from agent.ranking.cross_encoder import CrossEncoderRanker, resolve_ranker
    from agent.ranking.rerank import VerbalizerRanker
    from agent.settings import AgentSettings
    from eval.runner import prepare
    from eval.train.ranker import tune_fusion_weight

    kw = {k: v for k, v in {"llm": llm, "llm_url": llm_url}.items() if v is not None}
    settings = EvalSettings(dataset=dataset, protocol="full", split="validation", users=users, seed=seed,
                            pipelines=["retrieval"], explain=False, agent=AgentSettings(**kw))
    prepared = prepare(settings)
    try:
        ctx = prepared.ctx
        ranker_dir = resolve_ranker(ranker)
        examples = fusion_examples(prepared.cases, prepared.split.split, ctx, CrossEncoderRanker(ranker_dir),
                                   VerbalizerRanker(ctx.engine(), ctx.agent_settings()))
        tuning = tune_fusion_weight(examples)
    finally:
        prepared.ctx.close()
    path = fusion_path(ranker_dir, settings.agent.llm)
    path.write_text(tuning.model_dump_json(indent=1), encoding="utf-8")
    return tuning, path


# ----------------------------------------------------------------------------- LoRA ranker beside SASRec


#: SASRec softmax temperatures tried by :func:`tune_lora_fusion_on_validation` (with weights 0..1).
TEMPERATURES = (0.5, 1.0, 2.0, 4.0)


def lora_fusion_path(adapter_dir: Path, source: str, protocol: str) -> Path:
    """Where ``recchat train lora-fusion`` stores an adapter's tuning beside ``source`` for a protocol."""
    return adapter_dir / f"fusion-{source}-{protocol}.json"


def load_lora_fusion(adapter_dir: Path, weights: Path, source: str, protocol: str) -> Any:
    """The tuning saved by :func:`tune_lora_fusion_on_validation` for this adapter, source and
    protocol; ValueError (naming the command) when there is none or it was tuned for other
    adapter weights (training republished the adapter since)."""
    from eval.train.ranker import LoRAFusionTuning
    from retrieval.assets import sha256_file

    path = lora_fusion_path(adapter_dir, source, protocol)
    hint = (f"run recchat train lora-fusion --llm-ranker {adapter_dir} --source {source} --protocol {protocol} "
            "(validation split)")
    if not path.is_file():
        raise ValueError(f"no tuned LoRA fusion weight at {path}: {hint}")
    tuning = LoRAFusionTuning.model_validate_json(path.read_text(encoding="utf-8"))
    if tuning.adapter_sha256 != sha256_file(weights, progress=False):
        raise ValueError(f"{path} was tuned for other adapter weights than {weights} (retrained since): {hint}")
    return tuning


def tune_lora_fusion_on_validation(dataset: str, llm_ranker: str, *, source: str = "sasrec",
                                   sasrec: str | None = None, protocol: str = "sampled", users: int = 100,
                                   seed: int = 0, agent: Any = None, data: "EvalDataset | None" = None,
                                   home: Path | None = None, progress: bool = True) -> tuple[Any, Path]:
    """Tune the weight and temperature of ``<source>+llm-lora-fused`` (source ``sasrec`` or
    ``ease``) on ``users`` VALIDATION users of ``protocol`` (the LLM scores each user's
    candidates once; the grid is then free) and save them beside the adapter
    (:func:`lora_fusion_path`). ``data``/``home``: an already loaded dataset and the home of its
    candidate files (tests)."""
    from tqdm.auto import tqdm

    from agent.settings import AgentSettings
    from eval.runner import prepare
    from eval.train.llm_ranker import load_llm_ranker
    from eval.train.ranker import FusionExample, LoRAFusionTuning, tune_fusion_weight
    from retrieval.assets import sha256_file

    if source not in ("sasrec", "ease"):
        raise ValueError(f"source must be sasrec or ease, got {source!r}")
    trained = load_llm_ranker(llm_ranker)
    agent = agent or AgentSettings(llm=trained.settings.llm)
    settings = EvalSettings(dataset=dataset, protocol=protocol, split="validation", users=users, seed=seed,
                            pipelines=[f"{source}+llm-lora-fused"], explain=False, agent=agent)
    prepared = prepare(settings, dataset=data, home=home, progress=progress)
    try:
        assets = TrainedAssets(sasrec=sasrec, llm_ranker=llm_ranker)
        require_checkpoints(settings.pipelines, assets)
        registry = trained_registry(settings, prepared.dataset, assets)
        pipeline = registry.build(f"{source}+llm-lora", prepared.ctx)
        assert isinstance(pipeline, StagedPipeline) and pipeline.ranker is not None
        examples = []
        for request in tqdm(prepared.requests(), desc="LoRA fusion (validation)", disable=not progress):
            cands, context = pipeline.rerank_inputs(request, pipeline.source_order(request)[: settings.rerank_k])
            result = pipeline.ranker.rank(context, cands)
            if result.degraded:
                continue
            llm = {x.item.id: x.score for x in result.ranked}
            examples.append(FusionExample(request.case.user_id, "validation", request.case.target,
                                          tuple(c.item.id for c in cands), tuple(c.score for c in cands),
                                          tuple(llm[c.item.id] for c in cands)))
        grid = [tune_fusion_weight(examples, temperature=t) for t in TEMPERATURES]
        best = max(grid, key=lambda tu: (tu.ndcg_at_10[f"{tu.weight:g}"], -tu.temperature))
    finally:
        prepared.ctx.close()
    tuning = LoRAFusionTuning(**best.model_dump(), protocol=protocol, source=source, sasrec=sasrec,
                              adapter_sha256=sha256_file(trained.weights, progress=False),
                              by_temperature={f"{tu.temperature:g}": tu.ndcg_at_10 for tu in grid})
    path = lora_fusion_path(trained.folder, source, protocol)
    path.write_text(tuning.model_dump_json(indent=1), encoding="utf-8")
    return tuning, path
