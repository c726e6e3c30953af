"""LLM rerank benchmark: server start, one uncached scoring pass, the full P-permutation rerank,
explanation throughput and end-to-end turn latency, per model.

Run: ``recchat bench rerank [--models a,b] [--permutations 3] [--queries 6]``. Each model gets
its own local vLLM server (started and stopped here). Baselines in the same run:

* ``uncached_pass_s``: ONE forward pass over a fresh 20-candidate prompt (no prefix in cache);
  in the ``inline`` layout (every candidate line holds its full description);
* ``rerank_<variant>_s``: the full rerank with P permutations of a NEW conversation, for each
  prompt layout (``inline``; ``split`` = descriptions once in the shared prefix, each
  permutation only relabels titles) and submission (all P requests at once, or ``_primed``:
  the first alone, so the others find the shared prefix in vLLM's cache);
  ``rerank_<variant>_over_uncached`` = rerank_<variant>_s / uncached_pass_s (target <= 1.5);
* ``explain_tok_per_s``: generated tokens / seconds of the batched top-3 explanation request;
* ``turn_p50_s``: retrieve -> rerank -> explain for the queries, median.
Each query uses a distinct message, so nothing is served from the cache by accident.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

QUERIES = [
    "a tense crime thriller from the 90s, not horror",
    "a funny animated movie for kids",
    "something romantic set in Paris",
    "a mind-bending science fiction film",
    "an old western with a lone gunslinger",
    "a feel-good sports movie about an underdog team",
    "a war film about soldiers in Vietnam",
    "a quirky independent comedy about a dysfunctional family",
]

# rerank variants timed per query: name -> (AgentSettings.rerank_layout, AgentSettings.prime_prefix)
VARIANTS = {"inline": ("inline", False), "inline_primed": ("inline", True),
            "split": ("split", False), "split_primed": ("split", True)}


def _bench_model(model: str, catalog: str, permutations: int, n_queries: int, console: Console) -> dict:
    from agent.llm.engines import make_engine
    from agent.reasons.explain import Explainer
    from agent.pipeline import RecommendPipeline, TurnRequest
    from agent.ranking.rerank import VerbalizerRanker
    from agent.settings import AgentSettings
    from agent.types import Turn
    from agent.understanding.context import build_context
    from agent.llm.vllm_server import find_free_port
    from retrieval.retriever import Retriever
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    settings = AgentSettings(llm=model, llm_port=find_free_port(), permutations=permutations)
    store = ChromaStore(RetrievalSettings(catalog=catalog))
    retriever = Retriever(store, catalog)
    store.embedder.encode(["warm-up"])
    t0 = time.perf_counter()
    engine = make_engine(settings)
    start_s = time.perf_counter() - t0
    try:
        ranker = VerbalizerRanker(engine, settings.model_copy(update={"rerank_layout": "inline"}))
        split_ranker = VerbalizerRanker(engine, settings.model_copy(update={"rerank_layout": "split"}))
        explainer = Explainer(engine, settings)
        pipeline = RecommendPipeline(retriever, VerbalizerRanker(engine, settings), settings, explainer, engine.count_tokens)
        labels = [chr(ord("A") + i) for i in range(settings.max_candidates)]
        uncached, tok_rates, turns, prompt_tokens, split_tokens = [], [], [], [], []
        reranks: dict[str, list[float]] = {v: [] for v in VARIANTS}
        queries = (QUERIES * 3)[: n_queries * 3]
        for i in range(n_queries):
            # 1) one uncached pass: a message never seen before, permutation 0 only
            q1 = f"{queries[3 * i]} (request {i}a)"
            cands = retriever.retrieve(q1, k=settings.max_candidates)
            ctx = build_context([Turn("user", q1)], engine.count_tokens, settings.context_token_budget)
            msgs = ranker.messages(ctx, cands)
            prompt_tokens.append(engine.count_tokens(" ".join(m.content for m in msgs)))
            split_msgs = split_ranker.messages(ctx, cands)
            split_tokens.append(engine.count_tokens(" ".join(m.content for m in split_msgs)))
            t = time.perf_counter()
            engine.score_choices([msgs], labels[: len(cands)], prefill="Answer: (")
            uncached.append(time.perf_counter() - t)
            # 2) the full rerank of fresh messages: P permutations, per prompt layout and
            #    submission (all orders at once, or the first alone to prime the prefix cache)
            for variant, (layout, prime) in VARIANTS.items():
                q2 = f"{queries[3 * i + 1]} (request {i}b-{variant})"
                cands = retriever.retrieve(q2, k=settings.max_candidates)
                ctx = build_context([Turn("user", q2)], engine.count_tokens, settings.context_token_budget)
                variant_ranker = VerbalizerRanker(
                    engine, settings.model_copy(update={"rerank_layout": layout, "prime_prefix": prime}))
                t = time.perf_counter()
                result = variant_ranker.rank(ctx, cands)
                reranks[variant].append(time.perf_counter() - t)
                if result.degraded:
                    raise RuntimeError(f"rerank degraded during the benchmark: {result.error}")
            # 3) explanation throughput of the batched top-3
            t = time.perf_counter()
            n_calls = len(engine.calls)
            explainer.explain(ctx, result.ranked[: settings.explain_top_k])
            elapsed = time.perf_counter() - t
            generated = sum(c.completion_tokens for c in engine.calls[n_calls:])
            tok_rates.append(generated / elapsed if elapsed else 0.0)
            # 4) end-to-end turn
            q3 = f"{queries[3 * i + 2]} (request {i}c)"
            turns.append(pipeline.run(TurnRequest(turns=[Turn("user", q3)], k=10)).timings["total_s"])
            shown = ", ".join(f"{v} {r[-1]:.2f} s" for v, r in reranks.items())
            console.print(f"  {model} query {i + 1}/{n_queries}: pass {uncached[-1]:.2f} s, rerank {shown}, "
                          f"explain {tok_rates[-1]:.1f} tok/s, turn {turns[-1]:.2f} s")
        med = statistics.median
        return {
            "model": model, "permutations": permutations, "candidates": settings.max_candidates,
            "server_start_s": round(start_s, 1), "prompt_tokens_p50": med(prompt_tokens),
            "split_prompt_tokens_p50": med(split_tokens),
            "uncached_pass_s": round(med(uncached), 3),
            **{f"rerank_{v}_s": round(med(r), 3) for v, r in reranks.items()},
            **{f"rerank_{v}_over_uncached": round(med(r) / med(uncached), 2) for v, r in reranks.items()},
            "explain_tok_per_s": round(med(tok_rates), 1), "turn_p50_s": round(med(turns), 2),
            "queries": n_queries,
        }
    finally:
        engine.close()


def run(models: list[str], catalog: str, permutations: int, n_queries: int, out: Path) -> dict:
    console = Console(width=160)
    rows = []
    for model in models:
        console.print(f"[bold]{model}[/]: starting a local vLLM server ...")
        rows.append(_bench_model(model, catalog, permutations, n_queries, console))
    table = Table(title=f"rerank benchmark ({catalog}, P={permutations}, medians over {n_queries} queries)")
    cols = ["model", "server_start_s", "prompt_tokens_p50", "uncached_pass_s",
            *[f"rerank_{v}_over_uncached" for v in VARIANTS], "explain_tok_per_s", "turn_p50_s"]
    for col in cols:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*[str(row[c]) for c in cols])
    console.print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"catalog": catalog, "rows": rows}, indent=2))
    console.print(f"wrote {out}")
    return {"rows": rows}
