"""Pure logic of bench/eval_throughput.py (the harness itself is tested in tests/eval)."""

import pytest

from bench.eval_throughput import is_slow, parse_pipelines, throughput_row


def test_parse_pipelines_puts_the_baseline_first_once():
    assert parse_pipelines("retrieval, popularity,knn,retrieval") == ["popularity", "retrieval", "knn"]
    assert parse_pipelines("") == ["popularity"]


@pytest.mark.parametrize("name, slow", [
    ("popularity", False), ("retrieval+knn", False), ("retrieval-ft", False),
    ("retrieval+llm", True), ("knn+ranker", True), ("retrieval+ranker+llm", True), ("retrieval+order", False),
])
def test_is_slow(name, slow):
    assert is_slow(name) is slow


def test_throughput_row_ratio_to_baseline():
    row = throughput_row("retrieval", 200, 20.0, baseline_users_per_s=250.0)
    assert row["users_per_s"] == 10.0 and row["s_per_user"] == 0.1
    assert row["x_popularity"] == 25.0
    assert throughput_row("popularity", 10, 0.04, None)["x_popularity"] is None
    with pytest.raises(ValueError):
        throughput_row("x", 0, 1.0, None)
