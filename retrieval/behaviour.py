"""Behavioural signal of a catalog from its interaction data: item-kNN neighbours, EASE
(:mod:`retrieval.ease`) and a popularity / rating prior. Optional: a catalog without interactions
has none.

:class:`ItemKNN` is item-item cosine similarity over binary user-item histories, shrunk towards 0
for rarely co-rated pairs (``co / (co + shrink)``); a history's scores are the recency-weighted
sum of its items' similarity rows (weight halves every ``half_life`` items back).

:class:`Behaviour` bundles the kNN (and EASE, when the catalog is small enough) with per-item interaction counts and mean ratings and is
saved beside the index (``<RECCHAT_HOME>/behaviour/<catalog>.npz``) by ``recchat index`` when
the catalog has interactions (MovieLens). Dense similarity: fine for the ~4k items of ML-1M
(55 MB float32); a catalog of 1M items would need a sparse top-k neighbour list instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.config import recchat_home
from retrieval.ease import EASE, MAX_ITEMS, ItemScorer, interaction_matrix
from retrieval.retriever import recency_weights


class ItemKNN(ItemScorer):
    """Item-item cosine kNN over binary user-item histories (see the module doc)."""

    def __init__(self, histories: Sequence[Sequence[str]], universe: Sequence[str], shrink: float = 10.0,
                 half_life: float = 10.0) -> None:
        self.ids = list(universe)
        self.pos = {i: n for n, i in enumerate(self.ids)}
        self.half_life = half_life
        x = interaction_matrix(histories, self.pos)
        co = (x.T @ x).toarray().astype(np.float32)
        norms = np.sqrt(np.diag(co)).astype(np.float32)
        denom = np.outer(norms, norms) + 1e-9
        damp = np.divide(co, co + shrink, out=np.zeros_like(co), where=(co + shrink) > 0)
        sim = co / denom * damp
        np.fill_diagonal(sim, 0.0)
        self.sim = sim

    @classmethod
    def from_matrix(cls, ids: Sequence[str], sim: np.ndarray, half_life: float) -> "ItemKNN":
        knn = cls.__new__(cls)
        knn.ids, knn.pos, knn.half_life, knn.sim = list(ids), {i: n for n, i in enumerate(ids)}, half_life, sim
        return knn

    def scores(self, history: Sequence[str]) -> np.ndarray:
        """Scores of every universe item (float32, ``len(ids)``) for a history oldest -> newest."""
        known = [self.pos[h] for h in history if h in self.pos]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        w = recency_weights(len(known), self.half_life)
        return (w[:, None] * self.sim[known]).sum(axis=0)


@dataclass
class Behaviour:
    """Item-kNN + EASE + per-item interaction counts and mean ratings (NaN = unrated) of one catalog.

    ``popularity_pct[i]`` is item i's percentile (0-100, 100 = most interactions) among the
    items with interactions; items outside ``knn.ids`` have no behavioural signal at all.
    ``ease`` (same ids as ``knn``) is None for a catalog above :data:`retrieval.ease.MAX_ITEMS`
    or a model file written before EASE was added."""

    knn: ItemKNN
    counts: np.ndarray
    mean_rating: np.ndarray
    shrink: float = 10.0
    ease: EASE | None = None

    @classmethod
    def build(cls, histories: Sequence[Sequence[str]], universe: Sequence[str],
              ratings: Iterable[tuple[str, float]] = (), shrink: float = 10.0, half_life: float = 2.0,
              ease_lambda: float | None = 500.0, ease_half_life: float | None = 3.0) -> "Behaviour":
        """From training histories (one list of item ids per user, oldest first) and optional
        (item id, rating) pairs. Only the training part of a split may be passed when the result
        is evaluated (no held-out interaction may shape it). EASE's defaults were chosen on
        ML-1M's validation split (``recchat train ease``); ``ease_lambda=None`` skips EASE."""
        knn = ItemKNN(histories, universe, shrink=shrink, half_life=half_life)
        ease = (EASE(histories, knn.ids, ease_lambda, ease_half_life)
                if ease_lambda is not None and len(knn.ids) <= MAX_ITEMS else None)
        counts = np.zeros(len(knn.ids), dtype=np.float32)
        for hist in histories:
            for item in set(hist):
                if item in knn.pos:
                    counts[knn.pos[item]] += 1
        total = np.zeros(len(knn.ids), dtype=np.float64)
        rated = np.zeros(len(knn.ids), dtype=np.float64)
        for item, rating in ratings:
            n = knn.pos.get(item)
            if n is not None:
                total[n] += rating
                rated[n] += 1
        mean = np.divide(total, rated, out=np.full(len(knn.ids), np.nan), where=rated > 0).astype(np.float32)
        return cls(knn, counts, mean, shrink, ease)

    @property
    def popularity_pct(self) -> np.ndarray:
        from scipy.stats import rankdata

        ranks = rankdata(self.counts, method="average")
        return (100.0 * (ranks - 1) / max(1, len(ranks) - 1)).astype(np.float32)

    def ranked_by_popularity(self) -> list[str]:
        """Item ids, most interactions first (ties: catalog order)."""
        return [self.knn.ids[i] for i in np.argsort(-self.counts, kind="stable")]

    def raters(self, item_id: str) -> int:
        """How many people interacted with ``item_id`` (0 when unknown)."""
        n = self.knn.pos.get(item_id)
        return 0 if n is None else int(self.counts[n])

    def mean(self, item_id: str) -> float | None:
        """Mean rating of ``item_id`` (None when unknown or unrated)."""
        n = self.knn.pos.get(item_id)
        value = None if n is None else float(self.mean_rating[n])
        return None if value is None or value != value else value

    def co_raters(self, a: str, b: str) -> int:
        """How many people interacted with both ``a`` and ``b`` (0 when either is unknown).

        Recovered exactly from the stored similarity: with ``c`` = co-raters, ``n_a``/``n_b`` the
        raters and ``k`` the shrinkage, ``sim = c / sqrt(n_a n_b) * c / (c + k)``, so with
        ``s = sim * sqrt(n_a n_b)``: ``c**2 - s c - s k = 0`` and ``c = (s + sqrt(s**2 + 4 s k)) / 2``."""
        i, j = self.knn.pos.get(a), self.knn.pos.get(b)
        if i is None or j is None or i == j:
            return 0
        s = float(self.knn.sim[i, j]) * float(np.sqrt(float(self.counts[i]) * float(self.counts[j])))
        return int(round((s + np.sqrt(s * s + 4.0 * s * self.shrink)) / 2.0)) if s > 0 else 0

    def lookup(self, ids: Sequence[str], values: np.ndarray, default: float = 0.0) -> np.ndarray:
        """``values`` (aligned with ``knn.ids``) for ``ids`` (``default`` for unknown ids)."""
        return np.array([values[self.knn.pos[i]] if i in self.knn.pos else default for i in ids], dtype=np.float32)

    # ------------------------------------------------------------------ files
    def save(self, path: Path) -> Path:
        """Write atomically (``path`` + ``.tmp`` then rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        extra = {} if self.ease is None else {
            "ease_b": self.ease.b, "ease_lambda": np.float32(self.ease.lam),
            "ease_half_life": np.float32(self.ease.half_life if self.ease.half_life else 0.0)}
        np.savez_compressed(tmp, ids=np.array(self.knn.ids, dtype=object), sim=self.knn.sim, counts=self.counts,
                            mean_rating=self.mean_rating, half_life=np.float32(self.knn.half_life),
                            shrink=np.float32(self.shrink), **extra)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> "Behaviour":
        with np.load(path, allow_pickle=True) as data:
            knn = ItemKNN.from_matrix([str(i) for i in data["ids"]], data["sim"], float(data["half_life"]))
            shrink = float(data["shrink"]) if "shrink" in data.files else 10.0  # files before the field: the default
            ease = None
            if "ease_b" in data.files:
                ease = EASE.from_matrix(knn.ids, data["ease_b"], float(data["ease_lambda"]),
                                        float(data["ease_half_life"]) or None)
            return cls(knn, data["counts"], data["mean_rating"], shrink, ease)


def behaviour_path(catalog: str, home: Path | None = None) -> Path:
    """Where ``recchat index`` keeps the behaviour model of ``catalog``."""
    return (home or recchat_home()) / "behaviour" / f"{catalog}.npz"


def load_behaviour(catalog: str, home: Path | None = None) -> Behaviour | None:
    """The saved behaviour model of ``catalog``, or None when it has none (no interactions)."""
    path = behaviour_path(catalog, home)
    return Behaviour.load(path) if path.is_file() else None


def histories_from_frame(frame: object) -> tuple[list[list[str]], list[tuple[str, float]]]:
    """Per-user histories (time order: timestamp, then file order) and (item, rating) pairs of an
    interactions frame with columns user_id, item_id, rating, timestamp, row."""
    import pandas as pd

    df: pd.DataFrame = frame  # type: ignore[assignment]
    keys = [k for k in ("user_id", "timestamp", "row") if k in df.columns]
    ordered = df.sort_values(keys, kind="stable")
    histories = [list(map(str, g)) for _, g in ordered.groupby("user_id", sort=True)["item_id"]]
    pairs = [(str(i), float(r)) for i, r in zip(df["item_id"], df["rating"]) if r == r] if "rating" in df.columns else []
    return histories, pairs

