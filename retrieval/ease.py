"""EASE: a closed-form linear item-item model of user histories (Steck, "Embarrassingly Shallow
Autoencoders for Sparse Data", WWW 2019).

With ``X`` the binary user x item matrix and ``G = X^T X + lam I``, the weights are
``B = I - P diag(1 / diag(P))`` with ``P = G^-1`` (so ``diag(B) = 0``: an item never predicts
itself). A history's scores are ``x B`` where ``x`` holds the history's recency weights (newest 1,
halving every ``half_life`` items back; ``half_life=None`` = binary, as in the paper).

Dense ``n x n`` weights: fit and storage grow with the square of the catalog (ML-1M's 3,706 rated
items: 55 MB float32, a ~2 s fit on 2 cores); above :data:`MAX_ITEMS` the fit refuses with a
clear error rather than exhausting memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.retriever import recency_weights

#: Largest catalog (items with interactions) EASE fits densely: 20k items = 1.6 GB float32 weights.
MAX_ITEMS = 20_000


def interaction_matrix(histories: Sequence[Sequence[str]], pos: dict[str, int]):  # -> scipy.sparse.csr_matrix
    """Binary users x items CSR matrix (float32) of ``histories``; ids outside ``pos`` are skipped."""
    from scipy import sparse

    rows, cols = [], []
    for u, hist in enumerate(histories):
        for item in set(hist):
            if item in pos:
                rows.append(u)
                cols.append(pos[item])
    return sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(histories), len(pos)))


class ItemScorer:
    """A behavioural model over ``ids`` (``pos``: id -> index) that scores every item for a history."""

    ids: list[str]
    pos: dict[str, int]

    def scores(self, history: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def scores_batch(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        """Scores (len(histories), len(ids)), one row per history."""
        return np.stack([self.scores(h) for h in histories])

    def top(self, history: Sequence[str], n: int) -> list[str]:
        """The ``n`` best items, history masked."""
        s = self.scores(history)
        s[[self.pos[h] for h in history if h in self.pos]] = -np.inf
        idx = np.argsort(-s, kind="stable")[:n]
        return [self.ids[i] for i in idx if np.isfinite(s[i])]

    def ranks(self, history: Sequence[str], items: Sequence[str]) -> list[int | None]:
        """0-based rank of each of ``items`` in this model's ranking of the whole catalog for
        ``history`` (history masked; rank = how many items score strictly higher, so ties share
        the best rank); None for an item the model does not know or one in the history."""
        s = self.scores(history)
        s[[self.pos[h] for h in history if h in self.pos]] = -np.inf
        out: list[int | None] = []
        for item in items:
            j = self.pos.get(item)
            out.append(None if j is None or not np.isfinite(s[j]) else int(np.count_nonzero(s > s[j])))
        return out


class EASE(ItemScorer):
    """EASE weights over ``universe`` (see the module doc); same interface as
    :class:`retrieval.behaviour.ItemKNN`."""

    def __init__(self, histories: Sequence[Sequence[str]], universe: Sequence[str], lam: float = 500.0,
                 half_life: float | None = None) -> None:
        if lam <= 0:
            raise ValueError(f"EASE needs a positive L2 weight lam, got {lam}")
        self.ids = list(universe)
        if len(self.ids) > MAX_ITEMS:
            raise ValueError(f"EASE fits a dense {len(self.ids)} x {len(self.ids)} matrix; more than {MAX_ITEMS} "
                             "items would need a sparse model: use item-kNN for this catalog")
        self.pos = {i: n for n, i in enumerate(self.ids)}
        self.lam, self.half_life = float(lam), half_life
        x = interaction_matrix(histories, self.pos)
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.lam
        p = np.linalg.inv(gram)
        b = p / (-np.diag(p))[None, :]
        np.fill_diagonal(b, 0.0)
        self.b = b.astype(np.float32)

    @classmethod
    def from_matrix(cls, ids: Sequence[str], b: np.ndarray, lam: float, half_life: float | None) -> "EASE":
        model = cls.__new__(cls)
        model.ids, model.pos, model.b = list(ids), {i: n for n, i in enumerate(ids)}, b
        model.lam, model.half_life = float(lam), half_life
        return model

    def scores(self, history: Sequence[str]) -> np.ndarray:
        """Scores of every universe item (float32, ``len(ids)``; may be negative) for a history
        oldest -> newest."""
        known = [self.pos[h] for h in history if h in self.pos]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        w = recency_weights(len(known), self.half_life) if self.half_life else np.ones(len(known), dtype=np.float32)
        return (w[:, None] * self.b[known]).sum(axis=0)
