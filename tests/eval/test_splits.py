"""Leave-one-out determinism, the timestamp tie-break, exclusions, random hold-out, sampling."""

from __future__ import annotations

import pandas as pd
import pytest

from eval.splits import leave_one_out, sample_users


def frame(rows: list[tuple], with_time: bool = True) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    if not with_time:
        df["timestamp"] = float("nan")
    df["timestamp"] = df["timestamp"].astype("float64")
    df["row"] = range(len(df))
    return df


ROWS = [
    ("u1", "a", 5, 10), ("u1", "b", 4, 30), ("u1", "c", 3, 30), ("u1", "d", 2, 20),  # b, c tie at 30
    ("u2", "a", 5, 1), ("u2", "b", 1, 2),                                           # 2 interactions
    ("u3", "x", 4, 5), ("u3", "y", 4, 5), ("u3", "z", 4, 5),                         # all tied
]


def test_tie_break_is_timestamp_then_file_order():
    res = leave_one_out(frame(ROWS))
    u1 = next(c for c in res.cases if c.user_id == "u1")
    # time order a(10) d(20) b(30,row1) c(30,row2): c is last because it comes later in the file
    assert (u1.history, u1.target) == (("a", "d", "b"), "c")
    u3 = next(c for c in res.cases if c.user_id == "u3")
    assert (u3.history, u3.target) == (("x", "y"), "z")
    val = leave_one_out(frame(ROWS), split="validation")
    assert next(c for c in val.cases if c.user_id == "u1").target == "b"
    assert next(c for c in val.cases if c.user_id == "u1").history == ("a", "d")


def test_split_ignores_input_order_and_is_deterministic():
    df = frame(ROWS)
    shuffled = df.sample(frac=1.0, random_state=7)  # rows keep their 'row' (file order) column
    assert leave_one_out(shuffled).cases == leave_one_out(df).cases == leave_one_out(df).cases


def test_short_users_excluded_and_counted_min_rating_and_duplicates():
    res = leave_one_out(frame(ROWS))
    assert [c.user_id for c in res.cases] == ["u1", "u3"] and res.excluded_users == 1
    high = leave_one_out(frame(ROWS), min_rating=4)
    assert [c.user_id for c in high.cases] == ["u3"] and high.below_min_rating == 3 and high.excluded_users == 2
    dup = leave_one_out(frame(ROWS + [("u3", "x", 5, 99)]))
    assert dup.duplicate_rows == 1
    assert next(c for c in dup.cases if c.user_id == "u3").target == "z"  # first occurrence of x kept


def test_random_holdout_without_timestamps_is_seeded():
    rows = [("u", f"i{k}", 1, 0) for k in range(30)]
    a = leave_one_out(frame(rows, with_time=False), seed=1)
    b = leave_one_out(frame(rows, with_time=False), seed=1)
    c = leave_one_out(frame(rows, with_time=False), seed=2)
    assert a.random_holdout and a.cases == b.cases and a.cases != c.cases
    case = a.cases[0]
    assert case.target not in case.history and len(case.history) == 29
    val = leave_one_out(frame(rows, with_time=False), seed=1, split="validation").cases[0]
    assert val.target in case.history and case.target not in val.history and len(val.history) == 28


def test_sample_users_seeded_and_prefix_stable():
    res = leave_one_out(frame([(f"u{n}", f"i{k}", 1, k) for n in range(50) for k in range(3)]))
    s1, s2 = sample_users(res.cases, 10, 0), sample_users(res.cases, 10, 0)
    assert s1 == s2 and len({c.user_id for c in s1}) == 10
    assert sample_users(res.cases, 10, 1) != s1
    assert [c.user_id for c in sample_users(res.cases, None, 0)] == sorted(c.user_id for c in res.cases)


def test_min_rating_needs_ratings():
    df = frame(ROWS)
    df.loc[0, "rating"] = float("nan")
    with pytest.raises(ValueError, match="min-rating"):
        leave_one_out(df, min_rating=3)
