"""A tiny synthetic interactions dataset for fast training tests (no downloads)."""

from __future__ import annotations

import random

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi")


def toy_dataset(users: int = 40, items: int = 30, per_user: int = 12, seed: int = 0):
    """An :class:`eval.data.EvalDataset` where each user mostly watches one genre, in time order
    (so the next item is predictable from the history's genre)."""
    import pandas as pd

    from eval.data import EvalDataset
    from retrieval.items import Item

    rng = random.Random(seed)
    catalog = [Item(id=f"i{n}", title=f"Movie {n}", year=1980 + n % 30, genres=(GENRES[n % len(GENRES)],))
               for n in range(items)]
    rows = []
    for u in range(users):
        genre = u % len(GENRES)
        liked = [it.id for n, it in enumerate(catalog) if n % len(GENRES) == genre]
        others = [it.id for it in catalog if it.id not in liked]
        seq = rng.sample(liked, len(liked)) + rng.sample(others, per_user - len(liked))
        for t, item in enumerate(seq[:per_user]):
            rows.append({"user_id": f"u{u}", "item_id": item, "rating": 4.0, "timestamp": float(1000 + t)})
    frame = pd.DataFrame(rows)
    frame["row"] = range(len(frame))
    return EvalDataset(name="toy", items=catalog, interactions=frame, source="toy")
