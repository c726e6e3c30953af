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
