"""Property-based tests (hypothesis) for catalog parsing, leave-one-out splits and metrics."""

from __future__ import annotations

import csv
import math
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eval.metrics import rank_of, single_target_metrics
from eval.splits import MIN_INTERACTIONS, leave_one_out
from retrieval.catalog import CatalogError, load_catalog_file, write_catalog_jsonl
from retrieval.items import Item

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
word = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=12)


@st.composite
def items(draw) -> list[Item]:
    ids = draw(st.lists(word, min_size=1, max_size=8, unique=True))
    out = []
    for i in ids:
        title = draw(word)
        out.append(Item(id=i, title=title, text=draw(text).strip(), year=draw(st.none() | st.integers(1880, 2030)),
                        genres=draw(st.lists(word, max_size=3, unique=True)),
                        extra=draw(st.dictionaries(st.sampled_from(["director", "note", "country"]),
                                                   word | st.integers(-5, 5) | st.booleans(), max_size=2))))
    return out


@FAST
@given(items())
def test_catalog_jsonl_round_trip(catalog: list[Item]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write_catalog_jsonl(catalog, Path(d) / "c.jsonl")
        loaded = load_catalog_file(path).items
    assert [(i.id, i.title, i.year, list(i.genres), i.extra) for i in loaded] == \
        [(i.id, i.title, i.year, list(i.genres), i.extra) for i in catalog]


@FAST
@given(st.lists(st.lists(text, min_size=0, max_size=5), min_size=1, max_size=8))
def test_any_csv_gives_items_or_a_catalog_error(rows: list[list[str]]) -> None:
    """Arbitrary cells never crash the loader with anything but CatalogError; loaded items are
    unique, non-blank and formula-like text stays text."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "title", "year", "genres", "extra"])
            w.writerows(rows)
        try:
            res = load_catalog_file(path, on_error="skip")
        except CatalogError as exc:
            assert exc.errors and all(e.file == str(path) for e in exc.errors)
            return
    ids = [i.id for i in res.items]
    assert len(ids) == len(set(ids)) and all(i.strip() for i in ids) and all(i.title.strip() for i in res.items)
    assert len(res.items) + len({e.row for e in res.skipped}) <= len(rows)


interactions = st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3", "u4"]), st.integers(0, 9),
                                  st.one_of(st.none(), st.integers(0, 5))), min_size=1, max_size=40)


def frame_of(rows, with_time: bool) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [u for u, _, _ in rows], "item_id": [str(i) for _, i, _ in rows],
                         "rating": pd.Series([math.nan] * len(rows), dtype="float64"),
                         "timestamp": pd.Series([float(t or 0) if with_time else math.nan for _, _, t in rows],
                                                dtype="float64"),
                         "row": pd.RangeIndex(len(rows)).astype("int64")})


@FAST
@given(interactions, st.booleans(), st.sampled_from(["test", "validation"]), st.integers(0, 3))
def test_leave_one_out_invariants(rows, with_time: bool, split: str, seed: int) -> None:
    frame = frame_of(rows, with_time)
    res = leave_one_out(frame, split=split, seed=seed)  # type: ignore[arg-type]
    again = leave_one_out(frame, split=split, seed=seed)  # type: ignore[arg-type]
    assert res.cases == again.cases, "deterministic"
    distinct = frame.groupby("user_id")["item_id"].nunique()
    eligible = sorted(u for u, n in distinct.items() if n >= MIN_INTERACTIONS)
    assert [c.user_id for c in res.cases] == eligible and res.excluded_users == len(distinct) - len(eligible)
    for c in res.cases:
        assert c.target not in c.history and len(set(c.history)) == len(c.history)
        n = distinct[c.user_id]
        assert len(c.history) == (n - 1 if split == "test" else n - 2)


@FAST
@given(st.lists(word, min_size=0, max_size=30, unique=True), word, st.sampled_from([[1], [5, 10], [1, 3, 20]]))
def test_single_target_metrics_bounds_and_order(ranked: list[str], target: str, cutoffs: list[int]) -> None:
    rank = rank_of(ranked, target)
    m = single_target_metrics(rank, cutoffs)
    assert all(0.0 <= v <= 1.0 for v in m.values())
    for k in cutoffs:
        assert m[f"ndcg@{k}"] <= m[f"recall@{k}"]
        assert (m[f"recall@{k}"] == 1.0) == (rank is not None and rank <= k)
    assert m["mrr"] == (1.0 / rank if rank else 0.0)
    if rank is not None and rank > 1:  # moving the target up never lowers any metric
        better = single_target_metrics(rank - 1, cutoffs)
        assert all(better[k] >= m[k] for k in m)
