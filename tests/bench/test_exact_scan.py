"""``recchat bench exact-scan`` on a small real index (MiniLM + embedded Chroma): the sweep's rows."""

import json

import pytest

from bench.exact_scan import run


@pytest.mark.slow
def test_sweep_rows_cover_growing_filters(tmp_path):
    out = tmp_path / "exact_scan.json"
    res = run(600, 5, out, k=10, spans=(2, 20, 105))
    assert json.loads(out.read_text()) == res
    passing = [r["passing"] for r in res["rows"]]
    assert passing == sorted(passing) and passing[-1] == 600  # the widest span passes everything
    for r in res["rows"]:
        assert r["exact"]["n"] == r["hnsw"]["n"] == 5
        assert sum(r["hnsw_paths"].values()) == 5
        assert r["hnsw_recall_at_k"] >= 0.9  # HNSW at 600 items is near exact
    assert res["crossover_passing"] in (None, *passing)
