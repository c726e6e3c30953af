"""retrieval.hits.Hit and the store's paging helpers (no model, no index)."""

import dataclasses

import numpy as np
import pytest

from retrieval.hits import Hit
from retrieval.store import _chunks, _paged_get


def test_hit_fields_equality_and_immutability():
    emb = np.ones(3, dtype=np.float32)
    hit = Hit("42", 0.8, {"title": "Heat"}, emb)
    assert (hit.id, hit.score, hit.meta["title"]) == ("42", 0.8, "Heat") and hit.embedding is emb
    assert hit == Hit("42", 0.8, {"title": "Heat"}, np.zeros(3, dtype=np.float32))  # embedding not compared
    assert hit != Hit("42", 0.7, {"title": "Heat"})
    assert Hit("1", 0.5).meta == {} and Hit("1", 0.5).embedding is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.score = 1.0  # type: ignore[misc]


class FakeCollection:
    """Chroma-like ``get`` over ``n`` records, recording every call."""

    def __init__(self, n: int):
        self.ids = [str(i) for i in range(n)]
        self.calls: list[dict] = []

    def get(self, include, limit, offset, **where):
        self.calls.append({"include": include, "limit": limit, "offset": offset, **where})
        ids = self.ids[offset : offset + limit]
        return {"ids": ids, "metadatas": [{"n": int(i)} for i in ids]}


@pytest.mark.parametrize(("n", "pages"), [(0, 1), (3, 1), (4, 2), (5, 2), (9, 3)])
def test_paged_get_reads_every_record_once_and_stops_on_a_short_page(n, pages):
    collection = FakeCollection(n)
    got = list(_paged_get(collection, include=["metadatas"], page=4))
    assert [i for page in got for i in page["ids"]] == collection.ids
    assert len(got) == len(collection.calls) == pages
    assert [c["offset"] for c in collection.calls] == [4 * p for p in range(pages)]
    assert all(c["include"] == ["metadatas"] and c["limit"] == 4 and "where" not in c for c in collection.calls)


def test_paged_get_passes_where_only_when_given():
    collection = FakeCollection(2)
    list(_paged_get(collection, include=[], where={"year": {"$gte": 1990}}, page=4))
    assert collection.calls == [{"include": [], "limit": 4, "offset": 0, "where": {"year": {"$gte": 1990}}}]


def test_chunks():
    assert list(_chunks(["a", "b", "c", "d", "e"], 2)) == [["a", "b"], ["c", "d"], ["e"]]
    assert list(_chunks([], 2)) == []
