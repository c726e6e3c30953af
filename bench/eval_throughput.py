"""Offline evaluation throughput (users/s) of each pipeline, on the same users, in one run.

Run: ``recchat bench eval-throughput [--dataset movielens-100k] [--protocol full] [--users 200]
[--slow-users 8] [--pipelines ...] [--ranker ce-ml100k] [--retriever st-ml100k]``.

Every pipeline goes through the eval harness exactly as ``recchat eval`` / ``recchat train eval``
run it (:func:`eval.runner.prepare`, :func:`eval.runner.run_pipeline`; a fresh cache folder, so
every user is computed now). Before timing, each pipeline ranks one user untimed, so one-off
start-up (vLLM server start, kNN matrix, model loading, index check) is reported separately as
``startup_s`` and not mixed into users/s. Pipelines with an LLM or a cross-encoder (see
:data:`SLOW`) rank only the first ``slow_users`` users (the LLM ones ``concurrency`` at a time,
as the harness does); the others rank ``users``. Baseline: ``popularity`` in the same run, so
the ``x popularity`` column is a cost ratio that holds on a noisy machine. users/s is the
harness's wall clock (it fsyncs one cache line per user, ~ms, which bounds the fastest pipelines);
``ranking_s_per_user_mean`` is the pipeline's own time per user (what ``recchat eval`` reports).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SLOW = ("+llm", "+ranker", "ranker+")
DEFAULT_PIPELINES = "popularity,retrieval,knn,retrieval+knn,retrieval-ft,knn+ranker,retrieval+llm"


def is_slow(name: str) -> bool:
    """True for pipelines with an LLM or a cross-encoder stage (ranked on fewer users)."""
    return any(tag in name for tag in SLOW)


def parse_pipelines(spec: str) -> list[str]:
    """Pipeline names from a comma list; ``popularity`` (the baseline) is always first."""
    names = [p.strip() for p in spec.split(",") if p.strip()]
    return ["popularity", *[n for n in dict.fromkeys(names) if n != "popularity"]]


def throughput_row(name: str, users: int, seconds: float, baseline_users_per_s: float | None) -> dict[str, Any]:
    """users/s and seconds/user of ``users`` ranked in ``seconds`` (wall), and the cost ratio to
    the baseline's users/s (how many times slower; None without a baseline)."""
    if users <= 0 or seconds <= 0:
        raise ValueError("need users > 0 and seconds > 0")
    ups = users / seconds
    return {"pipeline": name, "users": users, "seconds": round(seconds, 3), "users_per_s": round(ups, 3),
            "s_per_user": round(seconds / users, 5),
            "x_popularity": round(baseline_users_per_s / ups, 1) if baseline_users_per_s else None}


def run(dataset: str, protocol: str, pipelines: Sequence[str], users: int, slow_users: int, out: Path, *,
        ranker: str | None = None, retriever: str | None = None, llm: str | None = None,
        explain: bool = False, seed: int = 0) -> dict[str, Any]:
    """The benchmark (see module doc); prints a table, writes ``out`` (JSON)."""
    from rich.console import Console
    from rich.table import Table

    from agent.settings import AgentSettings
    from eval.data import load_dataset
    from eval.runner import prepare, run_pipeline
    from eval.settings import EvalSettings
    from eval.train.pipelines import TrainedAssets, require_checkpoints, trained_registry

    console = Console(width=160)
    settings = EvalSettings(dataset=dataset, protocol=protocol, pipelines=",".join(pipelines), users=users or None,
                            seed=seed, explain=explain, agent=AgentSettings(**({"llm": llm} if llm else {})))
    assets = TrainedAssets(ranker=ranker, retriever=retriever)
    require_checkpoints(pipelines, assets)
    data = load_dataset(dataset)
    registry = trained_registry(settings, data, assets)
    t0 = time.perf_counter()
    prepared = prepare(settings, dataset=data, progress=False)
    prepare_s = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []
    baseline: float | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in pipelines:
                n = min(slow_users, len(prepared.cases)) if is_slow(name) else len(prepared.cases)
                subset = dataclasses.replace(prepared, cases=prepared.cases[:n])
                t0 = time.perf_counter()
                pipeline = registry.build(name, prepared.ctx)
                pipeline.recommend(subset.requests()[-1])  # untimed warm-up: start-up costs
                startup_s = time.perf_counter() - t0
                cache = Path(tmp) / name.replace("+", "_")
                cache.mkdir()
                result = run_pipeline(pipeline, subset, cache, progress=True)
                failed = sum(1 for r in result.records if r.failed)
                row = throughput_row(name, result.computed, result.seconds, baseline)
                compute = [r.timings["total_s"] for r in result.records]
                row.update({"startup_s": round(startup_s, 2), "failed_users": failed,
                            "ranking_s_per_user_mean": round(sum(compute) / len(compute), 5),
                            "in_flight": settings.concurrency if pipeline.uses_llm else 1})
                if name == "popularity":
                    baseline = row["users_per_s"]
                    row["x_popularity"] = 1.0
                rows.append(row)
                console.print(f"{name}: {row['users_per_s']} users/s over {n} users (start-up {row['startup_s']} s)")
    finally:
        prepared.ctx.close()
    report = {"benchmark": "eval_throughput", "dataset": dataset, "protocol": protocol, "users": len(prepared.cases),
              "slow_users": slow_users, "explain": explain, "llm": settings.agent.llm, "ranker": ranker, "retriever": retriever,
              "concurrency": settings.concurrency, "permutations": settings.agent.permutations, "prepare_s": round(prepare_s, 2),
              "machine": {"platform": platform.platform(), "processor": platform.processor()}, "pipelines": rows}
    table = Table(title=f"eval throughput: {dataset}, {protocol} protocol (baseline popularity)")
    for col in ("pipeline", "users", "users/s", "s/user", "ranking s/user", "x popularity", "start-up s", "in flight",
                "failed"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["pipeline"], str(r["users"]), str(r["users_per_s"]), str(r["s_per_user"]),
                      str(r["ranking_s_per_user_mean"]), str(r["x_popularity"]),
                      str(r["startup_s"]), str(r["in_flight"]), str(r["failed_users"]))
    console.print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out}")
    return report
