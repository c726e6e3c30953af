"""Who loved what: the statistic a reason may cite for "people who loved A also loved B".

:class:`Liking` holds a binary users x items matrix of the ratings at or above
:data:`LOVED_AT` (4 or 5 stars on MovieLens' 1-5 scale), built from a catalog's interactions and
saved beside its behaviour model (``<RECCHAT_HOME>/behaviour/<catalog>.likes.npz``).
:meth:`Liking.lift` compares how often the people who loved ``a`` loved ``b`` with how often
everyone else did (the base rate), so a reason never offers a share that is merely high because
``b`` is popular.

Invariants: counts are exact (no model, no shrinkage); ``lift`` is None when either film is
unknown, nobody outside ``a``'s lovers exists, or nobody outside them loved ``b``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.config import recchat_home

#: a rating at or above this (1-5 stars) counts as "loved"
LOVED_AT = 4.0


@dataclass(frozen=True)
class Lift:
    """How much more often the lovers of ``a`` loved ``b`` than everyone else did.

    ``lovers_a``: people who loved a; ``both``: of them, those who loved b too; ``lovers_b``:
    everyone who loved b; ``users``: everyone in the data. ``share_in`` = both / lovers_a,
    ``share_out`` = (lovers_b - both) / (users - lovers_a); ``ratio`` = share_in / share_out."""

    lovers_a: int
    both: int
    lovers_b: int
    users: int

    @property
    def share_in(self) -> float:
        return self.both / self.lovers_a if self.lovers_a else 0.0

    @property
    def share_out(self) -> float:
        others = self.users - self.lovers_a
        return (self.lovers_b - self.both) / others if others > 0 else 0.0

    @property
    def ratio(self) -> float:
        """share_in / share_out (inf when no one else loved b)."""
        return self.share_in / self.share_out if self.share_out > 0 else float("inf")


@dataclass(frozen=True)
class Liking:
    """Binary loved matrix (users x items, CSC) with the item ids of its columns."""

    ids: tuple[str, ...]
    matrix: object  # scipy.sparse.csc_matrix, users x items, 1 = loved
    threshold: float = LOVED_AT
    pos: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pos", {i: n for n, i in enumerate(self.ids)})

    @property
    def users(self) -> int:
        return int(self.matrix.shape[0])  # type: ignore[attr-defined]

    def _col(self, item_id: str) -> int | None:
        return self.pos.get(item_id)

    def lovers(self, item_id: str) -> int:
        """How many people loved ``item_id`` (0 when unknown)."""
        j = self._col(item_id)
        m = self.matrix
        return 0 if j is None else int(m.indptr[j + 1] - m.indptr[j])  # type: ignore[attr-defined]

    def both(self, a: str, b: str) -> int:
        """How many people loved both ``a`` and ``b`` (0 when either is unknown or a == b)."""
        i, j = self._col(a), self._col(b)
        if i is None or j is None or i == j:
            return 0
        m = self.matrix
        ra = m.indices[m.indptr[i]:m.indptr[i + 1]]  # type: ignore[attr-defined]
        rb = m.indices[m.indptr[j]:m.indptr[j + 1]]  # type: ignore[attr-defined]
        return int(np.intersect1d(ra, rb, assume_unique=True).size)

    def lift(self, a: str, b: str) -> Lift | None:
        """The :class:`Lift` of ``b`` among the lovers of ``a`` (None when not computable)."""
        if self._col(a) is None or self._col(b) is None or a == b:
            return None
        stat = Lift(self.lovers(a), self.both(a, b), self.lovers(b), self.users)
        return stat if stat.users > stat.lovers_a and stat.lovers_b > stat.both else None

    # ------------------------------------------------------------------ build and files
    @classmethod
    def build(cls, ratings: Sequence[tuple[str, str, float]], threshold: float = LOVED_AT) -> "Liking":
        """From (user id, item id, rating) triples; every rated item gets a column."""
        from scipy.sparse import csc_matrix

        users: dict[str, int] = {}
        items: dict[str, int] = {}
        rows, cols = [], []
        for user, item, rating in ratings:
            u = users.setdefault(str(user), len(users))
            j = items.setdefault(str(item), len(items))
            if rating >= threshold:
                rows.append(u)
                cols.append(j)
        data = np.ones(len(rows), dtype=np.int8)
        matrix = csc_matrix((data, (rows, cols)), shape=(len(users), len(items)))
        matrix.sum_duplicates()
        matrix.data[:] = 1
        matrix.sort_indices()
        return cls(tuple(items), matrix, threshold)

    @classmethod
    def from_frame(cls, frame: object, threshold: float = LOVED_AT) -> "Liking":
        """From an interactions frame with columns user_id, item_id, rating."""
        df = frame  # pandas.DataFrame
        return cls.build(zip(df["user_id"].astype(str), df["item_id"].astype(str), df["rating"].astype(float)),  # type: ignore[index,arg-type]
                         threshold)

    def save(self, path: Path) -> Path:
        """Write atomically (``path`` + ``.tmp.npz`` then rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        m = self.matrix
        np.savez_compressed(tmp, ids=np.array(self.ids, dtype=object), indptr=m.indptr, indices=m.indices,  # type: ignore[attr-defined]
                            shape=np.array(m.shape), threshold=np.float32(self.threshold))  # type: ignore[attr-defined]
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> "Liking":
        from scipy.sparse import csc_matrix

        with np.load(path, allow_pickle=True) as data:
            indices, indptr = data["indices"], data["indptr"]
            matrix = csc_matrix((np.ones(len(indices), dtype=np.int8), indices, indptr), shape=tuple(data["shape"]))
            return cls(tuple(str(i) for i in data["ids"]), matrix, float(data["threshold"]))


def liking_path(catalog: str, home: Path | None = None) -> Path:
    """Where ``recchat index`` keeps the loved matrix of ``catalog``."""
    return (home or recchat_home()) / "behaviour" / f"{catalog}.likes.npz"


def load_liking(catalog: str, home: Path | None = None) -> Liking | None:
    """The saved loved matrix of ``catalog``, or None when it has none."""
    path = liking_path(catalog, home)
    return Liking.load(path) if path.is_file() else None
