"""Load: concurrent sessions against the real Gradio UI server on loopback (bench/load.py)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_concurrent_sessions_no_errors_no_leaks(make_agent) -> None:
    from bench.load import run

    report = run(n_sessions=6, turns=3, agent=make_agent(), concurrency=2, time_budget_s=240)
    assert report["turns_ok"] == 18 and report["errors"] == 0, report["error_samples"]
    assert report["leaks"] == 0
    assert report["p95_s"] is not None and report["p95_s"] < 60
    assert report["rss_peak_mib"] - report["rss_before_mib"] < 1024, "memory stays bounded"


def test_gradio_queue_is_bounded(make_agent) -> None:
    from ui.web import QUEUE_MAX_SIZE, build_app

    app = build_app(make_agent(), queue_size=7)
    assert app._queue.max_size == 7 and QUEUE_MAX_SIZE > 0
