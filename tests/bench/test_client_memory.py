"""bench/client_memory.py: a small run through the real embedded store (slow: MiniLM + Chroma)."""

import pytest

from bench.client_memory import deep_mb, measure


def test_deep_mb_scales_the_sample():
    metas = [{"title": "x" * 100, "genres": ["Drama", "Crime"]}] * 10
    assert deep_mb(metas, sample=2) == pytest.approx(deep_mb(metas[:1]) * 10)
    assert deep_mb([]) == 0.0


@pytest.mark.slow
def test_small_run_reports_every_step():
    res = measure(300, "embedded")
    assert res["mirror_fields"] == ["content_hash", "country", "director", "genres", "language", "text", "title", "year"]
    assert res["mirror_metas_estimate_mb"] > 0 and res["mirror_load_s"] >= 0
    assert res["rss_after_build_trimmed_mb"] <= res["rss_after_build_mb"]
