"""Retrieval at scale: the embedded store and a ``chroma run`` server on loopback, side by side.

Run: ``recchat bench scale [--sizes 10k,100k,1M] [--backends embedded,server] [--queries 100]``.
For each size and backend, one fresh worker process (so memory figures do not mix) builds the
index with :meth:`ChromaStore.index` exactly as the product does, then times the product's query
path (:meth:`Retriever.search`) without a filter and with a year range, a genre, and both.

Measured per (size, backend): build time (Chroma insert + HNSW, embedding excluded), on-disk
size, memory (``memory_mb``: RSS growth from just before the build to after the queries, of the
worker process for the embedded store and of the server process for the server; the server's
absolute RSS is ``server_rss_mb``), :meth:`Retriever.warm_up` (``warm_up_mirror_s``: the metadata
mirror; ``warm_up_vectors_s``: the vector cache, when the catalog fits ``vector_cache_max_mb``; older
runs timed these inside the first queries, see their ``note``), and query p50/p95 in ms. Baselines in
the same run: the embedded store at the same size (server/embedded ratios), and raw MiniLM ``encode`` of real texts (items/s), which puts build time next to the
embedding time an index of that size would add.

Synthetic catalog (:func:`scale_items`): the vocabulary and genres of :mod:`bench.retrieval`,
titles of 1-4 words, years 1920-2024, 1-3 genres, a director, a country, a language and a
synopsis of 10-200 words (log-normal, median 50; MovieLens-1M's enriched documents have a median of
35 words, plot synopses of real catalogs are longer). Vectors: ``base`` items embedded for real
with MiniLM; the others are mixes of two real vectors plus noise (:class:`MixedVectors`), as in
:func:`bench.retrieval.expand_vectors`, computed chunk by chunk so 1M vectors are never held at once.

A measurement that exceeds ``--budget-s`` is killed and recorded as a timeout with how far it got.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("embedded", "server")
FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "year 1990-1999": {"year_min": 1990, "year_max": 1999},
    "genre Crime": {"genres": ("Crime",)},
    "year + genre": {"year_min": 1990, "year_max": 1999, "genres": ("Crime",)},
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")
_NAMES = ("Ada Moreau", "Ben Okafor", "Chen Wei", "Dara Novak", "Eli Sato", "Farah Haddad", "Gus Lind",
          "Hana Ruiz", "Ivo Petrov", "June Park", "Kofi Mensah", "Lena Berg", "Marco Conti", "Nia Adeyemi")
_COUNTRIES = ("United States", "France", "India", "Japan", "United Kingdom", "Germany", "Nigeria", "Brazil",
              "South Korea", "Italy", "Mexico", "Spain")
_LANGUAGES = ("English", "French", "Hindi", "Japanese", "German", "Yoruba", "Portuguese", "Korean", "Italian",
              "Spanish")


def parse_sizes(spec: str) -> list[int]:
    """Sizes from ``"10k,100k,1M"`` (also plain integers, ``2.5k``), sorted and de-duplicated.

    Raises ValueError on an empty list, a malformed entry or a size below 100."""
    sizes = set()
    for part in spec.split(","):
        if not part.strip():
            continue
        m = _SIZE.match(part)
        if not m:
            raise ValueError(f"bad size {part!r}: expected e.g. 10000, 10k or 1M")
        value = float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
        if value != int(value) or value < 100:
            raise ValueError(f"bad size {part!r}: a whole number of items >= 100")
        sizes.add(int(value))
    if not sizes:
        raise ValueError("no sizes given")
    return sorted(sizes)


def parse_backends(spec: str) -> list[str]:
    """Backends from ``"embedded,server"`` in canonical order; unknown names raise ValueError."""
    names = [p.strip() for p in spec.split(",") if p.strip()]
    bad = [n for n in names if n not in BACKENDS]
    if bad or not names:
        raise ValueError(f"unknown backend(s) {bad or spec!r}; choose from {', '.join(BACKENDS)}")
    return [b for b in BACKENDS if b in names]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean in milliseconds (linear-interpolated percentiles) and the sample count."""
    if len(seconds) == 0:
        raise ValueError("no latency samples")
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "mean_ms": round(float(ms.mean()), 2), "n": int(len(ms))}


def scale_items(n: int, seed: int = 0) -> list:
    """``n`` synthetic catalog items (ids ``s0..``), deterministic in ``seed`` (see module doc)."""
    from bench.retrieval import GENRES, WORDS
    from retrieval.items import Item

    rng = np.random.default_rng(seed)
    words = np.asarray(WORDS)
    lengths = np.clip(np.round(rng.lognormal(np.log(50), 0.5, n)), 10, 200).astype(int)
    title_len = rng.integers(1, 5, n)
    years = rng.integers(1920, 2025, n)
    n_genres = rng.integers(1, 4, n)
    genre_pick = np.argsort(rng.random((n, len(GENRES))), axis=1)[:, :3]
    pool = rng.integers(0, len(words), int(lengths.sum() + title_len.sum()))
    people = rng.integers(0, len(_NAMES), n)
    country = rng.integers(0, len(_COUNTRIES), n)
    language = rng.integers(0, len(_LANGUAGES), n)
    items, pos = [], 0
    for i in range(n):
        title = " ".join(words[pool[pos : pos + title_len[i]]]).title()
        pos += title_len[i]
        text = " ".join(words[pool[pos : pos + lengths[i]]]).capitalize() + "."
        pos += lengths[i]
        items.append(Item(
            id=f"s{i}", title=title, year=int(years[i]), genres=[GENRES[g] for g in genre_pick[i, : n_genres[i]]],
            text=text, extra={"director": [_NAMES[people[i]]], "country": [_COUNTRIES[country[i]]],
                              "language": [_LANGUAGES[language[i]]]},
        ))
    return items


class MixedVectors:
    """Embedder stand-in for the store: hands out vector ``i`` for the ``i``-th text it is asked to
    encode. Rows below ``len(base)`` are the real vectors; the rest are unit-norm mixes of two real
    rows plus noise, drawn per chunk from ``(seed, position)`` so a chunk never depends on another.
    ``on_encode(position)`` is called after each chunk (progress reporting)."""

    def __init__(self, base: np.ndarray, model_id: str, seed: int = 0, on_encode=None) -> None:
        self.base = np.asarray(base, dtype=np.float32)
        self.model_id, self.dim = model_id, int(self.base.shape[1])
        self.seed, self.position, self.on_encode = seed, 0, on_encode

    def vectors(self, start: int, count: int) -> np.ndarray:
        """Rows ``start .. start+count`` (deterministic)."""
        out = np.empty((count, self.dim), dtype=np.float32)
        real = max(0, min(count, len(self.base) - start))
        out[:real] = self.base[start : start + real]
        m = count - real
        if m:
            rng = np.random.default_rng((self.seed, start + real))
            a, b = rng.integers(0, len(self.base), m), rng.integers(0, len(self.base), m)
            w = rng.uniform(0.2, 0.8, (m, 1)).astype(np.float32)
            mix = w * self.base[a] + (1 - w) * self.base[b] + rng.normal(0, 0.02, (m, self.dim)).astype(np.float32)
            out[real:] = mix / np.linalg.norm(mix, axis=1, keepdims=True)
        return out

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False, kind: str = "query") -> np.ndarray:
        out = self.vectors(self.position, len(texts))
        self.position += len(texts)
        if self.on_encode is not None:
            self.on_encode(self.position)
        return out


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (default: this one), MB."""
    import psutil

    return psutil.Process(pid or os.getpid()).memory_info().rss / 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_chroma_server(path: Path, timeout_s: float = 60.0) -> tuple[subprocess.Popen, str]:
    """A ``chroma run`` process on loopback serving ``path``; returns (process, URL) once it answers."""
    import httpx

    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if httpx.get(url + "/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"chroma server did not answer within {timeout_s:.0f} s")


# ---------------------------------------------------------------------------------------- worker
def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """One (size, backend) measurement, run inside a fresh worker process; see module doc.

    ``spec``: n, backend, data_dir (chroma path: embedded store or the server's), url (server),
    server_pid, base (npy of real vectors), queries (npy), model_id, k, progress (file), seed."""
    from retrieval.retriever import Filters, Retriever
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    from bench.retrieval import dir_size_mb

    n, progress_path = int(spec["n"]), Path(spec["progress"])
    t_start = time.perf_counter()

    def note(phase: str, **kw: Any) -> None:
        progress_path.write_text(json.dumps({"phase": phase, "elapsed_s": round(time.perf_counter() - t_start, 1), **kw}))

    note("generate")
    t0 = time.perf_counter()
    items = scale_items(n, spec.get("seed", 0))
    generate_s = time.perf_counter() - t0
    build_t0 = [0.0]
    vectors = MixedVectors(np.load(spec["base"]), spec["model_id"], spec.get("seed", 0),
                           on_encode=lambda pos: note("build", indexed=pos, total=n,
                                                      build_s=round(time.perf_counter() - build_t0[0], 1)))
    server = spec["backend"] == "server"
    settings = RetrievalSettings(chroma_url=spec["url"]) if server else RetrievalSettings(chroma_path=spec["data_dir"])
    store = ChromaStore(settings, vectors)
    _ = store.client  # client start-up is not build time
    rss_before = rss_mb()
    server_rss_before = rss_mb(spec["server_pid"]) if server else None
    build_t0[0] = time.perf_counter()
    store.index("scale", items, progress=False)
    build_s = time.perf_counter() - build_t0[0]
    del items
    rss_after_build = rss_mb()
    retriever = Retriever(store, "scale")
    queries = np.load(spec["queries"])
    k = int(spec["k"])
    store.query("scale", queries[0], k)  # warm-up (first query loads the HNSW index segment)
    warm = retriever.warm_up()  # what the first queries would load; `recchat ui` does it before serving
    row: dict[str, Any] = {"status": "ok", "generate_s": round(generate_s, 1), "build_s": round(build_s, 1),
                           "build_items_per_s": round(n / build_s, 1),
                           **{f"warm_up_{part}": round(s, 2) for part, s in warm.items()}, "queries": {}}
    for name, kw in FILTERS.items():
        note("query", filter=name)
        flt = Filters(**kw)
        lat, paths = [], {}
        for q in queries:
            t0 = time.perf_counter()
            path = retriever.search_with_path(q, k, flt).path
            lat.append(time.perf_counter() - t0)
            paths[path] = paths.get(path, 0) + 1
        row["queries"][name] = {**latency_summary(lat), "paths": paths}
    row["disk_mb"] = round(dir_size_mb(Path(spec["data_dir"])), 1)
    if server:
        row["server_rss_mb"] = round(rss_mb(spec["server_pid"]), 1)
        row["server_rss_growth_mb"] = round(row["server_rss_mb"] - server_rss_before, 1)
        row["client_rss_growth_mb"] = round(rss_mb() - rss_before, 1)
        row["memory_mb"] = row["server_rss_growth_mb"]
    else:
        row["rss_mb"] = round(rss_mb(), 1)
        row["rss_growth_after_build_mb"] = round(rss_after_build - rss_before, 1)
        row["memory_mb"] = round(rss_mb() - rss_before, 1)
    row["rss_before_build_mb"] = round(rss_before, 1)
    return row


# ---------------------------------------------------------------------------------------- parent
def _run_worker(spec: dict[str, Any], budget_s: float, work: Path) -> dict[str, Any]:
    spec_path = work / f"spec-{spec['backend']}-{spec['n']}.json"
    result_path = spec_path.with_suffix(".result.json")
    spec_path.write_text(json.dumps(spec))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bench.scale", str(spec_path), str(result_path)])
    try:
        proc.wait(timeout=budget_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        progress = json.loads(Path(spec["progress"]).read_text()) if Path(spec["progress"]).exists() else {}
        return {"status": "timeout", "budget_s": budget_s, "progress_at_timeout": progress}
    if proc.returncode != 0 or not result_path.exists():
        return {"status": "failed", "returncode": proc.returncode, "wall_s": round(time.perf_counter() - t0, 1)}
    row = json.loads(result_path.read_text())
    row["wall_s"] = round(time.perf_counter() - t0, 1)
    return row


def carried_sizes(out: Path, sizes: Sequence[int], k: int, n_queries: int, seed: int) -> dict[str, Any]:
    """The sizes of an earlier run in ``out`` that this run does not measure, each marked
    ``carried_from_earlier_run``; refuses (ValueError) a file measured with another k, query count or seed."""
    if not out.is_file():
        return {}
    earlier = json.loads(out.read_text())
    cfg = earlier.get("config", {})
    mismatch = {name: (cfg.get(name), now) for name, now in (("k", k), ("queries", n_queries), ("seed", seed))
                if cfg.get(name, now) != now}
    if mismatch:
        raise ValueError(f"{out} was measured with other settings ({mismatch}: earlier, now); "
                         "use another --out or drop --keep")
    return {n: {**per, "carried_from_earlier_run": True} for n, per in earlier.get("sizes", {}).items()
            if int(n) not in sizes}


def run(sizes: Sequence[int], backends: Sequence[str], n_queries: int, out: Path, *, base_n: int = 2000,
        k: int = 50, budget_s: float = 900.0, seed: int = 0, plot: bool = True, keep: bool = False) -> dict[str, Any]:
    """Every (size, backend) measurement; prints a table, writes ``out`` (JSON) and a PNG beside it.

    ``keep``: sizes already in ``out`` that this run does not measure stay in it (marked), so a long
    size can be added to an earlier run's file; without it ``out`` is replaced."""
    from rich.console import Console

    from bench.retrieval import WORDS
    from retrieval.embedder import Embedder
    from retrieval.settings import RetrievalSettings

    console = Console(width=160)
    kept = carried_sizes(out, sizes, k, n_queries, seed) if keep else {}
    work = Path(tempfile.mkdtemp(prefix="rc-scale-"))
    embedder = Embedder("minilm")
    texts = [it.document() for it in scale_items(base_n, seed)]
    embedder.encode(texts[:64])  # warm-up
    t0 = time.perf_counter()
    base = embedder.encode(texts, batch_size=64)
    encode_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed + 1)
    queries = embedder.encode([" ".join(rng.choice(WORDS, 6)) for _ in range(n_queries)])
    np.save(work / "base.npy", base)
    np.save(work / "queries.npy", queries)
    encode_rate = base_n / encode_s
    results: dict[str, Any] = {
        "benchmark": "scale",
        "config": {"sizes": list(sizes), "backends": list(backends), "queries": n_queries, "k": k, "base": base_n,
                   "budget_s": budget_s, "seed": seed, "embedder": embedder.model_id,
                   "filters": {name: {a: list(v) if isinstance(v, tuple) else v for a, v in f.items()}
                               for name, f in FILTERS.items()},
                   "retrieval": RetrievalSettings().model_dump(include={"exact_scan_max", "vector_cache_max_mb", "overfetch"}),
                   "machine": {"platform": platform.platform(), "cpus": os.cpu_count()}},
        "embedding_baseline": {"texts": base_n, "encode_s": round(encode_s, 2), "items_per_s": round(encode_rate, 1),
                               "median_words": float(np.median([len(t.split()) for t in texts]))},
        "sizes": dict(kept),
    }
    try:
        for n in sizes:
            per: dict[str, Any] = {"embedding_estimate_s": round(n / encode_rate, 0)}
            for backend in backends:
                data_dir = work / f"{backend}-{n}"
                data_dir.mkdir()
                spec = {"n": n, "backend": backend, "data_dir": str(data_dir), "base": str(work / "base.npy"),
                        "queries": str(work / "queries.npy"), "model_id": embedder.model_id, "k": k, "seed": seed,
                        "progress": str(work / f"progress-{backend}-{n}.json"), "url": None, "server_pid": None}
                console.print(f"[bold]{n:,} items, {backend}[/] (budget {budget_s:.0f} s)")
                server = None
                try:
                    if backend == "server":
                        server, spec["url"] = start_chroma_server(data_dir)
                        spec["server_pid"] = server.pid
                    per[backend] = _run_worker(spec, budget_s, work)
                finally:
                    if server is not None:
                        server.terminate()
                        server.wait(timeout=30)
                    shutil.rmtree(data_dir, ignore_errors=True)
                console.print(f"  {_summary(per[backend])}")
            if all(per.get(b, {}).get("status") == "ok" for b in ("embedded", "server")):
                e, s = per["embedded"], per["server"]
                per["server_vs_embedded"] = {
                    "build": round(s["build_s"] / e["build_s"], 2),
                    **{f"p50 {name}": round(s["queries"][name]["p50_ms"] / e["queries"][name]["p50_ms"], 2)
                       for name in FILTERS},
                }
            results["sizes"][str(n)] = per
            results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda kv: int(kv[0])))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=2) + "\n")  # partial results survive a later failure
    finally:
        shutil.rmtree(work, ignore_errors=True)
    console.print(render_table(results))
    out.write_text(json.dumps(results, indent=2) + "\n")
    if plot:
        plot_results(results, out.with_suffix(".png"))
    console.print(f"wrote {out}")
    return results


def _summary(row: dict[str, Any]) -> str:
    if row.get("status") != "ok":
        return f"{row.get('status')}: {json.dumps({k: v for k, v in row.items() if k != 'status'})}"
    q = row["queries"]
    return (f"build {row['build_s']} s, disk {row['disk_mb']} MB, memory {row['memory_mb']} MB, "
            + ", ".join(f"{name} p50 {v['p50_ms']} ms" for name, v in q.items()))


def render_table(results: dict[str, Any]):
    """A rich table: one row per (size, backend), p50/p95 ms per filter."""
    from rich.table import Table

    table = Table(title=f"retrieval at scale (k={results['config']['k']}, {results['config']['queries']} queries, ms)")
    for col in ("items", "backend", "build s", "disk MB", "memory MB", *FILTERS):
        table.add_column(col)
    for n, per in results["sizes"].items():
        for backend in BACKENDS:
            row = per.get(backend)
            if row is None:
                continue
            if row.get("status") != "ok":
                table.add_row(f"{int(n):,}", backend, row.get("status", "?"), "", "", *["" for _ in FILTERS])
                continue
            table.add_row(f"{int(n):,}", backend, str(row["build_s"]), str(row["disk_mb"]), str(row["memory_mb"]),
                          *[f"{row['queries'][f]['p50_ms']} / {row['queries'][f]['p95_ms']}" for f in FILTERS])
    return table


def plot_results(results: dict[str, Any], path: Path) -> None:
    """Build time, disk, memory and query p50 against catalog size, one line per backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    for backend, style in zip(BACKENDS, ("-o", "--s")):
        ok = [(int(n), per[backend]) for n, per in results["sizes"].items() if per.get(backend, {}).get("status") == "ok"]
        if not ok:
            continue
        xs = [n for n, _ in ok]
        axes[0].plot(xs, [r["build_s"] for _, r in ok], style, label=backend)
        axes[1].plot(xs, [r["disk_mb"] for _, r in ok], style, label=backend)
        axes[2].plot(xs, [r["memory_mb"] for _, r in ok], style, label=backend)
        for name in FILTERS:
            axes[3].plot(xs, [r["queries"][name]["p50_ms"] for _, r in ok], style, label=f"{backend}: {name}")
    for ax, title in zip(axes, ("build s (no embedding)", "disk MB", "memory MB", "query p50 ms")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("items")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # worker entry: python -m bench.scale SPEC.json RESULT.json
    _spec = json.loads(Path(sys.argv[1]).read_text())
    Path(sys.argv[2]).write_text(json.dumps(measure(_spec)))
