"""The exploration slot: one pick per list outside the person's known interests, yet plausible.

Pick (:func:`pick_exploration`): for the person's most recent liked/history items (the
"seeds"), take the seed's neighbours - the films its raters also rated when the catalog has
interaction data, else its nearest items by stored embedding (same hard filters, banned items
excluded) - and keep the closest one that shares no genre with the known interests
(genres of liked/history/shown items; required genres excepted, since hard constraints always
hold). Its reason is built from the item's own metadata and the seed title only (grounded by
construction).

Adaptation (:class:`ExplorationStats`): each like/dislike of an exploration pick updates a
Beta(1, 1) estimate of acceptance; the chance of offering exploration on a turn is
``base_rate * 2 * acceptance`` clipped to [0.1, 1] (1.0 with no feedback yet at base 1.0).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from retrieval.behaviour import Behaviour
from retrieval.candidates import Candidate
from retrieval.items import Item
from retrieval.retriever import Filters


@dataclass
class ExplorationStats:
    """Reception of exploration picks in one session (counts)."""

    offered: int = 0
    liked: int = 0
    disliked: int = 0

    def acceptance(self) -> float:
        """Posterior mean of the like rate, Beta(1, 1) prior (0..1)."""
        return (self.liked + 1) / (self.liked + self.disliked + 2)

    def offer_probability(self, base_rate: float) -> float:
        """Chance of offering exploration this turn (0..1)."""
        if base_rate <= 0:
            return 0.0
        return max(0.1, min(1.0, base_rate * 2 * self.acceptance()))

    def should_offer(self, base_rate: float, rng: random.Random) -> bool:
        return rng.random() < self.offer_probability(base_rate)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "ExplorationStats":
        return cls(**(data or {}))


@dataclass(frozen=True)
class ExplorationPick:
    """The chosen item, its cosine similarity to ``seed`` (0..1) and the shown reason."""

    candidate: Candidate
    seed_title: str  # the seed's "Title (Year)" label
    similarity: float
    reason: str
    facts: tuple[str, ...] = ()  # statements the reason rests on beyond the metadata (a liking lift)


def known_genres(items: Sequence[Item], top: int = 6) -> list[str]:
    """The most frequent genres of ``items`` (at most ``top``), most frequent first."""
    counts = Counter(g for it in items for g in it.genres)
    return [g for g, _ in counts.most_common(top)]


def pick_exploration(
    retriever: Any, seeds: Sequence[Item], known: Sequence[str], filters: Filters, banned: set[str],
    fetch: int = 60, behaviour: Behaviour | None = None, accept: Callable[[Item], bool] | None = None,
) -> ExplorationPick | None:
    """See the module doc. ``seeds`` newest first (at most 3 are tried); None when nothing fits.
    With ``behaviour`` a seed's neighbours are the films its raters also rated (item-kNN,
    ``similarity`` = that score); without, or for a seed it does not know, the nearest items
    by embedding (``similarity`` = cosine). ``accept``: a further test every pick must pass (an
    acclaim wish, :func:`agent.ranking.acclaim.item_passes`)."""
    allowed = set(filters.genres)
    avoid = set(known) - allowed

    def fits(item: Item | None) -> bool:
        return (item is not None and bool(item.genres) and filters.matches_item(item) and not set(item.genres) & avoid
                and (accept is None or accept(item)))

    for seed in list(seeds)[:3]:
        if behaviour is not None and seed.id in behaviour.knn.pos:
            row = behaviour.knn.sim[behaviour.knn.pos[seed.id]]
            order = [int(i) for i in np.argsort(-row, kind="stable")[: fetch * 5] if row[i] > 0]
            ids = [behaviour.knn.ids[i] for i in order if behaviour.knn.ids[i] not in banned]
            found = retriever.store.get_items(retriever.catalog, ids)
            for i in ids:
                if fits(found.get(i)):
                    item = found[i]
                    return ExplorationPick(Candidate(item=item, score=float(row[behaviour.knn.pos[i]]), rank=0,
                                                     sources=("explore",)), seed.label,
                                           float(row[behaviour.knn.pos[i]]), exploration_reason(item, seed, True))
            continue
        emb = retriever.store.get_embeddings(retriever.catalog, [seed.id]).get(seed.id)
        if emb is None:
            continue
        for hit in retriever.search(emb, fetch, filters, banned | {seed.id}):
            item = Item.from_metadata(hit.id, hit.meta)
            if fits(item):
                return ExplorationPick(Candidate(item=item, score=hit.score, rank=0, sources=("explore",)), seed.label,
                                       float(hit.score), exploration_reason(item, seed))
    return None


def exploration_reason(item: Item, seed: Item, behavioural: bool = False, because: str | None = None) -> str:
    """A reason from metadata only: the item's genres/year/director and the seed's label. The
    genres it avoids stay out of the sentence (they are the person's, not the pick's: the strict
    check would rightly count them as claims about the pick); the card's badge says it.
    ``because`` replaces the why-clause (a liking lift, :func:`agent.reasons.liked.lift_clause`)."""
    kind = " / ".join(item.genres[:3]).lower()
    year = f" from {item.year}" if item.year else ""
    director = item.extra.get("director")
    by = f", directed by {director[0] if isinstance(director, list) else director}" if director else ""
    article = "an" if kind[:1] in "aeiou" else "a"
    why = because or (f"people who rated {seed.label} often rated it too" if behavioural
                       else f"it sits close to {seed.label} in our catalog")
    return (f"To explore: {article} {kind} film{year}{by}, a step away from your usual picks, chosen because {why}. "
            "Tell me if this direction works for you.")
