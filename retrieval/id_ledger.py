"""An on-disk set of item ids, so streaming over a catalog keeps memory constant in its size.

Used by the streaming catalog loader (duplicate ids, with the row of the first occurrence) and
by the store's indexing run (ids seen in this run: uniqueness, and which stored ids are stale).
Backed by a private temporary SQLite database (``sqlite3.connect("")``: on disk, deleted on
close), so a 1M-item catalog costs a few MB of page cache, not a Python set of 1M strings.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

_CHUNK = 900  # ids per "IN (...)" lookup (well under SQLite's variable limit)


class IdLedger:
    """Ids with the (1-based) row where each was first seen. Not thread-safe; close when done."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (id TEXT PRIMARY KEY, row INTEGER) WITHOUT ROWID")
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __enter__(self) -> "IdLedger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def rows_of(self, ids: Sequence[str]) -> dict[str, int]:
        """The first-seen row of each of ``ids`` already in the ledger (absent ids are left out)."""
        found: dict[str, int] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT id, row FROM seen WHERE id IN ({marks})", chunk).fetchall())
        return found

    def add(self, pairs: Iterable[tuple[str, int]]) -> list[tuple[int, int]]:
        """Add (id, row) pairs in order. Returns (position in ``pairs``, first row) for every pair
        whose id was already present (in the ledger or earlier in ``pairs``); those are not added."""
        pairs = list(pairs)
        before = self.rows_of([i for i, _ in pairs])
        new: dict[str, int] = {}
        clashes: list[tuple[int, int]] = []
        for position, (item_id, row) in enumerate(pairs):
            first = before.get(item_id, new.get(item_id))
            if first is not None:
                clashes.append((position, first))
            else:
                new[item_id] = row
        self._db.executemany("INSERT INTO seen VALUES (?, ?)", new.items())
        self._count += len(new)
        return clashes

    def missing(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that are NOT in the ledger (order kept)."""
        present = self.rows_of(ids)
        return [i for i in ids if i not in present]
