"""Real MiniLM + real embedded Chroma: indexing is incremental, atomic and embedder-safe."""

import numpy as np
import pytest

from retrieval.items import Item
from retrieval.settings import RetrievalSettings
from retrieval.store import ChromaStore, IndexMismatchError, IndexMissingError


class CountingEmbedder:
    """Wraps the real embedder and counts the texts it embeds."""

    def __init__(self, inner, model_id=None):
        self.inner, self.texts = inner, []
        self.model_id = model_id or inner.model_id
        self.dim = inner.dim

    def encode(self, texts, batch_size=64, progress=False, kind="query"):
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture
def small_items(ml100k_items):
    return list(ml100k_items[:60])


@pytest.fixture
def store_factory(tmp_path, embedder):
    def make(model_id=None):
        emb = CountingEmbedder(embedder, model_id)
        return ChromaStore(RetrievalSettings(chroma_path=str(tmp_path / "chroma")), emb), emb
    return make


def test_full_ml100k_index_round_trip(ml100k_store, ml100k_items):
    assert ml100k_store.count("ml100k") == len(ml100k_items) == 1682
    some = ml100k_items[100]
    assert ml100k_store.get_items("ml100k", [some.id])[some.id] == some
    vec = ml100k_store.get_embeddings("ml100k", [some.id])[some.id]
    hits = ml100k_store.query("ml100k", vec, 1)
    assert hits[0].id == some.id and hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert hits[0].meta["title"] == some.title and hits[0].embedding is None
    with_emb = ml100k_store.query("ml100k", vec, 1, with_embeddings=True, with_metadata=False)
    assert with_emb[0].meta == {} and np.allclose(with_emb[0].embedding, vec, atol=1e-6)


def test_reindex_unchanged_embeds_nothing_and_changed_item_is_reembedded(store_factory, small_items):
    store, emb = store_factory()
    first = store.index("cat", small_items, progress=False)
    assert first.rebuilt and first.embedded == 60
    store2, emb2 = store_factory()
    again = store2.index("cat", small_items, progress=False)
    assert (again.embedded, again.unchanged, again.rebuilt) == (0, 60, False) and emb2.texts == []
    changed = small_items[5].model_copy(update={"text": "A brand new synopsis about pirates."})
    edited = small_items[:5] + [changed] + small_items[6:-1]  # one changed, last one removed
    report = store2.index("cat", edited, progress=False)
    assert (report.embedded, report.deleted) == (1, 1)
    assert emb2.texts == [changed.document()]
    assert store2.get_items("cat", [changed.id])[changed.id].text.startswith("A brand new")
    assert store2.count("cat") == 59


def test_embedder_mismatch_is_refused_then_rebuild_switches(store_factory, small_items):
    store, _ = store_factory()
    store.index("cat", small_items, progress=False)
    other, emb = store_factory(model_id="another-model")
    with pytest.raises(IndexMismatchError, match="another-model"):
        other.index("cat", small_items, progress=False)
    with pytest.raises(IndexMismatchError):
        other.active("cat")
    report = other.index("cat", small_items, rebuild=True, progress=False)
    assert report.rebuilt and other.count("cat") == 60
    names = {c.name for c in other.client.list_collections()}
    assert names == {"rc-cat", report.collection}  # old collection dropped


def test_interrupted_rebuild_leaves_old_index_in_service(store_factory, small_items):
    store, _ = store_factory()
    store.index("cat", small_items, progress=False)
    before = store.active("cat").name

    class Boom(CountingEmbedder):
        def encode(self, texts, batch_size=64, progress=False, kind="query"):
            raise KeyboardInterrupt

    broken = ChromaStore(store.settings, Boom(store.embedder))
    with pytest.raises(KeyboardInterrupt):
        broken.index("cat", small_items, rebuild=True, progress=False)
    assert store.active("cat").name == before and store.count("cat") == 60
    # the next run removes the half-built leftover
    store.index("cat", small_items, progress=False)
    assert {c.name for c in store.client.list_collections()} == {"rc-cat", before}


def test_missing_index_message(store_factory):
    store, _ = store_factory()
    with pytest.raises(IndexMissingError, match="recchat index nope"):
        store.active("nope")


def test_duplicate_ids_refused(store_factory):
    store, _ = store_factory()
    with pytest.raises(ValueError, match="unique"):
        store.index("cat", [Item(id="1", title="a"), Item(id="1", title="b")], progress=False)


def test_vectors_are_normalised(ml100k_store, ml100k_items):
    vecs = ml100k_store.get_embeddings("ml100k", [i.id for i in ml100k_items[:5]])
    assert np.allclose([np.linalg.norm(v) for v in vecs.values()], 1.0, atol=1e-3)
