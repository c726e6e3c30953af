"""Choose EASE's L2 weight and history recency on the VALIDATION split (``recchat train ease``).

Full ranking of every eligible user's second-to-last item (its history: everything before it, so
the test item never shapes the model or the score), history masked, NDCG@10 / Recall@10 over the
whole catalog universe. The grid's best setting is written to ``<out>/grid.json`` with every
grid point; the test split is never read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eval.metrics import single_target_metrics
from eval.splits import leave_one_out

DEFAULT_LAMBDAS = (100.0, 200.0, 500.0, 1000.0)
DEFAULT_HALF_LIVES: tuple[float | None, ...] = (None, 10.0, 5.0, 3.0, 2.0, 1.0)


@dataclass(frozen=True)
class GridPoint:
    """One EASE setting and its validation figures (means over users; fit time in seconds)."""

    lam: float
    half_life: float | None
    ndcg10: float
    recall10: float
    fit_s: float


def rank_of_targets(scores: np.ndarray, masks: list[np.ndarray], targets: np.ndarray) -> np.ndarray:
    """1-based rank of each user's target among the unmasked items (ties: pessimistic)."""
    ranks = np.empty(len(targets), dtype=np.int64)
    for u, (row, mask, t) in enumerate(zip(scores, masks, targets)):
        row = row.copy()
        row[mask] = -np.inf
        ranks[u] = int((row > row[t]).sum() + (row == row[t]).sum())
    return ranks


def ndcg_recall(ranks: np.ndarray, k: int = 10) -> tuple[float, float]:
    """Mean NDCG@k and Recall@k of 1-based target ranks (:func:`eval.metrics.single_target_metrics`)."""
    per_user = [single_target_metrics(int(r), [k]) for r in ranks]
    return (float(np.mean([m[f"ndcg@{k}"] for m in per_user])), float(np.mean([m[f"recall@{k}"] for m in per_user])))


def tune_ease(dataset: str, out: Path, lambdas: Sequence[float] = DEFAULT_LAMBDAS,
              half_lives: Sequence[float | None] = DEFAULT_HALF_LIVES, seed: int = 0,
              knn_shrink: float = 5.0, knn_half_life: float = 1.0) -> dict[str, object]:
    """Grid search (see the module doc); returns and writes the summary."""
    from tqdm import tqdm

    from eval.data import load_dataset
    from retrieval.behaviour import ItemKNN
    from retrieval.ease import EASE, ItemScorer

    data = load_dataset(dataset, enrich=False)
    split = leave_one_out(data.interactions, "validation", seed)
    universe = sorted(set(data.interactions["item_id"].astype(str)))
    histories = [c.history for c in split.cases]
    pos = {i: n for n, i in enumerate(universe)}
    targets = np.array([pos[c.target] for c in split.cases], dtype=np.int64)
    masks = [np.array([pos[h] for h in set(c.history) if h in pos], dtype=np.int64) for c in split.cases]

    def ranks(model: ItemScorer) -> np.ndarray:  # scored exactly as the pipelines and the chat score
        return rank_of_targets(np.stack([model.scores(h) for h in histories]), masks, targets)

    knn = ItemKNN(histories, universe, knn_shrink, knn_half_life)  # the reference: the chat's other source
    knn_ndcg, knn_recall = ndcg_recall(ranks(knn))
    grid: list[GridPoint] = []
    for lam in tqdm(lambdas, desc="EASE lambda", unit="fit"):
        t0 = time.perf_counter()
        model = EASE(histories, universe, lam)
        fit_s = time.perf_counter() - t0
        for half_life in half_lives:
            ndcg, recall = ndcg_recall(ranks(EASE.from_matrix(model.ids, model.b, lam, half_life)))
            grid.append(GridPoint(lam, half_life, round(ndcg, 5), round(recall, 5), round(fit_s, 2)))
    best = max(grid, key=lambda g: (g.ndcg10, g.recall10))
    summary: dict[str, object] = {
        "dataset": dataset, "split": "validation", "protocol": "full ranking, history masked, every eligible user",
        "users": len(split.cases), "items": len(universe), "seed": seed,
        "best": asdict(best),
        "item_knn_reference": {"shrink": knn_shrink, "half_life": knn_half_life, "ndcg10": round(knn_ndcg, 5),
                               "recall10": round(knn_recall, 5)},
        "grid": [asdict(g) for g in grid]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "grid.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary
