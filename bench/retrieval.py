"""Retrieval benchmark: indexing overhead, query latency (with/without filters), memory, recall.

Run: ``recchat bench retrieval [--sizes 10000,100000] [--queries 200]``. Prints a table and writes
JSON. Every figure is measured against a baseline in the same run:

* indexing throughput of ``ChromaStore.index`` vs raw ``SentenceTransformer.encode`` of the same
  texts (overhead = extra time, %), on the smallest size (real MiniLM embeddings);
* query latency p50/p95 (n_results=50) of Chroma's own filtered query vs the retriever's
  over-fetch + post-filter path, and how often both return the same ids;
* recall@50 of the HNSW index vs exact brute-force search (numpy) on the same vectors.

Synthetic catalog: titles, years (1920-2020, uniform), 1-3 MovieLens genres and ~40-word texts.
Vectors: the smallest size is embedded for real with MiniLM; larger sizes reuse those real
embeddings, each new vector a normalised mix of two real ones plus noise (embedding 100k texts
takes ~5 min on 2 cores and tells nothing more about Chroma).
"""

from __future__ import annotations

import json
import platform
import resource
import shutil
import tempfile
import time
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


def synthetic_items(n: int, seed: int = 0):
    from retrieval.items import Item

    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        words = rng.choice(WORDS, size=40)
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

    def encode(self, texts, batch_size=64, progress=False):
        out = self._vectors[self._pos : self._pos + len(texts)]
        self._pos += len(texts)
        return out


def run(sizes: list[int], n_queries: int, out: Path, k: int = 50) -> dict:
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
    results: dict = {"config": {"sizes": sizes, "queries": n_queries, "k": k, "embedder": embedder.model_id,
                                "machine": platform.processor() or platform.machine(),
                                "hnsw": RetrievalSettings().model_dump(include={"hnsw_ef_construction", "hnsw_ef_search", "hnsw_max_neighbors", "overfetch"})},
                     "sizes": {}}
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"rc-bench-{n}-"))
        settings = RetrievalSettings(chroma_path=str(tmp))
        real = n == base_n
        store = ChromaStore(settings, embedder if real else _FixedVectors(embedder, vectors[:n]))
        t0 = time.perf_counter()
        store.index("bench", items_all[:n], progress=True)
        build_s = time.perf_counter() - t0
        row: dict = {"build_s": round(build_s, 2), "items_per_s": round(n / build_s, 1),
                     "disk_mb": round(dir_size_mb(tmp), 1)}
        if real:
            row["raw_encode_s"] = round(raw_encode_s, 2)
            row["index_overhead_pct"] = round(100 * (build_s - raw_encode_s) / raw_encode_s, 1)
        retriever = Retriever(store, "bench")
        # exact brute force over the stored vectors (what Chroma holds)
        stored = vectors[:n]
        recalls, lat = [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = store.query("bench", q, k)
            lat.append(time.perf_counter() - t0)
            exact = set(np.argpartition(-(stored @ q), k)[:k].tolist())
            recalls.append(len({int(h[0][1:]) for h in hits} & exact) / k)
        row["unfiltered"] = {"p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2)}
        row["recall_at_50"] = round(float(np.mean(recalls)), 4)
        meta = [it.metadata() for it in items_all[:n]]
        for name, flt in filters.items():
            mask = np.array([flt.matches(m) for m in meta])
            chroma_lat, ours_lat, same, exact_recall, paths = [], [], 0, [], {}
            for q in queries:
                t0 = time.perf_counter()
                theirs = [h[0] for h in store.query("bench", q, k, flt.to_where())]
                chroma_lat.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                ours = [h[0] for h in retriever.search(q, k, flt)]
                ours_lat.append(time.perf_counter() - t0)
                paths[retriever.last_path] = paths.get(retriever.last_path, 0) + 1
                same += ours == theirs
                sims = np.where(mask, stored @ q, -np.inf)
                top = np.argpartition(-sims, k)[:k]
                exact = {f"s{i}" for i in top.tolist() if np.isfinite(sims[i])}
                exact_recall.append(len(set(ours) & exact) / max(1, len(exact)))
            row[name] = {
                "selectivity": round(float(mask.mean()), 4),
                "chroma_filter": {"p50_ms": round(pct(chroma_lat, 50), 2), "p95_ms": round(pct(chroma_lat, 95), 2)},
                "retriever": {"p50_ms": round(pct(ours_lat, 50), 2), "p95_ms": round(pct(ours_lat, 95), 2)},
                "speedup_p50": round(pct(chroma_lat, 50) / pct(ours_lat, 50), 2),
                "same_ids_as_chroma": round(same / len(queries), 3),
                "recall_at_50_vs_exact": round(float(np.mean(exact_recall)), 4),
                "paths": paths,
            }
        row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        results["sizes"][str(n)] = row
        shutil.rmtree(tmp, ignore_errors=True)

    table = Table(title=f"retrieval benchmark (k={k}, {n_queries} queries; latencies p50 ms)")
    for col in ("items", "build s", "overhead %", "recall@50", "query", "Chroma", "retriever", "same ids", "recall"):
        table.add_column(col, overflow="fold")
    for n, row in results["sizes"].items():
        u = row["unfiltered"]
        table.add_row(n, str(row["build_s"]), str(row.get("index_overhead_pct", "-")), str(row["recall_at_50"]),
                      "unfiltered", str(u["p50_ms"]), "", "", "")
        for name in filters:
            f = row[name]
            table.add_row("", "", "", "", name, str(f["chroma_filter"]["p50_ms"]), str(f["retriever"]["p50_ms"]),
                          str(f["same_ids_as_chroma"]), str(f["recall_at_50_vs_exact"]))
    console.print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out}")
    return results
