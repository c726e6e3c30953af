"""LLM rerank benchmark: server start, one uncached scoring pass, the full P-permutation rerank,
explanation throughput and end-to-end turn latency, per model.

Run: ``recchat bench rerank [--models a,b] [--permutations 3] [--queries 6]``. Each model gets
its own local vLLM server (started and stopped here). Baselines in the same run:

* ``uncached_pass_s``: ONE forward pass over a fresh 20-candidate prompt (no prefix in cache);
* ``rerank_s``: the full rerank with P permutations of a NEW conversation (the shared
  instructions + conversation prefix is computed once and cached by vLLM);
  ``rerank_over_uncached`` = rerank_s / uncached_pass_s (target <= 1.5);
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


def _bench_model(model: str, catalog: str, permutations: int, n_queries: int, console: Console) -> dict:
    from agent.engines import make_engine
    from agent.explain import Explainer
    from agent.pipeline import RecommendPipeline, TurnRequest
    from agent.rerank import VerbalizerRanker
    from agent.settings import AgentSettings
    from agent.types import Turn
    from agent.context import build_context
    from agent.vllm_server import find_free_port
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
        ranker = VerbalizerRanker(engine, settings)
        explainer = Explainer(engine, settings)
        pipeline = RecommendPipeline(retriever, ranker, settings, explainer, engine.count_tokens)
        labels = [chr(ord("A") + i) for i in range(settings.max_candidates)]
        uncached, reranks, tok_rates, turns, prompt_tokens = [], [], [], [], []
        queries = (QUERIES * 3)[: n_queries * 3]
        for i in range(n_queries):
            # 1) one uncached pass: a message never seen before, permutation 0 only
            q1 = f"{queries[3 * i]} (request {i}a)"
            cands = retriever.retrieve(q1, k=settings.max_candidates)
            ctx = build_context([Turn("user", q1)], engine.count_tokens, settings.context_token_budget)
            msgs = ranker.messages(ctx, cands)
            prompt_tokens.append(engine.count_tokens(" ".join(m.content for m in msgs)))
            t = time.perf_counter()
            engine.score_choices([msgs], labels[: len(cands)], prefill="Answer: (")
            uncached.append(time.perf_counter() - t)
            # 2) the full rerank of another fresh message: P permutations in one batch
            q2 = f"{queries[3 * i + 1]} (request {i}b)"
            cands = retriever.retrieve(q2, k=settings.max_candidates)
            ctx = build_context([Turn("user", q2)], engine.count_tokens, settings.context_token_budget)
            t = time.perf_counter()
            result = ranker.rank(ctx, cands)
            reranks.append(time.perf_counter() - t)
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
            console.print(f"  {model} query {i + 1}/{n_queries}: pass {uncached[-1]:.2f} s, rerank {reranks[-1]:.2f} s, "
                          f"explain {tok_rates[-1]:.1f} tok/s, turn {turns[-1]:.2f} s")
        med = statistics.median
        return {
            "model": model, "permutations": permutations, "candidates": settings.max_candidates,
            "server_start_s": round(start_s, 1), "prompt_tokens_p50": med(prompt_tokens),
            "uncached_pass_s": round(med(uncached), 3), "rerank_s": round(med(reranks), 3),
            "rerank_over_uncached": round(med(reranks) / med(uncached), 2),
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
    cols = ["model", "server_start_s", "prompt_tokens_p50", "uncached_pass_s", "rerank_s", "rerank_over_uncached",
            "explain_tok_per_s", "turn_p50_s"]
    for col in cols:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*[str(row[c]) for c in cols])
    console.print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"catalog": catalog, "rows": rows}, indent=2))
    console.print(f"wrote {out}")
    return {"rows": rows}
