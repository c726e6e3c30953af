"""Where the recchat process's memory goes when it indexes and then serves a catalog: RSS after
the build, after the metadata mirror is loaded, each also after ``gc.collect()`` + glibc's
``malloc_trim(0)`` (what is freed but not handed back to the OS), and the mirror's own size.

    recchat bench client-memory --size 100k --backend server --out docs/results/bench/client_memory.json

Synthetic catalog and vectors as ``bench scale`` (no embedding); ``server`` runs a ``chroma run``
on loopback. Linux only (reads RSS with psutil, calls libc's ``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import gc
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def deep_mb(metas: list[dict[str, Any]], sample: int = 2000) -> float:
    """Estimated size of the mirror's metadata dicts (MB): dicts, values and list elements of a
    sample, scaled to all (keys are shared strings and not counted)."""
    part = metas[:sample]
    if not part:
        return 0.0
    size = sum(sys.getsizeof(d) + sum(sys.getsizeof(v) + (sum(map(sys.getsizeof, v)) if isinstance(v, list) else 0)
                                      for v in d.values()) for d in part)
    return size / len(part) * len(metas) / 1e6


def measure(size: int, backend: str) -> dict[str, Any]:
    """RSS (MB) at each step of indexing ``size`` items and loading their mirror; see module doc."""
    from bench.scale import MixedVectors, rss_mb, scale_items, start_chroma_server
    from retrieval.embedder import Embedder
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    libc = ctypes.CDLL("libc.so.6")

    def trimmed() -> float:
        gc.collect()
        libc.malloc_trim(0)
        return round(rss_mb(), 1)

    work = Path(tempfile.mkdtemp(prefix="rc-client-mem-"))
    proc = None
    try:
        embedder = Embedder("minilm")
        base = embedder.encode([it.document() for it in scale_items(500)], batch_size=64)
        model_id = embedder.model_id
        del embedder
        if backend == "server":
            proc, url = start_chroma_server(work / "chroma")
            settings = RetrievalSettings(chroma_url=url)
        else:
            settings = RetrievalSettings(chroma_path=str(work / "chroma"))
        items = scale_items(size)
        store = ChromaStore(settings, MixedVectors(base, model_id))
        _ = store.client
        out: dict[str, Any] = {"size": size, "backend": backend, "rss_before_build_mb": trimmed()}
        store.index("scale", items, progress=False)
        del items
        out["rss_after_build_mb"] = round(rss_mb(), 1)
        out["rss_after_build_trimmed_mb"] = trimmed()
        t0 = time.perf_counter()
        mirror = store.mirror("scale")
        out["mirror_load_s"] = round(time.perf_counter() - t0, 2)
        out["rss_after_mirror_mb"] = round(rss_mb(), 1)
        out["rss_after_mirror_trimmed_mb"] = trimmed()
        out["mirror_growth_trimmed_mb"] = round(out["rss_after_mirror_trimmed_mb"] - out["rss_after_build_trimmed_mb"], 1)
        out["freed_not_returned_after_build_mb"] = round(out["rss_after_build_mb"] - out["rss_after_build_trimmed_mb"], 1)
        out["mirror_metas_estimate_mb"] = round(deep_mb(mirror.metas), 1)
        out["mirror_fields"] = sorted(mirror.metas[0]) if mirror.metas else []
        store.close()
        return out
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def run(size: int, backend: str, out: Path) -> dict[str, Any]:
    """:func:`measure`, printed and written to ``out`` (JSON)."""
    res = measure(size, backend)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return res
