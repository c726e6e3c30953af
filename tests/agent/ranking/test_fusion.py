"""agent.ranking.fusion on the real ML-100K index and its real ratings: every source keeps the filters and
exclusions, the behaviour source brings the films people who liked X also liked."""

from __future__ import annotations

import numpy as np
import pytest

from agent.ranking.fusion import FEATURES, UNTRAINED, CandidateSources, FusionModel, FusionWeights, load_weights, weights_path
from retrieval.retriever import Filters, Retriever


@pytest.fixture(scope="module")
def sources(ml100k_store):
    from retrieval.behaviour import Behaviour, histories_from_frame
    from retrieval.movielens import load_interactions

    histories, pairs = histories_from_frame(load_interactions("movielens-100k"))
    universe = sorted({i for h in histories for i in h})
    return CandidateSources(Retriever(ml100k_store, "ml100k"), Behaviour.build(histories, universe, pairs), UNTRAINED)


def find(store, title):
    mirror = store.mirror("ml100k")
    return next(i for i, m in zip(mirror.ids, mirror.metas) if m["title"] == title)


def test_pool_keeps_filters_and_exclusions_in_every_source(sources, ml100k_store):
    star_wars = find(ml100k_store, "Star Wars")
    flt = Filters(year_min=1970, year_max=1989, exclude_genres=("Horror",))
    pool = sources.pool("space adventure", [star_wars], flt, ["1"])
    assert {"text", "behaviour", "popularity"} <= {s for srcs in pool.sources for s in srcs}
    assert pool.items and all(flt.matches_item(i) for i in pool.items)
    assert star_wars not in {i.id for i in pool.items} and "1" not in {i.id for i in pool.items}
    assert pool.features.shape == (len(pool.items), len(FEATURES))
    assert np.all((pool.features >= 0) & (pool.features <= 1))


def test_behaviour_brings_what_fans_of_the_reference_liked(sources, ml100k_store):
    star_wars = find(ml100k_store, "Star Wars")
    only = FusionWeights(text=0, behaviour=1, popularity=0, rating=0)
    behaviour_only = FusionModel(only, only)
    picks = CandidateSources(sources.retriever, sources.behaviour, behaviour_only).candidates(
        None, [star_wars], Filters(), [], 5)
    titles = [c.item.title for c in picks]
    assert {"Return of the Jedi", "The Empire Strikes Back"} <= set(titles), titles
    assert all(c.sources for c in picks) and [c.rank for c in picks] == list(range(5))


def test_constraint_only_request_gets_well_loved_films(sources):
    picks = sources.candidates(None, [], Filters(year_max=1979, genres=("Sci-Fi",)), [], 5)
    assert picks and all(c.item.year <= 1979 and "Sci-Fi" in c.item.genres for c in picks)
    assert "Star Wars" in [c.item.title for c in picks]  # the most rated film that fits


def test_weights_file_round_trip_and_cold_requests_use_their_own_weights(tmp_path):
    model = FusionModel(FusionWeights(0.5, 2.0, 1.5, -0.25, bias=-3.0), FusionWeights(1.0, 0.0, 3.0, 0.5))
    model.save(weights_path("films", tmp_path), {"report": {"auc": 0.9}})
    assert load_weights("films", tmp_path) == model and load_weights("none", tmp_path) == UNTRAINED
    assert model.for_history(["1"]) is model.warm and model.for_history([]) is model.cold


class FixedScorer:
    """A stand-in sequence model over some of the catalog's ids: fixed logits, whatever the history."""

    def __init__(self, logits: dict[str, float]) -> None:
        self.ids = list(logits)
        self.pos = {i: n for n, i in enumerate(self.ids)}
        self._logits = np.array(list(logits.values()), dtype=np.float32)
        self.calls: list[list[str]] = []

    def scores(self, history):
        self.calls.append(list(history))
        return self._logits.copy()


def test_sequence_model_adds_its_source_and_feature(sources, ml100k_store):
    star_wars, alien = find(ml100k_store, "Star Wars"), find(ml100k_store, "Alien")
    fargo = find(ml100k_store, "Fargo")
    scorer = FixedScorer({fargo: 5.0, alien: 1.0, star_wars: 9.0})  # star_wars is the history: never a candidate
    seq = CandidateSources(sources.retriever, sources.behaviour, UNTRAINED, sequence=scorer)
    pool = seq.pool(None, [star_wars], Filters(), [])
    col = pool.features[:, FEATURES.index("sequence")]
    by_id = {i.id: n for n, i in enumerate(pool.items)}
    assert "sequence" in pool.sources[by_id[fargo]] and col[by_id[fargo]] == pytest.approx(1.0)  # best of the turn
    assert 0 < col[by_id[alien]] < 0.05  # e**(1-5) after the softmax, relative to the best
    assert star_wars not in by_id and scorer.calls == [[star_wars]]
    unknown = [n for i, n in by_id.items() if i not in scorer.pos]
    assert unknown and np.all(col[unknown] == 0)  # films the model does not know get no sequence score
    assert not seq.pool(None, [], Filters(), []).features[:, FEATURES.index("sequence")].any()  # no history
    without = sources.pool(None, [star_wars], Filters(), [])  # no model: the column stays 0
    assert not without.features[:, FEATURES.index("sequence")].any()


def test_sequence_weights_rank_only_when_a_model_scores(sources, ml100k_store):
    star_wars, fargo = find(ml100k_store, "Star Wars"), find(ml100k_store, "Fargo")
    warm = FusionWeights(text=0, behaviour=1, popularity=0, rating=0)
    only_seq = FusionWeights(text=0, behaviour=0, popularity=0, rating=0, sequence=1)
    model = FusionModel(warm, warm, only_seq)
    assert model.for_history(["1"], True) is only_seq and model.for_history(["1"]) is warm
    assert model.for_history([], True) is warm  # cold requests: no history, no sequence
    with_model = CandidateSources(sources.retriever, sources.behaviour, model, sequence=FixedScorer({fargo: 3.0}))
    assert with_model.candidates(None, [star_wars], Filters(), [], 1)[0].item.id == fargo
    without = CandidateSources(sources.retriever, sources.behaviour, model)
    assert without.candidates(None, [star_wars], Filters(), [], 1)[0].item.title == "Return of the Jedi"


def test_weights_file_keeps_the_sequence_set(tmp_path):
    w = FusionWeights(0.5, 2.0, 1.5, -0.25, bias=-3.0)
    model = FusionModel(w, w, FusionWeights(0.1, 1.0, 0.2, 0.3, ease=0.4, sequence=2.5, bias=-4.0))
    model.save(weights_path("films", tmp_path))
    assert load_weights("films", tmp_path) == model


def test_an_acclaim_rule_holds_for_every_source_and_ranks_by_quality(sources, ml100k_store):
    from agent.ranking.acclaim import catalog_stats, passes

    median, _ = catalog_stats(sources.behaviour.counts, sources.behaviour.mean_rating.astype(np.float64))
    star_wars = find(ml100k_store, "Star Wars")
    pool = sources.pool("space adventure", [star_wars], Filters(), [], acclaim="underrated")
    assert pool.items and "acclaim" in {s for srcs in pool.sources for s in srcs}
    for item in pool.items:  # obscure AND good, whichever source found it
        assert passes("underrated", item.metadata(), sources.behaviour.raters(item.id),
                      sources.behaviour.mean(item.id), median)
    top = sources.candidates(None, [], Filters(), [], k=5, acclaim="underrated")
    assert all(sources.behaviour.raters(c.item.id) < median for c in top)


def test_the_lexical_source_finds_the_theme_word_for_a_text_led_request(ml100k_store, sources):
    lexical = CandidateSources(sources.retriever, sources.behaviour, UNTRAINED, lexical_weight=3.0)
    pool = lexical.pool("heist", [], Filters(), [], lexical_query="heist")
    found = [i for i, srcs in zip(pool.items, pool.sources) if "lexical" in srcs]
    assert found, "BM25 found no film whose facts say 'heist'"
    assert all("heist" in i.document().lower() for i in found[:5])
    assert pool.lexical is not None and pool.lexical.max() == 1.0
    assert sources.pool("heist", [], Filters(), []).lexical.max() == 0.0  # off unless asked


def test_shunned_words_lower_the_films_that_carry_them(ml100k_store, sources):
    """ "not a slasher": films whose text says "slasher" are lowered, not removed."""
    lexical = CandidateSources(sources.retriever, sources.behaviour, UNTRAINED, lexical_weight=3.0)
    flt = Filters(genres=("Horror",))
    pool = lexical.pool("scary", [], flt, [], shun_query="slasher")
    assert pool.shunned is not None and pool.shunned.max() == 1.0
    shunned = {i.id for i, v in zip(pool.items, pool.shunned) if v > 0}
    assert shunned and all("slasher" in i.document().lower() for i in pool.items if i.id in shunned)
    plain = [c.item.id for c in lexical.candidates("scary", [], flt, [], k=10)]
    lowered = [c.item.id for c in lexical.candidates("scary", [], flt, [], k=10, shun_query="slasher")]
    assert sum(i in shunned for i in lowered) <= sum(i in shunned for i in plain)
    assert all(c.item.id in {i.id for i in pool.items} for c in lexical.candidates("scary", [], flt, [], k=10,
                                                                                  shun_query="slasher"))


def test_two_wished_genres_count_more_than_one():
    from agent.ranking.fusion import _genre_match
    from retrieval.items import Item

    items = [Item(id="a", title="A", genres=["Romance", "Comedy"]), Item(id="b", title="B", genres=["Comedy"]),
             Item(id="c", title="C")]
    assert _genre_match(items, ["Romance", "Comedy"]).tolist() == [1.5, 1.0, 0.0]


class _Recording:
    """A retriever that records the texts it is asked for and answers like the one it wraps."""

    def __init__(self, inner: Retriever) -> None:
        self.inner, self.asked = inner, []
        self.store, self.catalog = inner.store, inner.catalog

    def retrieve(self, text, **kwargs):
        self.asked.append(text)
        return self.inner.retrieve(text, **kwargs)

    def query_vector(self, text, history=()):
        self.asked.append(text)
        return self.inner.query_vector(text, history)


def test_a_text_led_request_is_matched_with_the_theme_index(sources):
    themes = _Recording(sources.retriever)
    themed = CandidateSources(sources.retriever, sources.behaviour, UNTRAINED, themes=themes)  # type: ignore[arg-type]
    themed.candidates("a heist that goes wrong", [], Filters(), [], k=5)
    assert themes.asked == []  # not text-led: the main index only
    picks = themed.candidates("a heist that goes wrong", [], Filters(), [], k=5, text_led=True)
    assert themes.asked and set(themes.asked) == {"a heist that goes wrong"} and len(picks) == 5
