"""eval.train.behaviour / `recchat train ease`: the validation grid on real MovieLens-100K."""

from __future__ import annotations

import json

import numpy as np

from retrieval.ease import EASE


def test_ease_beats_popularity_on_real_validation_targets() -> None:
    """ML-100K validation split (second-to-last item): EASE's full-ranking NDCG@10 is well above
    popularity's (a broken fit or a sign error ranks at popularity level or below)."""
    from eval.splits import leave_one_out
    from eval.train.behaviour import ndcg_recall, rank_of_targets
    from retrieval.movielens import load_interactions

    frame = load_interactions("movielens-100k")
    cases = leave_one_out(frame, "validation").cases
    universe = sorted(set(frame["item_id"].astype(str)))
    model = EASE([c.history for c in cases], universe, 200.0, half_life=5.0)
    pos = model.pos
    masks = [np.array([pos[h] for h in c.history], dtype=np.int64) for c in cases]
    targets = np.array([pos[c.target] for c in cases])
    ease_ndcg, _ = ndcg_recall(rank_of_targets(np.stack([model.scores(c.history) for c in cases]), masks, targets))
    counts = np.zeros(len(universe), dtype=np.float32)
    for c in cases:
        counts[[pos[h] for h in c.history]] += 1
    pop_ndcg, _ = ndcg_recall(rank_of_targets(np.tile(counts, (len(cases), 1)), masks, targets))
    assert ease_ndcg > 1.5 * pop_ndcg > 0


def test_tune_writes_every_grid_point_and_the_best(tmp_path) -> None:
    from eval.train.behaviour import tune_ease

    summary = tune_ease("movielens-100k", tmp_path, lambdas=(200.0,), half_lives=(None, 5.0))
    doc = json.loads((tmp_path / "grid.json").read_text(encoding="utf-8"))
    assert doc["split"] == "validation" and len(doc["grid"]) == 2 and doc["users"] == 943
    assert doc["best"] == max(doc["grid"], key=lambda g: (g["ndcg10"], g["recall10"])) == summary["best"]
    assert 0 < doc["item_knn_reference"]["ndcg10"] < 1
