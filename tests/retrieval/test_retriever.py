"""Retriever on the real ML-100K index: relevance, filters, exclusion, history, MMR."""

import os

import numpy as np
import pytest

from retrieval.hits import Hit
from retrieval.retriever import Filters, Retriever, mmr, recency_weights
from retrieval.settings import RetrievalSettings
from retrieval.store import ChromaStore


@pytest.fixture(scope="module")
def retriever(ml100k_store):
    return Retriever(ml100k_store, "ml100k")


def titles(cands):
    return [c.item.title for c in cands]


def test_text_query_finds_the_obvious_item(retriever):
    hits = retriever.retrieve("Toy Story animated toys come to life", k=5)
    assert any("Toy Story" in t for t in titles(hits))
    assert [c.rank for c in hits] == list(range(5))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


@pytest.mark.parametrize("filters", [
    Filters(year_min=1990, year_max=1994),
    Filters(genres=("Comedy",), exclude_genres=("Romance",)),
    Filters(year_max=1960, genres=("Drama",)),
    Filters(year_min=1998, exclude_genres=("Drama", "Comedy")),
])
@pytest.mark.parametrize("scan_max", [None, 0])  # exact scan of cached vectors / HNSW over-fetch + post-filter
def test_filters_hold_and_match_chromas_filtered_query(ml100k_store, filters, scan_max):
    retriever = Retriever(ml100k_store, "ml100k", exact_scan_max=scan_max)
    result = retriever.retrieve_with_path("a dark crime story", k=15, filters=filters)
    hits = list(result.candidates)
    assert result.path in (("exact-scan",) if scan_max is None else ("post-filter", "chroma-filter"))
    assert hits == retriever.retrieve("a dark crime story", k=15, filters=filters)
    assert hits and all(filters.matches_item(c.item) for c in hits)
    vec = retriever.query_vector("a dark crime story")
    exact = [h.id for h in ml100k_store.query("ml100k", vec, 15, filters.to_where())]
    assert [c.item.id for c in hits] == exact
    items = ml100k_store.get_items("ml100k", [c.item.id for c in hits])
    assert [c.item for c in hits] == [items[c.item.id] for c in hits]  # metadata from the mirror is the stored one


def test_selective_filter_paths_agree(ml100k_store):
    rare = Filters(year_max=1935)
    scan = Retriever(ml100k_store, "ml100k")
    post = Retriever(ml100k_store, "ml100k", exact_scan_max=0)
    fallback = Retriever(ml100k_store, "ml100k", max_fetch=50, exact_scan_max=0)
    ra, rb, rc = (r.retrieve_with_path("space adventure", k=10, filters=rare, exclude=["1"]) for r in (scan, post, fallback))
    a, b, c = ra.candidates, rb.candidates, rc.candidates
    assert (ra.path, rb.path, rc.path) == ("exact-scan", "post-filter", "chroma-filter")
    assert [x.item.id for x in a] == [x.item.id for x in b] == [x.item.id for x in c]
    assert [x.score for x in a] == pytest.approx([x.score for x in c], abs=1e-4)
    uncached = RetrievalSettings(chroma_path=ml100k_store.settings.chroma_path, vector_cache_max_mb=0)
    fetched = Retriever(ChromaStore(uncached, ml100k_store.embedder), "ml100k")
    rd = fetched.retrieve_with_path("space adventure", k=10, filters=rare, exclude=["1"])
    assert rd.path == "exact-scan" and [x.item.id for x in rd.candidates] == [x.item.id for x in a]
    assert a and all(x.item.year is not None and x.item.year <= 1935 for x in a)
    assert Retriever(ml100k_store, "ml100k").retrieve("x", k=5, filters=Filters(year_min=2100)) == []
    assert Retriever(ml100k_store, "ml100k").retrieve_with_path("x", k=5, filters=Filters(year_min=2100)).path == "empty"


def test_exact_scan_excludes_banned_and_returns_embeddings(ml100k_store):
    retriever = Retriever(ml100k_store, "ml100k")
    flt = Filters(genres=("Film-Noir",))
    first = retriever.retrieve("a detective in the rain", k=5, filters=flt)
    banned = [c.item.id for c in first[:2]]
    result = retriever.retrieve_with_path("a detective in the rain", k=5, filters=flt, exclude=banned, mmr_lambda=0.7)
    again = result.candidates
    assert result.path == "exact-scan" and not set(banned) & {c.item.id for c in again}
    vec = retriever.query_vector("a detective in the rain")
    hits = retriever.search(vec, 5, flt, set(banned), with_emb=True)
    assert all(isinstance(h, Hit) and h.embedding is not None and h.embedding.shape == (384,) for h in hits)
    assert not any(h.embedding is not None for h in retriever.search(vec, 5, flt, set(banned)))
    mirror, vectors = ml100k_store.mirror_vectors("ml100k")
    assert vectors.shape == (len(mirror.ids), 384) and vectors.dtype == np.float32
    stored = ml100k_store.get_embeddings("ml100k", mirror.ids[:3])
    assert np.allclose(vectors[:3], np.stack([stored[i] for i in mirror.ids[:3]]), atol=1e-6)


def test_mask_matches_python_predicate_and_chroma(ml100k_store, ml100k_items):
    mirror = ml100k_store.mirror("ml100k")
    for flt in [Filters(year_min=1990, genres=("Comedy",)), Filters(exclude_genres=("Drama",)),
                Filters(genres=("Film-Noir",), year_max=1960),
                Filters(genres_any=("Western", "War"), year_max=1970),  # "a western or a war film"
                Filters(genres_any=("Comedy", "Romance"), exclude_genres=("Drama",), genres=("Musical",))]:
        mask = flt.mask(mirror)
        by_python = {i.id for i in ml100k_items if flt.matches_item(i)}
        assert by_python and {mirror.ids[r] for r in mask.nonzero()[0]} == by_python
        got = ml100k_store.active("ml100k").get(where=flt.to_where(), include=[])["ids"]
        assert set(got) == by_python  # the Chroma where clause agrees


def test_exclusion_and_history(retriever, ml100k_items):
    first = retriever.retrieve("romantic comedy in new york", k=5)
    banned = [c.item.id for c in first[:3]]
    again = retriever.retrieve("romantic comedy in new york", k=5, exclude=banned)
    assert not set(banned) & {c.item.id for c in again}
    assert [c.item.id for c in again][:2] == [c.item.id for c in first][3:5]
    history = [i.id for i in ml100k_items if "Star Wars" in i.title or "Empire Strikes" in i.title][:2]
    by_history = retriever.retrieve(history=history, k=10)
    assert not set(history) & {c.item.id for c in by_history}
    assert any("Return of the Jedi" in t for t in titles(by_history))
    assert by_history[0].sources == ("history",)


def test_mmr_diversifies(retriever):
    plain = retriever.retrieve("star trek", k=8)
    diverse = retriever.retrieve("star trek", k=8, mmr_lambda=0.3)
    def spread(cands):
        vecs = np.stack(list(retriever.store.get_embeddings("ml100k", [c.item.id for c in cands]).values()))
        sim = vecs @ vecs.T
        return (sim.sum() - len(vecs)) / (len(vecs) * (len(vecs) - 1))
    assert spread(diverse) < spread(plain)


def test_empty_query_is_an_error(retriever):
    with pytest.raises(ValueError, match="needs text"):
        retriever.retrieve("  ", k=3)


def test_recency_weights_and_mmr_units():
    w = recency_weights(3, half_life=1.0)
    assert np.allclose(w, [0.25, 0.5, 1.0])
    vecs = np.eye(3, dtype=np.float32)
    q = np.array([1.0, 0.9, 0.0], dtype=np.float32)
    assert mmr(q, vecs, 2, lam=1.0) == [0, 1]


def test_filters_where_clause():
    assert Filters().to_where() is None
    assert Filters(year_min=1990).to_where() == {"year": {"$gte": 1990}}
    where = Filters(year_min=1990, year_max=1999, genres=("Crime",)).to_where()
    assert where == {"$and": [{"year": {"$gte": 1990}}, {"year": {"$lte": 1999}}, {"genres": {"$contains": "Crime"}}]}
    assert not Filters(year_min=1990).matches({"title": "no year"})
    assert Filters(fields={"cast": "Al Pacino"}).matches({"cast": ["Al Pacino", "Robert De Niro"]})


def test_warm_up_loads_the_mirror_and_the_vector_cache_only_when_exact_scans_use_it(ml100k_store, embedder):
    path = ml100k_store.settings.chroma_path
    fresh = ChromaStore(RetrievalSettings(chroma_path=path), embedder)
    took = Retriever(fresh, "ml100k").warm_up()
    assert set(took) == {"mirror_s", "vectors_s"} and all(s >= 0 for s in took.values())
    mirror = fresh._mirrors["ml100k"]
    assert len(mirror.ids) == 1682 and mirror.vectors is not None and mirror.vectors.shape == (1682, embedder.dim)
    for settings_kw, retriever_kw in [({"vector_cache_max_mb": 0}, {}), ({}, {"exact_scan_max": 0})]:
        store = ChromaStore(RetrievalSettings(chroma_path=path, **settings_kw), embedder)
        assert set(Retriever(store, "ml100k", **retriever_kw).warm_up()) == {"mirror_s"}
        assert store._mirrors["ml100k"].vectors is None


def test_overfetch_override_widens_the_post_filter_fetch(ml100k_store):
    """A larger over-fetch asks Chroma for more neighbours (fallback threshold reached sooner)."""
    broad = Filters(genres=["Drama"])  # ~40% of ML-100K: post-filter territory
    vec = Retriever(ml100k_store, "ml100k").query_vector("family drama")
    default = Retriever(ml100k_store, "ml100k", exact_scan_max=0, max_fetch=200)
    wide = Retriever(ml100k_store, "ml100k", exact_scan_max=0, max_fetch=200, overfetch=4.0)
    paths = (default.search_with_path(vec, 50, broad).path, wide.search_with_path(vec, 50, broad).path)
    assert paths == ("post-filter", "chroma-filter")


def test_tuning_comes_from_settings_unless_overridden(monkeypatch, tmp_path):
    """The tuning knobs are RetrievalSettings fields (env RECCHAT_RETRIEVAL_*); Retriever fields override."""
    from types import SimpleNamespace

    monkeypatch.chdir(tmp_path)  # no recchat.toml
    for name in [n for n in os.environ if n.startswith("RECCHAT_RETRIEVAL_") or n == "RECCHAT_CONFIG"]:
        monkeypatch.delenv(name)
    defaults = RetrievalSettings()
    assert (defaults.max_fetch, defaults.history_half_life, defaults.history_weight, defaults.mmr_pool) == (2000, 5.0, 0.5, 3)
    monkeypatch.setenv("RECCHAT_RETRIEVAL_MAX_FETCH", "300")
    monkeypatch.setenv("RECCHAT_RETRIEVAL_HISTORY_WEIGHT", "0.25")
    monkeypatch.setenv("RECCHAT_RETRIEVAL_HISTORY_HALF_LIFE", "2.5")
    settings = RetrievalSettings()
    shared = Retriever(SimpleNamespace(settings=settings), "x")  # type: ignore[arg-type]
    names = ("max_fetch", "history_weight", "history_half_life", "exact_scan_max")
    assert tuple(shared.tuned(n) for n in names) == (300, 0.25, 2.5, 20_000)
    own = Retriever(SimpleNamespace(settings=settings), "x", max_fetch=10, history_weight=1.0,  # type: ignore[arg-type]
                    history_half_life=1.0, exact_scan_max=0)
    assert tuple(own.tuned(n) for n in names) == (10, 1.0, 1.0, 0)
    monkeypatch.setenv("RECCHAT_RETRIEVAL_HISTORY_WEIGHT", "1.5")
    with pytest.raises(ValueError):
        RetrievalSettings()


def test_the_path_comes_with_the_result_and_the_retriever_keeps_no_call_state(ml100k_store):
    """One retriever is shared by every session: the path of a call comes back with its result,
    and two concurrent calls each get their own."""
    import threading

    shared = Retriever(ml100k_store, "ml100k")
    vec = shared.query_vector("a detective in the rain")
    queries = {"scan": Filters(genres=("Film-Noir",)), "plain": None}
    seen: dict[str, str] = {}
    before = dict(vars(shared))

    def session(name):
        seen[name] = shared.search_with_path(vec, 5, queries[name]).path

    threads = [threading.Thread(target=session, args=(name,)) for name in queries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert seen == {"scan": "exact-scan", "plain": "unfiltered"}
    assert vars(shared) == before and not hasattr(shared, "last_path")


def test_none_of_is_exact_in_chroma_once_closed_over_the_catalog():
    """Chroma's $nin passes an item WITHOUT the field; ``Filters.closed`` makes the where clause
    agree with ``matches`` (unknown is not "not English")."""
    import chromadb

    collection = chromadb.EphemeralClient().get_or_create_collection("none-of-test")
    metas = [{"primary_language": "French"}, {"primary_language": "English"}, {"year": 1990},
             {"primary_language": "German"}]
    collection.add(ids=["a", "b", "c", "d"], embeddings=[[1, 0], [0, 1], [1, 1], [1, 2]], metadatas=metas)
    flt = Filters(none_of={"primary_language": ("English",)})
    assert set(collection.get(where=flt.to_where())["ids"]) == {"a", "c", "d"}  # the raw $nin: too many
    closed = flt.closed(metas)
    assert set(collection.get(where=closed.to_where())["ids"]) == {"a", "d"}
    assert [flt.matches(m) for m in metas] == [closed.matches(m) for m in metas] == [True, False, False, True]
