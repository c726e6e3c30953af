"""Where exact scan stops paying: the measured sweep behind ``RetrievalSettings.exact_scan_max``.

Run: ``recchat bench exact-scan [--size 100k] [--queries 100]``. One index of the synthetic
catalog of :mod:`bench.scale` (real MiniLM vectors mixed, embedding excluded) is queried through
:meth:`Retriever.search` with year-range filters of growing width (the years are uniform over
1920-2024, so a range of ``w`` years passes about ``w/105`` of the items). For each filter, the
same queries run twice in the same process:

* ``exact``: ``exact_scan_max`` above the passing count (one dot product over the cached vectors);
* ``hnsw``: ``exact_scan_max = 0`` (HNSW over-fetch + post-filter, Chroma's filter as fallback).

Reported per filter: passing items, p50/p95 ms of each path, the path the HNSW side took, and
its recall@k against the exact result (the exact path is the reference: recall 1 by
construction). :func:`crossover` says up to which passing count exact scan is faster and from
which HNSW is, with its recall there: ``exact_scan_max`` belongs between the two.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

YEAR_SPANS = (1, 2, 5, 10, 20, 30, 50, 75, 105)


def crossover(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Where the paths cross, from the sweep's rows (sorted by ``passing``): the largest passing count
    up to which exact scan is faster at p50 at every row, the first count from which HNSW is
    faster at every larger row, and the HNSW recall@k at that count (None where they never cross)."""
    exact_wins = [r["exact"]["p50_ms"] <= r["hnsw"]["p50_ms"] for r in rows]
    upto = next((i for i, win in enumerate(exact_wins) if not win), len(rows))
    start = next((i for i in range(len(rows)) if not any(exact_wins[i:])), None)
    return {"exact_faster_up_to_passing": rows[upto - 1]["passing"] if upto else None,
            "hnsw_faster_from_passing": rows[start]["passing"] if start is not None else None,
            "hnsw_recall_there": rows[start]["hnsw_recall_at_k"] if start is not None else None}


def run(size: int, n_queries: int, out: Path, *, k: int = 50, spans: Sequence[int] = YEAR_SPANS,
        seed: int = 0, overfetches: Sequence[float] = ()) -> dict[str, Any]:
    """The sweep above; prints a table, writes ``out`` (JSON). ``overfetches``: post-filter
    over-fetch factors for the HNSW side, the first one in ``hnsw`` (the crossover's), every one in
    ``hnsw_by_overfetch``; default: the setting's value only."""
    from rich.console import Console
    from rich.table import Table

    from bench.retrieval import WORDS
    from bench.scale import MixedVectors, latency_summary, scale_items
    from retrieval.embedder import Embedder
    from retrieval.retriever import Filters, Retriever
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    console = Console(width=160)
    embedder = Embedder("minilm")
    base = embedder.encode([it.document() for it in scale_items(2000, seed)], batch_size=64)
    rng = np.random.default_rng(seed + 1)
    queries = embedder.encode([" ".join(rng.choice(WORDS, 6)) for _ in range(n_queries)])
    work = Path(tempfile.mkdtemp(prefix="rc-exact-scan-"))
    try:
        store = ChromaStore(RetrievalSettings(chroma_path=str(work)), MixedVectors(base, embedder.model_id, seed))
        t0 = time.perf_counter()
        store.index("sweep", scale_items(size, seed), progress=True)
        build_s = time.perf_counter() - t0
        overfetches = list(overfetches) or [store.settings.overfetch]
        exact = Retriever(store, "sweep", exact_scan_max=size)
        hnsws = [Retriever(store, "sweep", exact_scan_max=0, overfetch=f) for f in overfetches]
        exact.search(queries[0], k, Filters(year_min=1990, year_max=1990))  # loads mirror + vector cache
        hnsws[0].search(queries[0], k)  # loads the HNSW segment
        rows = []
        for span in spans:
            flt = Filters(year_min=1920, year_max=1920 + span - 1)
            passing = int(flt.mask(store.mirror("sweep")).sum())
            lat_e = []
            lat_h: list[list[float]] = [[] for _ in hnsws]
            recalls: list[list[float]] = [[] for _ in hnsws]
            paths: list[dict[str, int]] = [{} for _ in hnsws]
            for q in queries:
                t = time.perf_counter()
                want = {h.id for h in exact.search(q, k, flt)}
                lat_e.append(time.perf_counter() - t)
                for i, hnsw in enumerate(hnsws):
                    t = time.perf_counter()
                    got = hnsw.search_with_path(q, k, flt)
                    lat_h[i].append(time.perf_counter() - t)
                    paths[i][got.path] = paths[i].get(got.path, 0) + 1
                    recalls[i].append(len(want & {h.id for h in got.hits}) / max(1, len(want)))
            by = {str(f): {**latency_summary(lat_h[i]), "paths": paths[i],
                           "recall_at_k": round(float(np.mean(recalls[i])), 4)} for i, f in enumerate(overfetches)}
            rows.append({"year_span": span, "passing": passing, "share": round(passing / size, 4),
                         "exact": latency_summary(lat_e), "hnsw": latency_summary(lat_h[0]), "hnsw_paths": paths[0],
                         "hnsw_recall_at_k": by[str(overfetches[0])]["recall_at_k"], "hnsw_by_overfetch": by})
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {"benchmark": "exact-scan", "config": {"size": size, "queries": n_queries, "k": k, "seed": seed,
                                                      "default_exact_scan_max": RetrievalSettings().exact_scan_max,
                                                      "overfetches": overfetches,
                                                      "machine": {"platform": platform.platform(),
                                                                  "cpus": os.cpu_count()}},
               "build_s": round(build_s, 1), "rows": rows, **crossover(rows)}
    table = Table(title=f"exact scan vs HNSW post-filter, {size:,} items, k={k} (p50 / p95 ms)")
    for col in ("year span", "passing", "share", "exact", "hnsw", "hnsw path", "hnsw recall@k"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["year_span"]), f"{r['passing']:,}", f"{r['share']:.1%}",
                      f"{r['exact']['p50_ms']} / {r['exact']['p95_ms']}", f"{r['hnsw']['p50_ms']} / {r['hnsw']['p95_ms']}",
                      ", ".join(f"{p} {c}" for p, c in r["hnsw_paths"].items()), str(r["hnsw_recall_at_k"]))
    console.print(table)
    if len(overfetches) > 1:
        by_f = Table(title="HNSW post-filter by over-fetch factor (p50 ms / recall@k)")
        by_f.add_column("passing")
        for f in overfetches:
            by_f.add_column(f"x{f}")
        for r in rows:
            by_f.add_row(f"{r['passing']:,}", *(f"{v['p50_ms']} / {v['recall_at_k']}" for v in r["hnsw_by_overfetch"].values()))
        console.print(by_f)
    console.print(f"HNSW post-filter faster at p50 from {results['hnsw_faster_from_passing']} passing items "
                  f"(recall@k there: {results['hnsw_recall_there']}); exact scan is faster up to "
                  f"{results['exact_faster_up_to_passing']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {out}")
    return results
