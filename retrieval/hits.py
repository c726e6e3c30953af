"""The raw search result that the store hands to the retriever (and the retriever to its callers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Hit:
    """One item found by a vector query, before it becomes a :class:`~retrieval.candidates.Candidate`.

    ``score`` is the cosine similarity between the query vector and the item's stored vector
    (-1..1, higher is better; Chroma's cosine distance is ``1 - score``). ``meta`` is the item's
    stored metadata (:meth:`Item.metadata <retrieval.items.Item.metadata>`; ``{}`` when it was
    not asked for). ``embedding`` is the stored vector (float32, unit norm) when it was asked
    for, else None. Equality ignores ``embedding``.
    """

    id: str
    score: float
    meta: dict[str, Any] = field(default_factory=dict)
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)
