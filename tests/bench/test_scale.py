"""bench/scale.py: size/backend parsing, percentiles, the synthetic catalog and the chunked vector
mixer (pure logic), and one small run through both stores (slow: MiniLM, Chroma, a `chroma run`)."""

import json

import numpy as np
import pytest

from bench.scale import MixedVectors, latency_summary, parse_backends, parse_sizes, scale_items


@pytest.mark.parametrize("spec, sizes", [
    ("10k,100k,1M", [10_000, 100_000, 1_000_000]),
    ("1m, 10K ,10000", [10_000, 1_000_000]),
    ("2.5k", [2_500]),
    ("500,,", [500]),
])
def test_parse_sizes(spec, sizes):
    assert parse_sizes(spec) == sizes


@pytest.mark.parametrize("spec", ["", "10x", "1.0001k", "50", "-1k", "k"])
def test_parse_sizes_rejects(spec):
    with pytest.raises(ValueError):
        parse_sizes(spec)


def test_parse_backends_canonical_order_and_errors():
    assert parse_backends("server,embedded") == ["embedded", "server"]
    assert parse_backends(" server ") == ["server"]
    with pytest.raises(ValueError, match="unknown backend"):
        parse_backends("embedded,postgres")
    with pytest.raises(ValueError):
        parse_backends(",")


def test_latency_summary_in_ms():
    s = latency_summary([0.001 * i for i in range(1, 101)])  # 1..100 ms
    assert s["n"] == 100
    assert s["p50_ms"] == pytest.approx(50.5)
    assert s["p95_ms"] == pytest.approx(95.05)
    assert s["mean_ms"] == pytest.approx(50.5)
    with pytest.raises(ValueError):
        latency_summary([])


def test_scale_items_deterministic_with_realistic_lengths():
    a, b = scale_items(400, seed=3), scale_items(400, seed=3)
    assert [i.document() for i in a] == [i.document() for i in b]
    assert [i.id for i in a] == [f"s{i}" for i in range(400)]
    words = np.array([len(i.text.split()) for i in a])
    assert words.min() >= 10 and words.max() <= 200
    assert 35 <= np.median(words) <= 70  # log-normal around 50
    assert all(1920 <= i.year <= 2024 and 1 <= len(i.genres) <= 3 and len(set(i.genres)) == len(i.genres) for i in a)
    assert all({"director", "country", "language"} <= set(i.metadata()) for i in a)
    assert scale_items(400, seed=4)[0].document() != a[0].document()


def test_mixed_vectors_real_rows_first_then_deterministic_unit_mixes():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(10, 8)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    seen = []
    one = MixedVectors(base, "m", seed=1, on_encode=seen.append)
    first, second = one.encode(["x"] * 6), one.encode(["x"] * 30)
    assert seen == [6, 36]
    np.testing.assert_array_equal(first, base[:6])
    np.testing.assert_array_equal(second[:4], base[6:10])
    np.testing.assert_allclose(np.linalg.norm(second, axis=1), 1.0, rtol=1e-5)
    # a rerun with the same chunk boundaries gets the same vectors; another seed does not
    again = MixedVectors(base, "m", seed=1)
    np.testing.assert_array_equal(again.vectors(0, 36), np.concatenate([first, second]))
    assert not np.allclose(MixedVectors(base, "m", seed=2).vectors(10, 26), second[4:])
    assert one.model_id == "m" and one.dim == 8


def test_carried_sizes_keep_only_sizes_this_run_skips(tmp_path):
    from bench.scale import carried_sizes

    out = tmp_path / "scale.json"
    assert carried_sizes(out, [1_000_000], 50, 100, 0) == {}  # no earlier file
    out.write_text(json.dumps({"config": {"k": 50, "queries": 100},
                               "sizes": {"10000": {"embedded": {"status": "ok"}}, "1000000": {"embedded": {}}}}))
    kept = carried_sizes(out, [1_000_000], 50, 100, 0)
    assert kept == {"10000": {"embedded": {"status": "ok"}, "carried_from_earlier_run": True}}
    with pytest.raises(ValueError, match="other settings"):
        carried_sizes(out, [1_000_000], 50, 20, 0)


@pytest.mark.slow
def test_small_run_end_to_end_embedded_and_server(tmp_path):
    """A 600-item run through both stores: the worker, the server, the warm-up and every filter."""
    from bench.scale import FILTERS, run

    out = tmp_path / "scale.json"
    res = run([600], ["embedded", "server"], 5, out, base_n=40, plot=False)
    assert json.loads(out.read_text()) == res
    assert res["config"]["retrieval"]["exact_scan_max"] == 20_000
    per = res["sizes"]["600"]
    for backend in ("embedded", "server"):
        row = per[backend]
        assert row["status"] == "ok", row
        assert row["warm_up_mirror_s"] >= 0 and row["warm_up_vectors_s"] >= 0  # 600 vectors fit the cache
        assert set(row["queries"]) == set(FILTERS)
        assert row["queries"]["none"]["paths"] == {"unfiltered": 5}
        assert all(q["paths"] == {"exact-scan": 5} for name, q in row["queries"].items() if name != "none")
        assert row["disk_mb"] > 0
    assert per["server"]["server_rss_mb"] > 0
