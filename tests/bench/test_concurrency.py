"""Pure logic of bench/concurrency.py: Prometheus parsing on a real vLLM 0.32 /metrics sample,
counter deltas and hit rate, levels, stage percentiles, and a level run with a fake agent against
a loopback HTTP server that serves the sample (the real server is exercised by the benchmark)."""

import http.server
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.concurrency import (
    METRICS, MetricsPoller, counter_deltas, parse_levels, parse_prometheus, reset_prefix_cache, run_level, script, stage_summary,
)

SAMPLE = (Path(__file__).parent / "data" / "vllm_0.32_metrics.txt").read_text()


def test_parse_real_vllm_sample_sums_label_sets():
    m = parse_prometheus(SAMPLE)
    assert m["vllm:prefix_cache_queries_total"] == 108021.0
    assert m["vllm:prefix_cache_hits_total"] == 4992.0
    assert m["vllm:prompt_tokens_total"] == 105712.0
    assert m["vllm:num_requests_running"] == 1.0
    # request_success_total has one sample per finished_reason: summed
    assert m["vllm:request_success_total"] == 40.0
    # histogram buckets (le="+Inf" label) are parsed without breaking on the label
    assert "vllm:time_to_first_token_seconds_count" in m
    assert all(name in m for name in METRICS.values())
    assert not any(k.startswith("#") for k in m)


def test_parse_ignores_garbage_and_keeps_timestamps_out():
    text = "# HELP x y\nfoo 1\nfoo{a=\"1\"} 2.5 1700000000000\nbar NaN\nnot a sample line\nbaz{a=\"}\"} 3\n"
    m = parse_prometheus(text)
    assert m["foo"] == 3.5
    assert m["bar"] != m["bar"]  # NaN kept
    assert "not" not in m


def test_counter_deltas_and_hit_rate():
    before = {"vllm:prefix_cache_queries_total": 100.0, "vllm:prefix_cache_hits_total": 10.0}
    after = {"vllm:prefix_cache_queries_total": 300.0, "vllm:prefix_cache_hits_total": 160.0,
             "vllm:prompt_tokens_total": 50.0}
    d = counter_deltas(before, after)
    assert d["prefix_cache_queries"] == 200.0 and d["prefix_cache_hits"] == 150.0
    assert d["prefix_cache_hit_rate"] == 0.75
    assert d["prompt_tokens"] == 50.0 and d["generation_tokens"] == 0.0
    assert counter_deltas(before, before)["prefix_cache_hit_rate"] is None


def test_parse_levels_always_has_the_sequential_baseline():
    assert parse_levels("4,16") == [1, 4, 16]
    assert parse_levels("16, 4,1,4") == [1, 4, 16]
    with pytest.raises(ValueError):
        parse_levels("0,4")
    with pytest.raises(ValueError):
        parse_levels("four")


def test_stage_summary_percentiles_and_missing_stage():
    rows = [{"understand_s": float(i), "total_s": 2.0 * i} for i in range(1, 11)]
    s = stage_summary(rows)
    assert s["understand_s"]["p50"] == 5.5 and s["total_s"]["p95"] == pytest.approx(19.1)
    assert s["explain_s"] == {"p50": 0.0, "p95": 0.0, "mean": 0.0}


def test_script_gives_each_session_its_own_opener():
    msgs = script(16, 3)
    assert len(msgs) == 16 and all(len(m) == 3 for m in msgs)
    assert len({m[0] for m in msgs}) == 16
    assert msgs[0][1:] == msgs[5][1:]


class _FakeAgent:
    """Records how many respond() calls overlap; each takes ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay, self.active, self.max_active, self.lock = delay, 0, 0, threading.Lock()
        self.order: list[tuple[str, str]] = []

    def new_session(self, user_id):
        return SimpleNamespace(id=user_id)

    def respond(self, session, message):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.order.append((session.id, message))
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1
        return SimpleNamespace(intent="recommend", recommendations=[1, 2], llm_calls=[1], understood_by="llm",
                               notices=["slow"] if message == "something older" else [],
                               timings={"understand_s": 0.01, "retrieve_s": 0.02, "total_s": self.delay})


@pytest.fixture()
def metrics_url():
    calls: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = SAMPLE.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802 - /reset_prefix_cache succeeds on the second try
            calls.append(self.path)
            code, body = (200, b'{"success": %s}' % (b"true" if len(calls) > 1 else b"false"))
            if self.path != "/reset_prefix_cache":
                code, body = 404, b"{}"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/metrics"
    srv.shutdown()


@pytest.mark.parametrize("level", [1, 4])
def test_run_level_bounds_sessions_in_flight_and_keeps_turn_order(metrics_url, level):
    agent = _FakeAgent(0.05)
    msgs = script(8, 2)
    r = run_level(agent, msgs, level, metrics_url, "t")
    assert r["turns"] == 16 and len(r["per_turn"]) == 16
    assert agent.max_active == level
    for i in range(8):  # a session's turns run in order
        mine = [m for s, m in agent.order if s == f"bench-t-{level}-{i}"]
        assert mine == msgs[i]
    assert r["max_requests_running"] == 1.0  # from the served sample
    assert r["server"]["prefix_cache_hit_rate"] is None  # unchanged counters: no queries in between
    assert r["wall_s"] >= 16 * 0.05 / level * 0.9
    assert r["stages"]["retrieve_s"]["p50"] == 0.02
    assert r["turns_with_notices"] == 8 and r["understood_by"] == {"llm": 16}


def test_reset_prefix_cache_retries_until_success_and_reports_refusal(metrics_url):
    root = metrics_url.rsplit("/", 1)[0]
    assert reset_prefix_cache(root) is True
    assert reset_prefix_cache(root + "/nope") is False
    assert reset_prefix_cache("http://127.0.0.1:9") is False


def test_poller_scrapes_at_least_once_when_the_level_ends_before_its_first_scrape(metrics_url):
    poller = MetricsPoller(metrics_url)
    poller._stop.set()  # the thread stops before its first scrape, as under a loaded CPU with a fast level
    with poller:
        pass
    assert poller.scrapes == 1 and poller.max_running == 1.0
