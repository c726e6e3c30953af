"""Who loved what: exact counts and the lift against everyone else."""

from __future__ import annotations

from retrieval.liking import Liking, liking_path, load_liking

RATINGS = [  # user, item, stars
    ("u1", "a", 5), ("u1", "b", 4), ("u2", "a", 4), ("u2", "b", 5), ("u3", "a", 5), ("u3", "b", 2),
    ("u4", "b", 4), ("u5", "c", 5), ("u6", "b", 3), ("u6", "c", 1),
]


def test_counts_are_exact_and_only_four_stars_and_up_count() -> None:
    liking = Liking.build(RATINGS)
    assert liking.users == 6 and liking.lovers("a") == 3 and liking.lovers("b") == 3 and liking.lovers("c") == 1
    assert liking.both("a", "b") == 2 and liking.both("b", "a") == 2 and liking.both("a", "a") == 0
    assert liking.lovers("unknown") == 0 and liking.lift("a", "unknown") is None


def test_lift_compares_with_everyone_else() -> None:
    stat = Liking.build(RATINGS).lift("a", "b")
    # 2 of a's 3 lovers loved b; of the 3 others, 1 did
    assert (stat.both, stat.lovers_a, stat.lovers_b, stat.users) == (2, 3, 3, 6)
    assert abs(stat.share_in - 2 / 3) < 1e-9 and abs(stat.share_out - 1 / 3) < 1e-9 and abs(stat.ratio - 2.0) < 1e-9
    below = Liking.build(RATINGS).lift("a", "c")  # nobody who loved a loved c: far below the base rate
    assert below is not None and below.ratio == 0.0


def test_save_and_load_round_trip(tmp_path) -> None:
    liking = Liking.build(RATINGS)
    liking.save(liking_path("toy", tmp_path))
    back = load_liking("toy", tmp_path)
    assert back is not None and back.ids == liking.ids and back.both("a", "b") == 2 and back.users == 6
    assert load_liking("missing", tmp_path) is None
