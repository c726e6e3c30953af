"""Retrieval benchmark: indexing overhead, query latency (with/without filters), memory, recall.

Run: ``recchat bench retrieval [--sizes 10000,100000] [--queries 200]``. Prints a table and writes
JSON. Every figure is measured against a baseline in the same run:

* indexing throughput of ``ChromaStore.index`` vs raw ``SentenceTransformer.encode`` of the same
  texts (overhead = extra time, %), on the smallest size (real MiniLM embeddings);
* unfiltered query latency p50/p95 (n_results=50) of the retriever (ids + distances from HNSW,
  metadata from the mirror) vs a plain Chroma query that also returns metadata, and vs an exact
  numpy scan of all vectors; recall@50 vs that exact scan;
* an ``ef_search`` sweep (each value: the index reopened with it, latency + recall@50), so the
  configured value is a documented choice (the smallest with recall >= 0.98);
* filtered queries: Chroma's own filtered query vs the retriever (whichever path it picks:
  exact scan / post-filter / Chroma filter), with each forced path timed too, the share of
  queries where both return the same ids, and recall vs an exact filtered scan.

``recchat bench index-memory`` (:func:`run_index_memory`) measures peak RSS of ``recchat index``
on synthetic catalog files of growing size, each in a fresh process.

Synthetic catalog: titles, years (1920-2020, uniform), 1-3 MovieLens genres and ~40-word texts.
Vectors: the smallest size is embedded for real with MiniLM; larger sizes reuse those real
embeddings, each new vector a normalised mix of two real ones plus noise (embedding 100k texts
takes ~5 min on 2 cores and tells nothing more about Chroma).
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

GENRES = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
WORDS = ("love war city night family secret journey ship island robot ghost heist king queen river "
         "mountain school summer winter music dance killer detective police dream space planet alien horse "
         "desert ocean storm fire train prison escape revenge friendship betrayal hero villain monster doctor "
         "lawyer soldier spy agent mission treasure magic dragon forest village empire rebel town farm").split()


EF_SWEEP = (50, 64, 80, 100, 128, 160, 200, 256)


def synthetic_items(n: int, seed: int = 0, words_per_text: int = 40):
    """``n`` synthetic films (ids ``s0..``): 1-3 word titles, years 1920-2020, 1-3 MovieLens
    genres, a ``words_per_text``-word text."""
    from retrieval.items import Item

    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        words = rng.choice(WORDS, size=words_per_text)
        title = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 4)))).title()
        genres = list(rng.choice(GENRES, size=int(rng.integers(1, 4)), replace=False))
        items.append(Item(id=f"s{i}", title=title, year=int(rng.integers(1920, 2021)), genres=genres,
                          text=" ".join(words).capitalize() + "."))
    return items


def expand_vectors(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors: the real ``base`` rows first, then mixes of two real rows plus noise."""
    rng = np.random.default_rng(seed)
    if n <= len(base):
        return base[:n]
    m = n - len(base)
    a, b = rng.integers(0, len(base), m), rng.integers(0, len(base), m)
    w = rng.uniform(0.2, 0.8, (m, 1)).astype(np.float32)
    extra = w * base[a] + (1 - w) * base[b] + rng.normal(0, 0.02, (m, base.shape[1])).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    return np.concatenate([base, extra]).astype(np.float32)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


class _FixedVectors:
    """Embedder stand-in that hands out precomputed vectors for the larger sizes (model id kept)."""

    def __init__(self, real, vectors: np.ndarray) -> None:
        self.model_id, self.dim = real.model_id, real.dim
        self._vectors, self._pos = vectors, 0

    def encode(self, texts, batch_size=64, progress=False, kind="query"):
        out = self._vectors[self._pos : self._pos + len(texts)]
        self._pos += len(texts)
        return out


def _lat(fn, queries) -> tuple[list[float], list]:
    """Per-query wall-clock seconds and results of ``fn(q)`` (one warm-up call first)."""
    fn(queries[0])
    lat, out = [], []
    for q in queries:
        t0 = time.perf_counter()
        out.append(fn(q))
        lat.append(time.perf_counter() - t0)
    return lat, out


def _p(lat: list[float]) -> dict:
    return {"p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2)}


def _exact_top(stored: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None = None) -> set[str]:
    sims = stored @ q if mask is None else np.where(mask, stored @ q, -np.inf)
    top = np.argpartition(-sims, k)[:k]
    return {f"s{i}" for i in top.tolist() if np.isfinite(sims[i])}


def _reopen(path: Path, embedder, ef: int | None = None):
    """A fresh store on ``path`` whose first open applies ``ef_search`` (Chroma applies a changed
    ``ef_search`` only when the index is loaded, so the in-process client cache is cleared)."""
    from chromadb.api.client import SharedSystemClient

    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    SharedSystemClient.clear_system_cache()
    overrides = {} if ef is None else {"hnsw_ef_search": ef}
    return ChromaStore(RetrievalSettings(chroma_path=str(path), **overrides), embedder)


def run(sizes: list[int], n_queries: int, out: Path, k: int = 50, ef_sweep: tuple[int, ...] = EF_SWEEP) -> dict:
    from retrieval.embedder import Embedder
    from retrieval.retriever import Filters, Retriever
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    console = Console(width=160)
    sizes = sorted(sizes)
    embedder = Embedder("minilm")
    base_n = sizes[0]
    items_all = synthetic_items(sizes[-1])
    texts = [it.document() for it in items_all[:base_n]]
    embedder.encode(texts[:64])  # warm-up

    # Baseline: raw encode of the same texts.
    t0 = time.perf_counter()
    base_vectors = embedder.encode(texts, batch_size=64)
    raw_encode_s = time.perf_counter() - t0
    vectors = expand_vectors(base_vectors, sizes[-1])
    rng = np.random.default_rng(1)
    queries = expand_vectors(embedder.encode([" ".join(rng.choice(WORDS, 6)) for _ in range(n_queries)]), n_queries)
    filters = {
        "year decade (~10%)": Filters(year_min=1990, year_max=1999),
        "genre (~11%)": Filters(genres=("Crime",)),
        "year + genre (~1%)": Filters(year_min=1990, year_max=1999, genres=("Crime",)),
    }
    defaults = RetrievalSettings()
    results: dict = {"config": {"sizes": sizes, "queries": n_queries, "k": k, "embedder": embedder.model_id,
                                "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                                "settings": defaults.model_dump(include={
                                    "hnsw_ef_construction", "hnsw_ef_search", "hnsw_max_neighbors", "overfetch",
                                    "exact_scan_max", "vector_cache_max_mb"})},
                     "sizes": {}}
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"rc-bench-{n}-"))
        real = n == base_n
        store = ChromaStore(RetrievalSettings(chroma_path=str(tmp)), embedder if real else _FixedVectors(embedder, vectors[:n]))
        t0 = time.perf_counter()
        store.index("bench", items_all[:n], progress=True)
        build_s = time.perf_counter() - t0
        row: dict = {"build_s": round(build_s, 2), "items_per_s": round(n / build_s, 1),
                     "disk_mb": round(dir_size_mb(tmp), 1)}
        if real:
            row["raw_encode_s"] = round(raw_encode_s, 2)
            row["index_overhead_pct"] = round(100 * (build_s - raw_encode_s) / raw_encode_s, 1)
        store = _reopen(tmp, embedder)
        retriever = Retriever(store, "bench")
        stored = vectors[:n]  # exactly what Chroma holds
        exact = [_exact_top(stored, q, k) for q in queries]
        t0 = time.perf_counter()
        store.mirror("bench")
        row["mirror_load_s"] = round(time.perf_counter() - t0, 2)
        # Unfiltered: the retriever vs a plain Chroma query with metadata vs exact numpy.
        collection = store.opened("bench").collection
        lat_plain, _ = _lat(lambda q: collection.query(query_embeddings=[q], n_results=k,
                                                       include=["distances", "metadatas"]), queries)
        lat_ours, hits = _lat(lambda q: retriever.search(q, k), queries)
        lat_exact, _ = _lat(lambda q: np.argpartition(-(stored @ q), k)[:k], queries)
        recall = float(np.mean([len({h.id for h in hs} & ex) / k for hs, ex in zip(hits, exact)]))
        row["unfiltered"] = {"retriever": _p(lat_ours), "chroma_with_metadata": _p(lat_plain),
                             "numpy_exact_scan": _p(lat_exact), "ef_search": defaults.hnsw_ef_search}
        row["recall_at_50"] = round(recall, 4)
        # Filtered: Chroma's filter vs the retriever (auto path) and each forced path.
        t0 = time.perf_counter()
        store.mirror_vectors("bench")
        row["vector_cache"] = {"load_s": round(time.perf_counter() - t0, 2),
                               "mb": round(stored.shape[0] * stored.shape[1] * 4 / 1e6, 1)}
        forced = {"exact_scan": Retriever(store, "bench", exact_scan_max=10**9),
                  "post_filter": Retriever(store, "bench", exact_scan_max=0)}
        meta = [it.metadata() for it in items_all[:n]]
        for name, flt in filters.items():
            mask = np.array([flt.matches(m) for m in meta])
            where = flt.to_where()
            chroma_lat, theirs = _lat(lambda q: [h.id for h in store.query("bench", q, k, where)], queries)
            paths: dict[str, int] = {}

            def ours_fn(q, flt=flt):
                found = retriever.search_with_path(q, k, flt)
                paths[found.path] = paths.get(found.path, 0) + 1
                return [h.id for h in found.hits]

            ours_lat, ours = _lat(ours_fn, queries)
            paths = {p: c - (1 if p == list(paths)[0] else 0) for p, c in paths.items()}  # drop the warm-up
            exact_f = [_exact_top(stored, q, k, mask) for q in queries]
            row[name] = {
                "selectivity": round(float(mask.mean()), 4),
                "passing_items": int(mask.sum()),
                "chroma_filter": _p(chroma_lat),
                "retriever": _p(ours_lat),
                "speedup_p50": round(pct(chroma_lat, 50) / pct(ours_lat, 50), 2),
                "same_ids_as_chroma": round(float(np.mean([a == b for a, b in zip(ours, theirs)])), 3),
                "chroma_ids_found": round(float(np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(ours, theirs)])), 4),
                "recall_at_50_vs_exact": round(float(np.mean([len(set(a) & ex) / max(1, len(ex)) for a, ex in zip(ours, exact_f)])), 4),
                "paths": paths,
                "forced_paths_p50_ms": {},
            }
            for label, r in forced.items():
                lat_f, found_f = _lat(lambda q, r=r, flt=flt: r.search_with_path(q, k, flt), queries)
                row[name]["forced_paths_p50_ms"][label] = {"p50_ms": round(pct(lat_f, 50), 2), "path": found_f[-1].path}
        # ef_search sweep: reopen with each value, time the retriever's unfiltered query, recall.
        sweep = []
        for ef in ef_sweep:
            s2 = _reopen(tmp, embedder, ef)
            r2 = Retriever(s2, "bench")
            s2.mirror("bench")
            lat_ef, hits_ef = _lat(lambda q: r2.search(q, k), queries)
            rec = float(np.mean([len({h.id for h in hs} & ex) / k for hs, ex in zip(hits_ef, exact)]))
            sweep.append({"ef_search": ef, **_p(lat_ef), "recall_at_50": round(rec, 4)})
        ok = [s for s in sweep if s["recall_at_50"] >= 0.98]
        row["ef_sweep"] = sweep
        row["ef_smallest_with_recall_0.98"] = ok[0]["ef_search"] if ok else None
        _reopen(tmp, embedder)  # leave the collection with the configured ef_search
        row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        results["sizes"][str(n)] = row
        del store, retriever, forced
        shutil.rmtree(tmp, ignore_errors=True)

    table = Table(title=f"retrieval benchmark (k={k}, {n_queries} queries; latencies p50 ms)")
    for col in ("items", "build s", "overhead %", "query", "Chroma", "retriever", "path", "same ids", "recall"):
        table.add_column(col, overflow="fold")
    for n, row in results["sizes"].items():
        u = row["unfiltered"]
        table.add_row(n, str(row["build_s"]), str(row.get("index_overhead_pct", "-")), "unfiltered",
                      f"{u['chroma_with_metadata']['p50_ms']} (+metadata)", str(u["retriever"]["p50_ms"]),
                      f"HNSW ef {u['ef_search']}", "", str(row["recall_at_50"]))
        for name in filters:
            f = row[name]
            table.add_row("", "", "", name, str(f["chroma_filter"]["p50_ms"]), str(f["retriever"]["p50_ms"]),
                          ",".join(f["paths"]), str(f["same_ids_as_chroma"]), str(f["recall_at_50_vs_exact"]))
    console.print(table)
    sweep_table = Table(title="ef_search sweep (retriever, unfiltered; p50 ms / recall@50)")
    sweep_table.add_column("items")
    for ef in ef_sweep:
        sweep_table.add_column(f"ef {ef}")
    for n, row in results["sizes"].items():
        sweep_table.add_row(n, *[f"{s['p50_ms']} / {s['recall_at_50']}" for s in row["ef_sweep"]])
    console.print(sweep_table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out}")
    return results


def _child_peak_rss_mb(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run ``cmd``; returns (its own peak RSS in MB via wait4, wall seconds, exit code)."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - t0, proc.returncode


def run_index_memory(sizes: list[int], out: Path, words_per_text: int = 8, workers: Sequence[int] = (1,)) -> dict:
    """Peak RSS of ``recchat index FILE`` (streaming) on synthetic JSONL catalogs of each size,
    each in a fresh process with the real MiniLM; baselines in the same run: a process that only
    loads the model and opens Chroma (the floor), and one that reads the whole catalog into a
    list with ``load_catalog_file`` (what the pre-streaming path held before embedding).

    Several ``workers`` counts index each catalog once per count; the row of each size holds the
    first count's figures and ``by_workers`` (time, items/s, speed-up over the first count). Peak RSS
    is the largest single process (``ru_maxrss``), so with a pool it excludes the other workers."""
    from retrieval.catalog import write_catalog_jsonl

    console = Console(width=160)
    recchat = str(Path(sys.executable).with_name("recchat"))
    results: dict = {"config": {"sizes": sorted(sizes), "words_per_text": words_per_text, "workers": workers,
                                "embedder": "minilm", "cpus": os.cpu_count()}, "floor": {}, "sizes": {}}
    work = Path(tempfile.mkdtemp(prefix="rc-index-mem-"))
    try:
        env = {**os.environ, "RECCHAT_RETRIEVAL_CHROMA_PATH": str(work / "chroma")}
        floor_code = ("from retrieval.embedder import Embedder; from retrieval.store import ChromaStore; "
                      "e = Embedder('minilm'); e.encode(['warm up']); ChromaStore(embedder=e).client.list_collections()")
        rss, secs, rc = _child_peak_rss_mb([sys.executable, "-c", floor_code], env, work / "floor.log")
        results["floor"] = {"peak_rss_mb": round(rss, 1), "rc": rc}
        for n in sorted(sizes):
            path = write_catalog_jsonl(synthetic_items(n, words_per_text=words_per_text), work / f"synthetic-{n}.jsonl")
            list_code = f"from retrieval.catalog import load_catalog_file; print(len(load_catalog_file({str(path)!r}).items))"
            list_rss, list_s, list_rc = _child_peak_rss_mb([sys.executable, "-c", list_code], env, work / f"list-{n}.log")
            by_workers: dict[str, dict] = {}
            for w in workers:
                cmd = [recchat, "index", str(path), "--name", f"mem{n}", "--rebuild", "--no-resume", "--workers", str(w)]
                log = work / f"index-{n}-w{w}.log"
                rss, secs, rc = _child_peak_rss_mb(cmd, env, log)
                text = log.read_text(errors="replace")
                tail = text.strip().splitlines()[-1:]
                embedded = re.search(r"(\d+) items, (\d+) embedded", " ".join(text.split()))
                by_workers[str(w)] = {"index_peak_rss_mb": round(rss, 1), "index_s": round(secs, 1),
                                      "items_per_s": round(n / secs, 1), "index_rc": rc,
                                      "embedded": int(embedded.group(2)) if embedded else None,
                                      "index_last_line": tail[0][-200:] if tail else ""}
                shutil.rmtree(work / "chroma", ignore_errors=True)
            first = by_workers[str(workers[0])]
            for row in by_workers.values():
                row["speedup_vs_first"] = round(first["index_s"] / row["index_s"], 2)
            results["sizes"][str(n)] = {
                "file_mb": round(path.stat().st_size / 1e6, 1),
                **{k: v for k, v in first.items() if k != "speedup_vs_first"},
                "load_whole_list_peak_rss_mb": round(list_rss, 1), "load_whole_list_rc": list_rc,
                "by_workers": by_workers,
            }
            path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = Table(title=f"recchat index: peak RSS by catalog size (MiniLM, {words_per_text}-word texts, fresh process each)")
    for col in ("items", "workers", "file MB", "index peak RSS MB", "items/s", "speed-up", "whole-list load peak RSS MB",
                "floor MB"):
        table.add_column(col)
    for n, row in results["sizes"].items():
        for w, run in row["by_workers"].items():
            table.add_row(n, w, str(row["file_mb"]), str(run["index_peak_rss_mb"]), str(run["items_per_s"]),
                          f"{run['speedup_vs_first']}x", str(row["load_whole_list_peak_rss_mb"]),
                          str(results["floor"]["peak_rss_mb"]))
    console.print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out}")
    return results
