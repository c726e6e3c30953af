"""The value object retrieval hands to the layers above."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.items import Item


@dataclass(frozen=True)
class Candidate:
    """One retrieved item.

    ``score`` is the retrieval similarity (cosine, -1..1; higher is better); ``rank`` is the
    0-based position in the retrieval order; ``sources`` names what produced it (e.g. "text",
    "history").
    """

    item: Item
    score: float
    rank: int
    sources: tuple[str, ...] = field(default=("text",))
