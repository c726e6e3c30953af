"""Exploration: adaptation of the offer rate, and a real pick on ML-100K."""

import random

from agent.ranking.exploration import ExplorationStats, known_genres, pick_exploration
from retrieval.retriever import Filters, Retriever


def test_reception_adapts_offer_rate():
    s = ExplorationStats()
    assert s.offer_probability(1.0) == 1.0 and s.offer_probability(0.0) == 0.0
    s.disliked += 3
    low = s.offer_probability(1.0)
    assert 0.1 <= low < 0.5
    s.liked += 6
    assert s.offer_probability(1.0) > low
    rng = random.Random(0)
    assert sum(ExplorationStats(disliked=8).should_offer(1.0, rng) for _ in range(200)) < 100


def test_pick_is_outside_known_genres_and_respects_filters(ml100k_store):
    retriever = Retriever(ml100k_store, "ml100k")
    seed_id = next(i.id for i in ml100k_store.iter_items("ml100k") if i.title.startswith("Star Wars"))
    seed = ml100k_store.get_items("ml100k", [seed_id])[seed_id]
    known = known_genres([seed])
    filters = Filters(year_min=1970)
    pick = pick_exploration(retriever, [seed], known, filters, set())
    assert pick is not None
    item = pick.candidate.item
    assert not set(item.genres) & set(known) and filters.matches_item(item) and item.id != seed.id
    assert pick.reason.startswith("To explore") and seed.title in pick.reason
