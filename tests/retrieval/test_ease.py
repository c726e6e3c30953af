"""EASE (retrieval.ease): the closed form against a direct per-item ridge solve, the interface it
shares with item-kNN, and the file round trip (the real-data figures: tests/eval/train/test_behaviour.py)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.ease import EASE, interaction_matrix

HISTORIES = [["a", "b", "c"], ["a", "b"], ["b", "c", "d"], ["a", "d"], ["c", "d", "e"], ["a", "b", "e"]]
UNIVERSE = ["a", "b", "c", "d", "e", "z"]


def test_closed_form_equals_the_constrained_ridge_per_item() -> None:
    lam = 2.0
    model = EASE(HISTORIES, UNIVERSE, lam)
    x = interaction_matrix(HISTORIES, model.pos).toarray().astype(np.float64)
    gram = x.T @ x + lam * np.eye(len(UNIVERSE))
    for j in range(len(UNIVERSE)):  # column j: ridge regression of item j on every other item
        rest = [i for i in range(len(UNIVERSE)) if i != j]
        direct = np.linalg.solve(gram[np.ix_(rest, rest)], (x.T @ x)[rest, j])
        np.testing.assert_allclose(model.b[rest, j], direct, rtol=1e-4, atol=1e-6)
        assert model.b[j, j] == 0.0


def test_scores_top_and_round_trip() -> None:
    model = EASE(HISTORIES, UNIVERSE, 1.0, half_life=1.0)
    top = model.top(["a", "b"], 3)
    assert "a" not in top and "b" not in top and len(top) == 3
    assert not model.scores(["unknown"]).any()
    again = EASE.from_matrix(model.ids, model.b, model.lam, model.half_life)
    np.testing.assert_array_equal(again.scores(["a", "c"]), model.scores(["a", "c"]))
    # recency: the newest film weighs 1, one step back 0.5 (half-life 1)
    np.testing.assert_allclose(model.scores(["a", "c"]), 0.5 * model.b[model.pos["a"]] + model.b[model.pos["c"]],
                               rtol=1e-6)


def test_bad_settings_fail_clearly() -> None:
    with pytest.raises(ValueError, match="positive L2 weight"):
        EASE(HISTORIES, UNIVERSE, 0.0)


def test_ranks_count_better_items_with_the_history_masked():
    from retrieval.ease import ItemScorer

    class Fixed(ItemScorer):
        def __init__(self) -> None:
            self.ids = ["a", "b", "c", "d"]
            self.pos = {i: n for n, i in enumerate(self.ids)}

        def scores(self, history):
            return np.array([4.0, 3.0, 3.0, 1.0], dtype=np.float32)

    model = Fixed()
    assert model.ranks([], ["a", "b", "c", "d", "zz"]) == [0, 1, 1, 3, None]
    assert model.ranks(["a"], ["a", "b", "d"]) == [None, 0, 2]  # the history is masked, not ranked
    assert model.top(["a"], 2) == ["b", "c"]
