"""Load benchmark: N concurrent chat sessions against the running Gradio UI on loopback.

Each session is its own ``gradio_client.Client`` (its own Gradio session, so its own ``gr.State``)
and sends ``turns`` messages through the same ``/on_send`` endpoint a browser uses. Every message
carries the session's unique marker word; after each turn the session checks that its transcript
and its "What I think you like" summary hold its OWN marker and no other session's (no
cross-session leakage). Reported: errors, leaks, p50/p95/max turn latency (seconds, client side),
turns/s, and resident memory (MiB) before / peak / after of the UI process and, with the LLM, of
its vLLM server process tree, with the queue bounded at ``ui.web.QUEUE_MAX_SIZE``. Turns that
answered in retrieval order because the LLM was too slow or down are counted (``llm_fallbacks``:
"LLM unavailable" / "Explanations unavailable" notices), so an LLM run cannot silently degrade.

Entry point: :func:`run` (CLI wiring: ``recchat bench load``, which passes the web chat's
``ui.web.serve_in_background`` as ``serve``: the benchmark sits below the UI layer and only
drives it over HTTP).
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from agent.conversation import ChatAgent


class ServedUI(Protocol):
    """What ``serve`` returns: the UI's URL, a way to stop it, and its limits."""

    url: str
    concurrency_limit: int
    queue_max_size: int

    def close(self) -> None: ...


#: ``serve(agent, concurrency_limit or None) -> ServedUI``: serves the web chat in the background.
Serve = Callable[[ChatAgent, "int | None"], ServedUI]

GENRES = ("comedy", "thriller", "drama", "western", "horror", "romance", "animated", "war", "musical", "documentary")


def rss_mib() -> float:
    """Resident memory of this process (MiB), from /proc (0 where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss_mib() -> float:
    """Resident memory of this process' descendants (the local vLLM server and its engine
    workers), MiB; 0 when there are none or psutil is missing."""
    try:
        import psutil
    except ImportError:
        return 0.0
    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            total += child.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / 2**20


FALLBACK_MARKERS = ("LLM unavailable", "Explanations unavailable")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _last_reply(outputs: Any) -> str:
    """The newest assistant message in the chatbot output of ``/on_send`` (its notices are appended
    to it), so a notice of an earlier turn is not counted again."""
    for value in outputs if isinstance(outputs, (list, tuple)) else []:
        if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
            replies = [m for m in value if m.get("role") == "assistant"]
            return json.dumps(replies[-1].get("content"), ensure_ascii=False, default=str) if replies else ""
    return ""


def _session(url: str, index: int, turns: int, markers: list[str], deadline: float) -> dict[str, Any]:
    """One simulated person: ``turns`` messages, checking their own transcript and profile."""
    from gradio_client import Client

    mine = markers[index]
    others = [m for j, m in enumerate(markers) if j != index]
    client = Client(url, verbose=False)
    latencies: list[float] = []
    errors: list[str] = []
    leaks = 0
    fallbacks = 0
    genre = GENRES[index % len(GENRES)]
    for t in range(turns):
        if time.monotonic() > deadline:
            errors.append("time budget exhausted")
            break
        message = f"a {genre} film please, keep in mind {mine}" if t == 0 else f"another {genre} one ({mine} turn {t})"
        t0 = time.perf_counter()
        try:
            out = client.predict(message, api_name="/on_send")
        except Exception as exc:  # noqa: BLE001 - counted, the run goes on
            errors.append(f"turn {t}: {type(exc).__name__}: {exc}"[:300])
            continue
        latencies.append(time.perf_counter() - t0)
        text = json.dumps(out, ensure_ascii=False, default=str)
        if mine not in text:
            errors.append(f"turn {t}: own marker missing from the transcript")
        leaks += sum(m in text for m in others)
        fallbacks += any(marker in _last_reply(out) for marker in FALLBACK_MARKERS)
    client.close() if hasattr(client, "close") else None
    return {"latencies": latencies, "errors": errors, "leaks": leaks, "fallbacks": fallbacks}


def run(serve: Serve, n_sessions: int = 20, turns: int = 5, *, use_llm: bool = False, llm: str | None = None,
        explain: bool = True, catalog: str | None = None, concurrency: int | None = None,
        time_budget_s: float = 600.0, agent: ChatAgent | None = None, out: Path | None = None) -> dict[str, Any]:
    """Serve the UI with ``serve`` (over ``agent``, or an app opened from the settings:
    retrieval order unless ``use_llm``; ``llm`` overrides the configured model; ``explain=False``
    shows no reasons), run ``n_sessions`` concurrent sessions of ``turns`` turns within
    ``time_budget_s``, print and return the figures (JSON to ``out`` if given)."""
    owned = None
    tmp = None
    if agent is None:
        from agent.app import open_app
        from agent.settings import AgentSettings
        from retrieval.settings import RetrievalSettings

        tmp = tempfile.TemporaryDirectory(prefix="recchat-load-")
        rset = RetrievalSettings(**({"catalog": catalog} if catalog else {}))
        akw: dict[str, Any] = {"llm": llm} if llm else {}
        if not explain:
            akw["explain_top_k"] = 0
        if use_llm:
            akw["understand_with_llm"] = True
        aset = AgentSettings(sessions_url=f"sqlite:///{tmp.name}/sessions.db", **akw)
        owned = open_app(rset, aset, use_llm=use_llm)
        if use_llm and owned.engine is None:
            owned.close()
            tmp.cleanup()
            raise RuntimeError(f"--llm asked for, but {owned.llm_error}")
        agent = ChatAgent(owned)
    served = serve(agent, concurrency)
    url = served.url
    rss_before, tree_before = rss_mib(), tree_rss_mib()
    markers = [f"zq{index:03d}marker" for index in range(n_sessions)]
    started = time.perf_counter()
    deadline = time.monotonic() + time_budget_s
    peak = [rss_before, tree_before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            peak[0] = max(peak[0], rss_mib())
            peak[1] = max(peak[1], tree_rss_mib())

    threading.Thread(target=sample, daemon=True).start()
    engine, settings = agent.app.engine, agent.settings
    try:
        with cf.ThreadPoolExecutor(n_sessions) as pool:
            results = list(pool.map(lambda i: _session(url, i, turns, markers, deadline), range(n_sessions)))
        rss_after, tree_after = rss_mib(), tree_rss_mib()
    finally:
        stop.set()
        served.close()
        if owned is not None:
            owned.close()
        if tmp is not None:
            tmp.cleanup()
    wall = time.perf_counter() - started
    lat = [x for r in results for x in r["latencies"]]
    report = {
        "sessions": n_sessions, "turns_per_session": turns, "llm": engine is not None,
        "model": settings.llm if engine is not None else None,
        "explain_top_k": settings.explain_top_k if engine is not None else 0,
        "concurrency_limit": served.concurrency_limit,
        "turns_ok": len(lat), "errors": sum(len(r["errors"]) for r in results),
        "error_samples": [e for r in results for e in r["errors"]][:5], "leaks": sum(r["leaks"] for r in results),
        "llm_fallbacks": sum(r["fallbacks"] for r in results),
        "p50_s": round(statistics.median(lat), 3) if lat else None, "p95_s": round(_percentile(lat, 0.95), 3),
        "max_s": round(max(lat), 3) if lat else None, "wall_s": round(wall, 1),
        "turns_per_s": round(len(lat) / wall, 2) if wall else 0.0, "queue_max_size": served.queue_max_size,
        "rss_before_mib": round(rss_before, 1), "rss_peak_mib": round(peak[0], 1), "rss_after_mib": round(rss_after, 1),
        "llm_server_rss_before_mib": round(tree_before, 1), "llm_server_rss_peak_mib": round(peak[1], 1),
        "llm_server_rss_after_mib": round(tree_after, 1),
    }
    print(json.dumps(report, indent=2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    return report
