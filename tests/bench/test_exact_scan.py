"""``recchat bench exact-scan`` on a small real index (MiniLM + embedded Chroma): the sweep's rows."""

import json

import pytest

from bench.exact_scan import crossover, run


@pytest.mark.slow
def test_sweep_rows_cover_growing_filters(tmp_path):
    out = tmp_path / "exact_scan.json"
    res = run(600, 5, out, k=10, spans=(2, 20, 105), overfetches=(1.5, 3.0))
    assert json.loads(out.read_text()) == res
    passing = [r["passing"] for r in res["rows"]]
    assert passing == sorted(passing) and passing[-1] == 600  # the widest span passes everything
    for r in res["rows"]:
        assert r["exact"]["n"] == r["hnsw"]["n"] == 5
        assert sum(r["hnsw_paths"].values()) == 5
        assert r["hnsw_recall_at_k"] >= 0.9  # HNSW at 600 items is near exact
        assert list(r["hnsw_by_overfetch"]) == ["1.5", "3.0"]
        assert r["hnsw_by_overfetch"]["1.5"]["recall_at_k"] == r["hnsw_recall_at_k"]
        assert all(v["n"] == 5 and sum(v["paths"].values()) == 5 for v in r["hnsw_by_overfetch"].values())
    assert res["config"]["overfetches"] == [1.5, 3.0]
    assert res["hnsw_faster_from_passing"] in (None, *passing)


def _row(passing, exact_ms, hnsw_ms, recall=1.0):
    return {"passing": passing, "exact": {"p50_ms": exact_ms}, "hnsw": {"p50_ms": hnsw_ms}, "hnsw_recall_at_k": recall}


def test_crossover_needs_hnsw_faster_at_every_larger_count():
    rows = [_row(10, 1, 5), _row(20, 3, 2), _row(30, 2, 3), _row(40, 9, 4, 0.96), _row(50, 12, 4, 0.97)]
    assert crossover(rows) == {"exact_faster_up_to_passing": 10, "hnsw_faster_from_passing": 40,
                               "hnsw_recall_there": 0.96}
    assert crossover([_row(10, 1, 5)]) == {"exact_faster_up_to_passing": 10, "hnsw_faster_from_passing": None,
                                           "hnsw_recall_there": None}
    assert crossover([_row(10, 5, 1)])["exact_faster_up_to_passing"] is None
