"""HttpClient mode against a real `chroma run` server on loopback."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from retrieval.retriever import Filters, Retriever
from retrieval.settings import RetrievalSettings
from retrieval.store import ChromaStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path_factory.mktemp("chroma-srv")),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url + "/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma server did not start within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_http_mode_round_trip_matches_embedded(chroma_server, embedder, ml100k_items, ml100k_store):
    store = ChromaStore(RetrievalSettings(chroma_url=chroma_server), embedder)
    items = ml100k_items[:300]
    assert store.index("srv", items, progress=False).embedded == 300
    assert store.index("srv", items, progress=False).embedded == 0
    assert store.catalogs() == ["srv"]
    remote = Retriever(store, "srv").retrieve("a western with gunfights", k=5, filters=Filters(year_min=1950))
    assert remote and all(c.item.year >= 1950 for c in remote)
    assert remote[0].item == next(i for i in items if i.id == remote[0].item.id)


def test_bad_url_is_a_clear_error():
    with pytest.raises(ValueError, match="bad Chroma URL"):
        ChromaStore(RetrievalSettings(chroma_url="nonsense")).client


def test_http_mode_resumes_an_interrupted_build_and_scans_exactly(chroma_server, embedder, ml100k_items):
    settings = RetrievalSettings(chroma_url=chroma_server, index_batch=100, upsert_batch=100)
    items = ml100k_items[300:550]

    class StopOnSecond:
        model_id, dim, calls = embedder.model_id, embedder.dim, 0

        def encode(self, texts, batch_size=64, progress=False, kind="query"):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return embedder.encode(texts, batch_size=batch_size)

    with pytest.raises(KeyboardInterrupt):
        ChromaStore(settings, StopOnSecond()).index("resume", items, progress=False)
    store = ChromaStore(settings, embedder)
    report = store.index("resume", items, progress=False)
    assert report.resumed and (report.embedded, report.unchanged) == (150, 100) and store.count("resume") == 250
    flt = Filters(genres=("Drama",))
    scan = Retriever(store, "resume")
    post = Retriever(store, "resume", exact_scan_max=0, max_fetch=10)
    ra, rb = (r.retrieve_with_path("a family saga", k=8, filters=flt) for r in (scan, post))
    assert (ra.path, rb.path) == ("exact-scan", "chroma-filter")
    assert [c.item.id for c in ra.candidates] == [c.item.id for c in rb.candidates]
