"""Chat turns under concurrent sessions on the local vLLM server: where the time goes, how much
vLLM's batching buys, and the prefix-cache hit rate.

Run: ``recchat bench concurrency [--levels 1,4,16] [--sessions 16] [--turns 1] [--no-explain]
[--no-cache-run]``.

One fixed workload (``sessions`` sessions x ``turns`` scripted messages, a different opening
request per session) is run at each concurrency level: ``c`` sessions in flight at a time, each
session's turns in order. Level 1 is the baseline: the same requests sent sequentially, on the
same server, in the same run. Per level: wall time, throughput (turns/s) and its gain over
sequential, the per-turn stage breakdown (understand / retrieve / rerank / explain / total,
p50/p95 seconds, from the timings the agent records for every turn), and, read from the
server's Prometheus ``/metrics`` before and after the level, the prefix-cache hit rate
(``vllm:prefix_cache_hits`` / ``vllm:prefix_cache_queries``, counted in prompt tokens), the
prompt/generated token counts, and the most requests vLLM ran in one batch
(``vllm:num_requests_running``, polled every 0.25 s).

The workload is the same at every level, so each level starts from an empty prefix cache
(``POST /reset_prefix_cache``; the local server is started with ``VLLM_SERVER_DEV_MODE=1`` for
that endpoint, on loopback only); otherwise later levels would hit the prompts cached by
earlier ones. ``prefix_cache_reset_before`` records that the reset succeeded.

With ``--cache-run`` (default on), the largest level is repeated on a second server started with
``--no-enable-prefix-caching`` (everything else equal), so the cache's share of the speed is a
ratio measured in the same run. LLM requests get ``request_timeout_s`` (default 300 s, not the
product's 60 s: 16 sessions on 2 CPU cores queue longer than that); turns that degraded anyway
(rules instead of LLM understanding, notices) are counted per level.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import platform
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from agent.app import App
    from agent.settings import AgentSettings

STAGES = ("understand_s", "retrieve_s", "rerank_s", "explain_s", "total_s")
OPENERS = (
    "something tense like Se7en, but not horror, from the 90s",
    "a funny animated movie for the whole family",
    "clever heist movies with a twist",
    "a romantic comedy set in New York",
    "classic westerns with gunfights",
    "a scary horror film from the 80s",
    "thoughtful science fiction about space travel",
    "war movies based on true stories",
    "a musical with great songs",
    "a crime drama about the mafia",
    "an adventure film with treasure hunting",
    "a mystery with a detective, not too violent",
    "documentaries about music",
    "a film-noir from the 40s",
    "a children's fantasy movie with magic",
    "a thriller about spies and secret agents",
)
FOLLOW_UPS = ("something older", "more like the first one", "I also love clever heist movies")
METRICS = {
    "prefix_cache_queries": "vllm:prefix_cache_queries_total",
    "prefix_cache_hits": "vllm:prefix_cache_hits_total",
    "prompt_tokens": "vllm:prompt_tokens_total",
    "generation_tokens": "vllm:generation_tokens_total",
    "requests": "vllm:request_success_total",
}
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([^\s]+)(?:\s+\d+)?$")


def parse_prometheus(text: str) -> dict[str, float]:
    """Samples of a Prometheus text exposition summed over label sets: ``{metric name: value}``.

    Comment lines are skipped; NaN/Inf values are kept as floats; unparsable lines are ignored."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        totals[m.group(1)] = totals.get(m.group(1), 0.0) + value
    return totals


def counter_deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Increase of each counter of :data:`METRICS` between two scrapes, plus ``prefix_cache_hit_rate``
    (hits / queries, None when there were no queries)."""
    out: dict[str, Any] = {key: after.get(name, 0.0) - before.get(name, 0.0) for key, name in METRICS.items()}
    q = out["prefix_cache_queries"]
    out["prefix_cache_hit_rate"] = round(out["prefix_cache_hits"] / q, 4) if q > 0 else None
    return out


def parse_levels(spec: str) -> list[int]:
    """Concurrency levels from ``"1,4,16"``: positive, sorted, de-duplicated; level 1 (the
    sequential baseline) is always included."""
    levels = {1}
    for part in spec.split(","):
        if part.strip():
            value = int(part)
            if value < 1:
                raise ValueError(f"concurrency level must be >= 1, got {value}")
            levels.add(value)
    return sorted(levels)


def stage_summary(timings: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """p50 / p95 / mean seconds per stage over turns (a missing stage counts as 0 s)."""
    out = {}
    for s in STAGES:
        v = np.asarray([t.get(s, 0.0) for t in timings], dtype=np.float64)
        out[s] = {"p50": round(float(np.percentile(v, 50)), 3), "p95": round(float(np.percentile(v, 95)), 3),
                  "mean": round(float(v.mean()), 3)}
    return out


def script(sessions: int, turns: int) -> list[list[str]]:
    """Messages of each session: its own opener, then shared follow-ups (cycled)."""
    return [[OPENERS[i % len(OPENERS)], *[FOLLOW_UPS[j % len(FOLLOW_UPS)] for j in range(turns - 1)]]
            for i in range(sessions)]


class MetricsPoller:
    """Scrapes ``/metrics`` every ``interval_s`` in a thread; keeps the max of ``vllm:num_requests_running``
    (at least one scrape: a level that ends before the thread's first one is scraped on exit)."""

    def __init__(self, url: str, interval_s: float = 0.25) -> None:
        self.url, self.interval_s = url, interval_s
        self.max_running = 0.0
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="metrics-poller")

    def _scrape(self, client: Any) -> None:
        import httpx

        try:
            running = parse_prometheus(client.get(self.url).text).get("vllm:num_requests_running", 0.0)
        except httpx.HTTPError:
            return
        self.max_running = max(self.max_running, running)
        self.scrapes += 1

    def _loop(self) -> None:
        import httpx

        with httpx.Client(timeout=2.0) as client:
            while not self._stop.is_set():
                self._scrape(client)
                self._stop.wait(self.interval_s)

    def __enter__(self) -> MetricsPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import httpx

        self._stop.set()
        self._thread.join(timeout=5)
        if not self.scrapes:
            with httpx.Client(timeout=2.0) as client:
                self._scrape(client)


def scrape(url: str) -> dict[str, float]:
    import httpx

    return parse_prometheus(httpx.get(url, timeout=10).text)


def reset_prefix_cache(root_url: str) -> bool:
    """Empty the server's prefix cache (``POST /reset_prefix_cache``, a vLLM dev endpoint served
    when the server runs with ``VLLM_SERVER_DEV_MODE=1``); False when the server refuses."""
    import httpx

    for _ in range(5):  # the reset fails while blocks are still held by finishing requests
        try:
            r = httpx.post(root_url + "/reset_prefix_cache", timeout=30)
        except httpx.HTTPError:
            return False
        if r.status_code != 200:
            return False
        if r.json().get("success"):
            return True
        time.sleep(1.0)
    return False


def run_level(agent: Any, messages: list[list[str]], level: int, metrics_url: str, tag: str) -> dict[str, Any]:
    """Run every session of ``messages`` with ``level`` sessions in flight; returns the level's report."""

    def one_session(i: int) -> list[dict[str, Any]]:
        session = agent.new_session(f"bench-{tag}-{level}-{i}")
        rows = []
        for turn, msg in enumerate(messages[i]):
            reply = agent.respond(session, msg)
            rows.append({"session": i, "turn": turn + 1, "intent": reply.intent, "picks": len(reply.recommendations),
                         "understood_by": reply.understood_by, "notices": len(reply.notices),
                         "llm_calls": len(reply.llm_calls), **{s: reply.timings.get(s, 0.0) for s in STAGES}})
        return rows

    before = scrape(metrics_url)
    t0 = time.perf_counter()
    with MetricsPoller(metrics_url) as poller, cf.ThreadPoolExecutor(max_workers=level) as pool:
        per_session = list(pool.map(one_session, range(len(messages))))
    wall = time.perf_counter() - t0
    after = scrape(metrics_url)
    rows = [r for rs in per_session for r in rs]
    return {"level": level, "turns": len(rows), "wall_s": round(wall, 2), "turns_per_s": round(len(rows) / wall, 4),
            "max_requests_running": poller.max_running, "server": counter_deltas(before, after),
            "stages": stage_summary(rows), "turns_with_notices": sum(r["notices"] > 0 for r in rows),
            "understood_by": {u: sum(r["understood_by"] == u for r in rows) for u in {r["understood_by"] for r in rows}},
            "intents": {i: sum(r["intent"] == i for r in rows) for i in {r["intent"] for r in rows}},
            "per_turn": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rows]}


def _open_llm_app(aset: AgentSettings, catalog: str | None) -> App:
    from agent.app import open_app
    from retrieval.settings import RetrievalSettings

    app = open_app(RetrievalSettings(**({"catalog": catalog} if catalog else {})), aset, use_llm=True)
    if app.engine is None:
        app.close()
        raise RuntimeError(f"no LLM engine: {app.llm_error}")
    return app


def run(levels: Sequence[int], sessions: int, turns: int, out: Path, *, explain: bool = True,
        cache_run: bool = True, llm: str | None = None, catalog: str | None = None,
        request_timeout_s: float = 300.0) -> dict[str, Any]:
    """The benchmark (see module doc); prints a table, writes ``out`` (JSON) and a PNG beside it."""
    from rich.console import Console

    from agent.conversation import ChatAgent
    from agent.settings import AgentSettings
    from agent.llm.vllm_server import find_free_port

    console = Console(width=160)
    messages = script(sessions, turns)
    report: dict[str, Any] = {"benchmark": "concurrency", "levels": list(levels), "sessions": sessions, "turns": turns,
                              "explain": explain, "machine": {"platform": platform.platform(), "processor": platform.processor()},
                              "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        variants = [("prefix_cache_on", [], list(levels))]
        if cache_run:
            variants.append(("prefix_cache_off", ["--no-enable-prefix-caching"], [max(levels)]))
        for name, extra_args, run_levels in variants:
            aset = AgentSettings(**({"llm": llm} if llm else {}), sessions_url=f"sqlite:///{tmp}/{name}.db",
                                 understand_with_llm=True,
                                 llm_port=find_free_port(start=8200, stop=8300), extra_server_args=extra_args,
                                 request_timeout_s=request_timeout_s,
                                 **({} if explain else {"explain_top_k": 0}))
            console.print(f"[bold]{name}[/]: starting the vLLM server for {aset.llm}")
            t0 = time.perf_counter()
            dev_mode = os.environ.get("VLLM_SERVER_DEV_MODE")
            os.environ["VLLM_SERVER_DEV_MODE"] = "1"  # the server inherits it: /reset_prefix_cache
            try:
                app = _open_llm_app(aset, catalog)
            finally:
                if dev_mode is None:
                    os.environ.pop("VLLM_SERVER_DEV_MODE", None)
                else:
                    os.environ["VLLM_SERVER_DEV_MODE"] = dev_mode
            startup_s = time.perf_counter() - t0
            try:
                agent = ChatAgent(app)
                agent.vocabulary()
                root_url = app.engine.root_url  # type: ignore[union-attr] - an HttpEngine on the local server
                metrics_url = root_url + "/metrics"
                warm = agent.new_session("warm-up")
                agent.respond(warm, "a good comedy")  # compiles/warms the server's paths; not measured
                runs = []
                for level in run_levels:
                    console.print(f"  level {level}: {sessions} sessions x {turns} turn(s)")
                    cold = reset_prefix_cache(root_url)  # every level starts from an empty cache
                    runs.append(run_level(agent, messages, level, metrics_url, name))
                    r = runs[-1]
                    r["prefix_cache_reset_before"] = cold
                    console.print(f"    wall {r['wall_s']} s, {r['turns_per_s']} turns/s, total p50 "
                                  f"{r['stages']['total_s']['p50']} s, prefix hit rate {r['server']['prefix_cache_hit_rate']}, "
                                  f"max running {r['max_requests_running']}")
            finally:
                app.close()
            report["runs"][name] = {"llm": aset.llm, "server_args": extra_args, "startup_s": round(startup_s, 1),
                                    "settings": {"permutations": aset.permutations, "max_candidates": aset.max_candidates,
                                                 "explain_top_k": aset.explain_top_k, "max_concurrency": aset.max_concurrency,
                                                 "request_timeout_s": aset.request_timeout_s},
                                    "levels": runs}
    on = report["runs"]["prefix_cache_on"]["levels"]
    base = on[0]["turns_per_s"]
    for r in on:
        r["throughput_gain_vs_sequential"] = round(r["turns_per_s"] / base, 2)
    if cache_run:
        off = report["runs"]["prefix_cache_off"]["levels"][0]
        same = next(r for r in on if r["level"] == off["level"])
        report["prefix_cache_speedup_at_max_level"] = round(same["turns_per_s"] / off["turns_per_s"], 2)
    console.print(render_table(report))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot_results(report, out.with_suffix(".png"))
    console.print(f"wrote {out}")
    return report


def render_table(report: dict[str, Any]):
    """A rich table: one row per (server variant, level)."""
    from rich.table import Table

    table = Table(title=f"{report['sessions']} sessions x {report['turns']} turn(s); stage p50 s")
    for col in ("server", "level", "wall s", "turns/s", "gain", *[s[:-2] for s in STAGES], "prefix hit", "max batch"):
        table.add_column(col)
    for name, run_ in report["runs"].items():
        for r in run_["levels"]:
            table.add_row(name, str(r["level"]), str(r["wall_s"]), str(r["turns_per_s"]),
                          str(r.get("throughput_gain_vs_sequential", "-")),
                          *[str(r["stages"][s]["p50"]) for s in STAGES], str(r["server"]["prefix_cache_hit_rate"]),
                          str(int(r["max_requests_running"])))
    return table


def plot_results(report: dict[str, Any], path: Path) -> None:
    """Stacked mean stage seconds per level, and throughput per level (cache on / off)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    bars = [(f"{name.replace('prefix_cache_', 'cache ')}\nc={r['level']}", r) for name, run_ in report["runs"].items()
            for r in run_["levels"]]
    bottom = np.zeros(len(bars))
    for s in STAGES[:-1]:
        vals = np.array([r["stages"][s]["mean"] for _, r in bars])
        ax1.bar([b for b, _ in bars], vals, bottom=bottom, label=s[:-2])
        bottom += vals
    ax1.set_ylabel("mean seconds per turn")
    ax1.set_title("where a turn's time goes")
    ax1.legend()
    ax2.bar([b for b, _ in bars], [r["turns_per_s"] for _, r in bars], color="tab:green")
    ax2.set_ylabel("turns / s")
    ax2.set_title("throughput (level 1 = sequential baseline)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
