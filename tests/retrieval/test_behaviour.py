"""retrieval.behaviour: item-kNN + popularity/rating prior from interactions, and its file."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.behaviour import Behaviour, ItemKNN, behaviour_path, histories_from_frame, load_behaviour

HISTORIES = [["a", "b", "c"], ["a", "b"], ["b", "c"], ["d"], ["a", "b", "d"]]
UNIVERSE = ["a", "b", "c", "d", "e"]


def test_knn_neighbours_follow_co_occurrence():
    knn = ItemKNN(HISTORIES, UNIVERSE, shrink=0.0, half_life=1.0)
    assert knn.sim[knn.pos["a"], knn.pos["b"]] == pytest.approx(3 / np.sqrt(3 * 4))  # 3 co-raters
    assert knn.sim[knn.pos["a"], knn.pos["e"]] == 0.0 and np.all(np.diag(knn.sim) == 0.0)
    assert knn.top(["a"], 2) == ["b", "c"] or knn.top(["a"], 2) == ["b", "d"]
    assert knn.top(["a"], 10)[0] == "b" and "a" not in knn.top(["a"], 10)


def test_counts_ratings_and_popularity():
    model = Behaviour.build(HISTORIES, UNIVERSE, [("a", 5.0), ("a", 3.0), ("zzz", 1.0)])
    assert model.counts.tolist() == [3, 4, 2, 2, 0]
    assert model.mean_rating[0] == pytest.approx(4.0) and np.isnan(model.mean_rating[1])
    assert model.ranked_by_popularity()[:2] == ["b", "a"] and model.popularity_pct[1] == pytest.approx(100.0)
    assert model.lookup(["b", "nope"], model.counts, default=-1).tolist() == [4.0, -1.0]


def test_save_and_load_round_trip(tmp_path):
    model = Behaviour.build(HISTORIES, UNIVERSE, [("c", 2.0)])
    path = model.save(behaviour_path("films", tmp_path))
    again = load_behaviour("films", tmp_path)
    assert path.is_file() and again is not None and again.knn.ids == UNIVERSE
    assert np.array_equal(again.knn.sim, model.knn.sim) and np.array_equal(again.counts, model.counts)
    assert again.knn.half_life == model.knn.half_life and load_behaviour("other", tmp_path) is None
    assert model.ease is not None and again.ease is not None and again.ease.ids == UNIVERSE
    assert np.array_equal(again.ease.b, model.ease.b) and again.ease.half_life == model.ease.half_life
    assert Behaviour.build(HISTORIES, UNIVERSE, ease_lambda=None).ease is None


def test_real_movielens_histories_are_time_ordered():
    from retrieval.movielens import load_interactions

    frame = load_interactions("movielens-100k")
    histories, pairs = histories_from_frame(frame)
    assert len(histories) == 943 and len(pairs) == 100_000
    first = frame[frame["user_id"] == "1"].sort_values(["timestamp", "row"], kind="stable")["item_id"].tolist()
    assert histories[0] == [str(i) for i in first]


def test_co_raters_are_recovered_exactly_from_the_similarity(tmp_path):
    """The reasons cite "x% of the n people who rated A also rated B": the count must be exact,
    also after a save/load round trip, for any shrinkage."""
    from retrieval.movielens import load_interactions

    histories, pairs = histories_from_frame(load_interactions("movielens-100k"))
    universe = sorted({i for h in histories for i in h})
    for shrink in (10.0, 3.0):
        model = Behaviour.build(histories, universe, pairs, shrink=shrink)
        model = Behaviour.load(model.save(tmp_path / f"b{shrink}.npz"))
        sets = [set(h) for h in histories]
        for a, b in [("50", "181"), ("50", "1"), ("100", "258"), ("1", "1500"), ("313", "300")]:
            assert model.co_raters(a, b) == sum(1 for s in sets if a in s and b in s), (a, b, shrink)
        assert model.raters("50") == sum(1 for s in sets if "50" in s) and model.co_raters("50", "nope") == 0
        assert model.mean("50") == pytest.approx(np.mean([r for i, r in pairs if i == "50"]), abs=1e-4)
