"""Per-turn latency of the chat agent: understand / retrieve / rerank / explain, p50 and p95
(seconds) over a scripted 5-turn conversation repeated ``rounds`` times (fresh session each).

Run: ``python -m bench.turn_latency --llm smollm2-135m-instruct --rounds 3 --out bench/results/turn_latency.json``
(or ``--llm-url`` for a running server, ``--no-llm`` for rules + retrieval order).
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SCRIPT = (
    "something tense like Se7en, but not horror, from the 90s",
    "I also love clever heist movies",
    "something older",
    "tell me about the second one?",
    "more like the first one",
)
STAGES = ("understand_s", "retrieve_s", "rerank_s", "explain_s", "total_s")


def run(llm: str | None = None, llm_url: str | None = None, use_llm: bool = True, rounds: int = 3,
        out: Path | None = None, catalog: str | None = None) -> dict[str, Any]:
    """Run the benchmark; returns (and writes to ``out``) the JSON report."""
    from agent.conversation import ChatAgent
    from agent.settings import AgentSettings
    from retrieval.settings import RetrievalSettings
    from agent.app import open_app

    akw = {k: v for k, v in (("llm", llm), ("llm_url", llm_url), ("understand_with_llm", use_llm)) if v}  # "with the LLM": its reading on
    with tempfile.TemporaryDirectory() as tmp:
        aset = AgentSettings(**akw, sessions_url=f"sqlite:///{tmp}/bench.db")
        t0 = time.perf_counter()
        app = open_app(RetrievalSettings(**({"catalog": catalog} if catalog else {})), aset, use_llm=use_llm)
        startup_s = time.perf_counter() - t0
        try:
            agent = ChatAgent(app)
            agent.vocabulary()
            samples: dict[str, list[float]] = {s: [] for s in STAGES}
            per_turn: list[dict[str, Any]] = []
            for r in range(rounds):
                session = agent.new_session(f"bench-{r}")
                for turn, msg in enumerate(SCRIPT):
                    reply = agent.respond(session, msg)
                    row = {"round": r, "turn": turn + 1, "intent": reply.intent, "understood_by": reply.understood_by,
                           "picks": len(reply.recommendations), "llm_calls": len(reply.llm_calls),
                           **{s: round(reply.timings.get(s, 0.0), 4) for s in STAGES}}
                    per_turn.append(row)
                    for s in STAGES:
                        samples[s].append(reply.timings.get(s, 0.0))
        finally:
            app.close()
    report = {
        "benchmark": "turn_latency", "llm": (llm or aset.llm) if use_llm and app.engine is not None else None,
        "llm_error": app.llm_error, "rounds": rounds, "turns": len(SCRIPT), "script": list(SCRIPT),
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "startup_s": round(startup_s, 2),
        "settings": {"chat_k": aset.chat_k, "max_candidates": aset.max_candidates, "permutations": aset.permutations,
                     "explain_top_k": aset.explain_top_k, "exploration_slots": aset.exploration_slots},
        "stages": {s: {"p50": round(float(np.percentile(v, 50)), 4), "p95": round(float(np.percentile(v, 95)), 4),
                       "mean": round(float(np.mean(v)), 4)} for s, v in samples.items()},
        "per_turn": per_turn,
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
    return report
