"""Leave-one-out splits and the seeded user sample.

Per user, interactions are put in time order by a STABLE sort on ``timestamp`` then file order
(``row``), so equal timestamps (about 43% of MovieLens users share their last timestamp) always
resolve the same way: the row later in the file counts as later. Then

- ``test`` target = the last interaction, ``validation`` target = the second-to-last;
- the history for the test target is everything before it (validation item included); the
  history for the validation target is everything before that.

Without timestamps, a seeded random hold-out: per user, ``random.Random(f"{seed}:{user}")``
picks the test position, then the validation position among the rest; the history is the rest
in file order. Repeated (user, item) pairs keep their first occurrence (a re-watched target
would otherwise sit in the masked history). Users with fewer than :data:`MIN_INTERACTIONS`
interactions (after ``min_rating`` and de-duplication) are excluded and counted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eval.settings import SplitName

if TYPE_CHECKING:
    import pandas as pd

MIN_INTERACTIONS = 3


@dataclass(frozen=True)
class UserCase:
    """One user's evaluation case: ``history`` oldest -> newest (never contains ``target``)."""

    user_id: str
    history: tuple[str, ...]
    target: str


@dataclass
class SplitResult:
    """All eligible users' cases (sorted by user id) and what was dropped on the way."""

    cases: list[UserCase]
    split: SplitName
    excluded_users: int = 0
    duplicate_rows: int = 0
    below_min_rating: int = 0
    random_holdout: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {"split": self.split, "eligible_users": len(self.cases), "excluded_users_lt3": self.excluded_users,
                "duplicate_rows_dropped": self.duplicate_rows, "rows_below_min_rating": self.below_min_rating,
                "hold_out": "seeded random (no timestamps)" if self.random_holdout else "leave-one-out by time"}


def leave_one_out(frame: "pd.DataFrame", split: SplitName = "test", seed: int = 0,
                  min_rating: float | None = None) -> SplitResult:
    """Split ``frame`` (columns user_id, item_id, rating, timestamp, row; see
    :class:`eval.data.EvalDataset`) into one :class:`UserCase` per eligible user."""
    rows_before = len(frame)
    below = 0
    if min_rating is not None:
        if frame["rating"].isna().any():
            raise ValueError("--min-rating needs a rating on every interaction; some rows have none")
        frame = frame[frame["rating"] >= min_rating]
        below = rows_before - len(frame)
    random_holdout = not (len(frame) and frame["timestamp"].notna().all())
    keys = ["user_id", "row"] if random_holdout else ["user_id", "timestamp", "row"]
    ordered = frame.sort_values(keys, kind="stable")
    deduped = ordered.drop_duplicates(["user_id", "item_id"], keep="first")
    duplicates = len(ordered) - len(deduped)
    cases: list[UserCase] = []
    excluded = 0
    for user, items in deduped.groupby("user_id", sort=True)["item_id"]:
        seq = items.tolist()
        if len(seq) < MIN_INTERACTIONS:
            excluded += 1
            continue
        if random_holdout:
            rng = random.Random(f"{seed}:{user}")
            test = rng.randrange(len(seq))
            rest = [i for i in range(len(seq)) if i != test]
            val = rest[rng.randrange(len(rest))]
            history_idx = [i for i in rest if i != val]
            if split == "test":
                history = [seq[i] for i in sorted(history_idx + [val])]
                target = seq[test]
            else:
                history, target = [seq[i] for i in history_idx], seq[val]
        elif split == "test":
            history, target = seq[:-1], seq[-1]
        else:
            history, target = seq[:-2], seq[-2]
        cases.append(UserCase(str(user), tuple(history), target))
    notes = []
    if random_holdout:
        notes.append("no timestamps: seeded random hold-out per user")
    return SplitResult(cases=cases, split=split, excluded_users=excluded, duplicate_rows=duplicates,
                       below_min_rating=below, random_holdout=random_holdout, notes=notes)


def sample_users(cases: list[UserCase], n: int | None, seed: int) -> list[UserCase]:
    """A seeded sample of ``n`` cases (all when ``n`` is None or too large, in user-id order).

    The sample is ``random.Random(seed).sample`` over the cases sorted by user id, so it depends
    only on (eligible users, n, seed); its order is the sample order, so a ``--limit-users``
    prefix is itself a random subset."""
    ordered = sorted(cases, key=lambda c: c.user_id)
    if n is None or n >= len(ordered):
        return ordered
    return random.Random(seed).sample(ordered, n)
