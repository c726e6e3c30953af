"""Lexical retrieval: BM25 (``bm25s``) over the items' titles and documents.

MiniLM's cosine finds "a film about robots" near films *about* machines, but it blurs exact
words: "heist" near "Twister" (the word "twist"), a keyword near a similar-looking one. BM25
matches the words themselves (Snowball-stemmed, English stop words removed), so a theme word
that an overview or a keyword list carries ("a master thief's crew plans one last heist") is
found exactly. :class:`agent.ranking.fusion.CandidateSources` fuses both.

The index is built in memory from the store's metadata mirror (titles, overviews, keywords,
people; :meth:`retrieval.items.Item.document`) the first time it is needed and rebuilt when the
mirror changes: about 0.3 s for MovieLens-1M's 3,883 films on one core. Scores are BM25 scores
(unbounded, >= 0); :meth:`LexicalIndex.search` also returns them divided by the best of the
query, for fusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INSTALL_HINT = "pip install 'bm25s>=0.3,<0.4' PyStemmer"


def _stemmer():  # noqa: ANN202 - PyStemmer's type
    try:
        import Stemmer  # PyStemmer
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError(f"the lexical index needs PyStemmer: {INSTALL_HINT}") from exc
    return Stemmer.Stemmer("english")


@dataclass
class LexicalIndex:
    """BM25 over ``len(ids)`` documents; row ``i`` is ``ids[i]``. ``key`` identifies what it was
    built from (the mirror's key)."""

    ids: list[str]
    key: tuple
    _bm25: object
    _stem: object

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str], key: tuple = ()) -> "LexicalIndex":
        try:
            import bm25s
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ImportError(f"the lexical index needs bm25s: {INSTALL_HINT}") from exc
        stem = _stemmer()
        bm25 = bm25s.BM25()
        bm25.index(bm25s.tokenize(list(texts), stopwords="en", stemmer=stem.stemWords, show_progress=False),
                   show_progress=False)
        return cls(list(ids), key, bm25, stem)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (float32, rows as ``ids``; zeros when no
        query word is in the vocabulary)."""
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self._stem.stemWords,  # type: ignore[attr-defined]
                                return_ids=False, show_progress=False)[0]
        vocab = self._bm25.vocab_dict  # type: ignore[attr-defined]
        known = [t for t in tokens if t in vocab]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)  # type: ignore[attr-defined]

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float, float]]:
        """The best ``k`` rows with a positive score among ``allowed`` (bool mask over rows; None =
        all): (row, BM25 score, score / best score), best first."""
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        rows = np.flatnonzero(scores > 0)
        if not len(rows):
            return []
        top = rows[np.argsort(-scores[rows], kind="stable")[:k]]
        best = float(scores[top[0]])
        return [(int(r), float(scores[r]), float(scores[r]) / best) for r in top]
