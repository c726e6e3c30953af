"""Latency of the real web chat as a person sees it: a scripted conversation typed into the page
in Chromium (Playwright driving Debian's ``/usr/bin/chromium``), per turn the seconds from Send
to the ranked list on screen, to the first card with its reason and to the last one, with the
agent's own stage timings (understand / retrieve / rerank / explain) of the same turn.

Run: ``recchat bench ui-latency [--no-llm] [--llm NAME | --llm-url URL] [--rounds 2] [--out FILE]``.
The CLI hands :func:`run` the web chat's ``serve_in_background`` (bench never imports ``ui``).
The page's element ids (#msg, #send, #card-html-N) are the ones the browser tests use.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.turn_latency import SCRIPT, STAGES

PENDING = "writing the reason"
#: the list is on screen when the card area changed; a card "has its reason" when its reason line
#: is there and is not the pending placeholder
CARDS = 10


def _cards(page: Any) -> list[str]:
    return [page.inner_text(f"#card-html-{j}") for j in range(CARDS) if page.is_visible(f"#card-html-{j}")]


def _has_reason(card: str) -> bool:
    return PENDING not in card and ("checked" in card or "from the data" in card or "To explore" in card)


def run(serve: Callable[..., Any], use_llm: bool = True, llm: str | None = None, llm_url: str | None = None,
        rounds: int = 2, wait_s: float = 300.0, out: Path | None = None, catalog: str | None = None) -> dict[str, Any]:
    """Drive ``rounds`` fresh conversations of :data:`bench.turn_latency.SCRIPT`; return (and
    write to ``out``) the JSON report: per turn and p50/p95 over turns."""
    from playwright.sync_api import sync_playwright

    from agent.app import open_app
    from agent.conversation import ChatAgent
    from agent.settings import AgentSettings
    from retrieval.settings import RetrievalSettings

    akw = {k: v for k, v in (("llm", llm), ("llm_url", llm_url), ("understand_with_llm", use_llm)) if v}  # "with the LLM": its reading on
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        app = open_app(RetrievalSettings(**({"catalog": catalog} if catalog else {})),
                       AgentSettings(**akw, sessions_url=f"sqlite:///{tmp}/bench.db"), use_llm=use_llm)
        agent = ChatAgent(app)
        stages: list[dict[str, float]] = []
        respond = agent.respond

        def timed(*args: Any, **kwargs: Any) -> Any:  # the agent's own stage timings of each turn
            reply = respond(*args, **kwargs)
            stages.append({**reply.timings, "picks": len(reply.recommendations)})
            return reply

        agent.respond = timed  # type: ignore[method-assign]
        served = serve(agent)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                for r in range(rounds):
                    context = browser.new_context(viewport={"width": 1400, "height": 1200})  # a new person:
                    page = context.new_page()  # no stored session id, so nothing of the last round is restored
                    page.goto(served.url)
                    page.wait_for_selector("#msg textarea", timeout=120_000)
                    for turn, message in enumerate(SCRIPT, 1):
                        n = len(stages)
                        row = _turn(page, message, wait_s,
                                    lambda: stages[n]["picks"] if len(stages) > n else None)
                        own = stages[n] if len(stages) > n else {}  # this turn's reply, never the previous one
                        rows.append(row | {"round": r, "turn": turn, "message": message,
                                           **{s: own.get(s) for s in STAGES}})
                    context.close()
                browser.close()
        finally:
            served.close()
            app.close()
    report = {"benchmark": "ui-latency", "llm": (llm_url or llm or AgentSettings().llm) if use_llm else None,
              "rounds": rounds, "turns": rows, "machine": {"cpus": _cpus(), "platform": platform.platform()},
              "summary": _summary(rows)}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def _turn(page: Any, message: str, wait_s: float, replied: Callable[[], int | None]) -> dict[str, Any]:
    """Type ``message``, press Send, and time what appears (seconds from the click). ``replied()``
    is None until the agent has replied, then the number of picks it returned. The list is on
    screen when the cards change or the status says "Ranked" (a refine can show the same cards);
    the turn ends when the agent has replied and the page is no longer busy, with every card's
    reason when there is a list (a question is answered without one)."""
    before = _cards(page)
    page.fill("#msg textarea", message)
    t0 = time.perf_counter()
    page.click("#send")
    listed = first = last = None
    while time.perf_counter() - t0 < wait_s:
        time.sleep(0.1)
        cards = _cards(page)
        now = time.perf_counter() - t0
        status = page.inner_text("#status")
        if listed is None and cards and (cards != before or status.startswith("Ranked")):
            listed = now
        done = [_has_reason(c) for c in cards] if listed is not None else []
        if first is None and any(done):
            first = now
        if last is None and done and all(done):
            last = now
        picks = replied()
        if picks is not None and "..." not in status:
            if listed is None and picks:  # the same cards again, "Ranked" shown between two polls
                listed = first = last = now
            if listed is None or last is not None:
                break
    return {"list_s": listed, "first_reason_s": first, "last_reason_s": last,
            "cards": len(_cards(page)), "timed_out": time.perf_counter() - t0 >= wait_s}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("list_s", "first_reason_s", "last_reason_s", *STAGES):
        values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        out[key] = ({"p50": round(float(np.percentile(values, 50)), 3), "p95": round(float(np.percentile(values, 95)), 3),
                     "n": len(values)} if values else None)
    return out


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


def table(report: dict[str, Any]) -> str:
    """The summary as a plain-text table (p50 / p95 seconds)."""
    lines = [f"ui-latency, LLM {report['llm'] or 'off'}, {len(report['turns'])} turns",
             f"{'stage':<16}{'p50 s':>9}{'p95 s':>9}"]
    for key, v in report["summary"].items():
        if v:
            lines.append(f"{key:<16}{v['p50']:>9.2f}{v['p95']:>9.2f}")
    return "\n".join(lines)
