"""agent.ranking.acclaim: the free-form suite's acclaim rules, and their use in the fused candidates."""

from __future__ import annotations

import numpy as np
import pytest

from agent.ranking.acclaim import acclaim_scores, catalog_stats, passes, quality


@pytest.mark.parametrize("rule, meta, count, mean, ok", [
    ("critics", {"metacritic": 75}, 500, 3.0, True),
    ("critics", {"metacritic": 74, "rt_meter": 89}, 500, 4.5, False),  # a crowd's love is not the critics'
    ("critics", {"rt_meter": 90}, 0, None, True),
    ("critics", {}, 500, 4.8, False),  # no critics' figure: not shown for the wish
    ("underrated", {}, 50, 3.9, True),
    ("underrated", {}, 5, 4.9, False),  # too few ratings to call it good, and no other figure
    ("underrated", {"imdb_rating": 7.6}, 5, None, True),
    ("underrated", {"metacritic": 90}, 200, 4.5, False),  # not little-known: rated by more than the median
    ("top_rated", {}, 100, 4.2, True),
    ("top_rated", {}, 99, 4.6, False),
    ("top_rated", {"imdb_rating": 8.1, "imdb_votes": 10_000}, 3, 2.0, True),
    ("top_rated", {"imdb_rating": 8.1, "imdb_votes": 9_999}, 3, 2.0, False),
])
def test_rules(rule, meta, count, mean, ok):
    assert passes(rule, meta, count, mean, median_count=123.5) is ok


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError, match="critics, underrated, top_rated"):
        passes("cult", {}, 1, 4.0, 1.0)


def test_quality_orders_by_the_figures_and_shrinks_few_ratings():
    assert quality({"metacritic": 95}, 300, 4.4, 3.5) > quality({"metacritic": 70}, 300, 4.4, 3.5)
    assert quality({}, 1000, 4.5, 3.5) > quality({}, 5, 4.5, 3.5)  # five ratings say less than a thousand
    assert 0.0 <= quality({"imdb_rating": 10, "metacritic": 100, "rt_meter": 100}, 10, 5.0, 3.5) <= 1.0


def test_scores_use_the_whole_catalogs_median():
    counts = np.array([10, 20, 300, 400, 0], dtype=np.float32)
    means = np.array([4.0, 3.0, 4.5, 4.4, np.nan])
    stats = catalog_stats(counts, means)
    assert stats[0] == 160.0  # the median of the RATED films (the unrated one does not count)
    ok, q = acclaim_scores("underrated", [{}] * 5, counts, means, stats)
    assert ok.tolist() == [True, False, False, False, False]
    assert q[0] > 0 and q[1:].tolist() == [0, 0, 0, 0]
