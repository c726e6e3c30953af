"""``recchat bench llm-judge``: can the packaged LLM tell which candidates fit a free-form wish?

Issue 30 asks the LLM to earn its place. Rewriting the request (the wish reading) did not lift the
free-form suite; this bench measures the other use a small model might manage: judging each
candidate against the request from the film's own text (a pointwise relevance judge, as in
LLM-as-reranker work), with everything it needs in the prompt.

For each text-led request of the free-form suite (``eval/freeform_suite.json``, kinds ``plot``
and ``mood`` by default; the ones whose picks are judged by hand-made relevant sets):

1. the chat (rules, no LLM, a fresh session) returns its first ``pool`` picks: the candidates,
   in the order the chat would show them;
2. each pick is checked as the suite checks a shown pick (:func:`eval.freeform.judge`);
3. the LLM gets one prompt per candidate (``prompts/judge_*.txt``: the request, then the film's
   title, year, genres, overview and keywords, sanitised as untrusted text) and the probability of
   "Yes" against "No" as its next token is read (:meth:`agent.llm.engine.Engine.score_choices`,
   one batched call per request).

Figures per request, then averaged (requests with no fitting or no unfitting candidate have no
AUC):

- ``auc_judge``: P(a fitting candidate gets a higher P(Yes) than an unfitting one); 0.5 = chance;
- ``auc_order``: the same for the chat's own order (earlier = higher): the bar to clear;
- ``p5_order`` / ``p5_judge`` / ``p5_fused``: share of the first five that fit, in the chat's
  order, ordered by P(Yes), and by reciprocal-rank fusion of both orders (k = 60);
  ``p5_best``: the most the pool allows (fitting candidates / 5, at most 1);
- ``seconds``: wall time of the request's judging call.

A paired Wilcoxon test compares ``p5_fused`` (and ``p5_judge``) with ``p5_order`` over the requests.
Writes ``judge.json`` (not ``results.json``: that name is kept for eval runs rendered by
:func:`eval.report.render_report`) and ``README.md`` into ``out``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RRF_K = 60
"""Reciprocal-rank fusion constant (Cormack et al.'s 60)."""

OVERVIEW_CHARS = 400
"""Longest overview put in a judging prompt (characters)."""

LABELS = ("Yes", "No")


@dataclass
class JudgedRequest:
    """One request: its pool (catalog ids, the chat's order), which fit, and the judge's P(Yes)."""

    id: str
    kind: str
    text: str
    held_out: bool
    ids: list[str]
    fits: list[bool]
    p_yes: list[float]
    seconds: float

    def order_by(self, scores: Sequence[float]) -> list[int]:
        """Pool positions, highest score first (ties keep the chat's order)."""
        return sorted(range(len(self.ids)), key=lambda k: (-scores[k], k))

    def fused(self) -> list[int]:
        """Reciprocal-rank fusion of the chat's order and the judge's order."""
        judge_rank = {k: r for r, k in enumerate(self.order_by(self.p_yes))}
        return self.order_by([1 / (RRF_K + k) + 1 / (RRF_K + judge_rank[k]) for k in range(len(self.ids))])

    def p_at(self, order: Sequence[int], k: int = 5) -> float:
        return sum(self.fits[i] for i in order[:k]) / k

    def figures(self) -> dict[str, float | None]:
        chat = list(range(len(self.ids)))
        return {"auc_judge": auc(self.p_yes, self.fits), "auc_order": auc([-k for k in chat], self.fits),
                "p5_order": self.p_at(chat), "p5_judge": self.p_at(self.order_by(self.p_yes)),
                "p5_fused": self.p_at(self.fused()), "p5_best": min(1.0, sum(self.fits) / 5)}


def auc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """Probability that a positive outscores a negative (ties count half: ROC AUC); None without both."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(list(positive), list(scores))) if 0 < sum(positive) < len(positive) else None


def film_text(item: Any) -> str:
    """The film as the judge reads it: title (year), genres, overview, keywords; catalog text is
    untrusted, so instruction-like sentences are removed (:func:`retrieval.untrusted.strip_instructions`)."""
    from agent.understanding.context import clean_text
    from retrieval.untrusted import strip_instructions

    lines = [clean_text(item.label, 120), "Genres: " + ", ".join(item.genres)]
    overview = strip_instructions(str(item.extra.get("overview") or ""))
    if overview:
        lines.append("Plot: " + clean_text(overview, OVERVIEW_CHARS))
    keywords = item.extra.get("keywords")
    if isinstance(keywords, list) and keywords:
        lines.append("Keywords: " + clean_text(", ".join(str(k) for k in keywords[:12]), 240))
    return "\n".join(lines)


def judge_messages(request: str, item: Any) -> list[Any]:
    """System + user prompt asking whether ``item`` fits ``request`` (the request last but one,
    the film last, so a prefix cache shares the request across a pool)."""
    from agent.llm.engine import Message
    from agent.understanding.context import clean_text
    from prompts import render

    return [Message("system", render("judge_system")),
            Message("user", render("judge_user", request=clean_text(request, 300), film=film_text(item)))]


def judge_pool(engine: Any, request: str, items: Sequence[Any]) -> list[float]:
    """P(Yes) (renormalised over Yes/No) that each item fits ``request``; one batched call."""
    import math

    scored = engine.score_choices([judge_messages(request, item) for item in items], list(LABELS))
    return [math.exp(s["Yes"]) for s in scored]


def summarise(rows: Sequence[JudgedRequest]) -> dict[str, Any]:
    """Mean of each figure over the requests that have it, by split, plus paired tests."""
    from eval.metrics import paired_test

    def mean(name: str, part: Sequence[JudgedRequest]) -> float | None:
        values = [v for r in part if (v := r.figures()[name]) is not None]
        return statistics.fmean(values) if values else None

    names = ("auc_judge", "auc_order", "p5_order", "p5_judge", "p5_fused", "p5_best")
    parts = {"all": list(rows), "held_out": [r for r in rows if r.held_out],
             **{kind: [r for r in rows if r.kind == kind] for kind in sorted({r.kind for r in rows})}}
    out: dict[str, Any] = {part: {"requests": len(rs), **{n: mean(n, rs) for n in names}} for part, rs in parts.items()}
    base = [r.figures()["p5_order"] for r in rows]
    out["paired"] = {name: asdict(paired_test(f"{name} vs p5_order", base, [r.figures()[name] for r in rows]))
                     for name in ("p5_judge", "p5_fused")}
    out["median_seconds"] = statistics.median(r.seconds for r in rows) if rows else None
    return out


def run(llm: str, backend: str, out: Path, pool: int = 30, kinds: Sequence[str] = ("plot", "mood"),
        limit: int | None = None, progress: bool = True, llm_url: str | None = None) -> dict[str, Any]:
    """Judge the pools of the suite's ``kinds`` requests with ``llm`` on ``backend`` (or on the
    OpenAI-compatible server at ``llm_url``, e.g. a larger model on a GPU); write
    ``out/judge.json`` and ``out/README.md``; return the results."""
    from tqdm import tqdm

    from agent.llm.engines import make_engine
    from agent.settings import EngineSettings
    from eval.chat_protocols import Apps
    from eval.freeform import RatingStats, judge, load_suite, resolve_relevant
    from eval.report import git_state
    from eval.runner import prepare
    from eval.settings import EvalSettings

    out.mkdir(parents=True, exist_ok=True)
    suite = [r for r in load_suite() if r.kind in kinds][:limit]
    prepared = prepare(EvalSettings(dataset="movielens-1m", protocol="freeform", pipelines=["chat-rules"]),
                       progress=progress)
    items = prepared.ctx.items
    relevant, _ = resolve_relevant(suite, items.values())
    stats = RatingStats.from_interactions(prepared.dataset.interactions)
    apps = Apps(prepared, f"sqlite:///{out / 'sessions.db'}", list_k=pool)
    pools: list[tuple[Any, list[Any], list[bool]]] = []
    try:
        agent = apps.agent(False, chat_k=pool)
        for request in suite:
            session = agent.new_session(user_id=f"judge-{request.id}", history=[])
            shown = [r.item for r in agent.respond(session, request.text).recommendations]
            agent.sessions.delete(session.id)
            fits = [v.status == "satisfied" for v in judge(request, shown, stats, relevant.get(request.id)).verdicts]
            pools.append((request, shown, fits))
    finally:
        apps.close()
        prepared.ctx.close()
        (out / "sessions.db").unlink(missing_ok=True)
    engine = make_engine(EngineSettings(llm=llm, backend=backend, llm_url=llm_url), progress=progress)
    rows = []
    try:
        for request, shown, fits in tqdm(pools, desc=f"judging with {llm}", disable=not progress):
            t0 = time.perf_counter()
            p_yes = judge_pool(engine, request.text, shown) if shown else []
            rows.append(JudgedRequest(request.id, request.kind, request.text, request.held_out,
                                      [i.id for i in shown], fits, p_yes, time.perf_counter() - t0))
    finally:
        engine.close()
    command = (f"recchat bench llm-judge --llm {llm} --backend {backend}" + (f" --llm-url {llm_url}" if llm_url else "")
               + f" --pool {pool} --kinds {','.join(kinds)} --out {out}")
    doc = {"command": command, "git": git_state(), "llm": llm, "backend": backend, "pool": pool, "kinds": list(kinds),
           "summary": summarise(rows), "requests": [{**asdict(r), **r.figures()} for r in rows]}
    (out / "judge.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "README.md").write_text(render_report(doc), encoding="utf-8")
    return doc


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def render_report(doc: dict[str, Any]) -> str:
    """The README of one run: the command, the table by part, the paired tests."""
    s = doc["summary"]
    lines = [f"# LLM as a judge of candidates: {doc['llm']} ({doc['backend']})", "",
             f"- command: `{doc['command']}`", f"- git: {doc['git'].get('commit', '?')}" + (" (uncommitted changes)" if doc["git"].get("dirty") else ""), "",
             "| part | requests | AUC judge | AUC chat order | P@5 chat order | P@5 judge | P@5 fused | P@5 pool best |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for part, v in s.items():
        if isinstance(v, dict) and "requests" in v:
            lines.append(f"| {part} | {v['requests']} | {_f(v['auc_judge'])} | {_f(v['auc_order'])} | "
                         f"{_f(v['p5_order'])} | {_f(v['p5_judge'])} | {_f(v['p5_fused'])} | {_f(v['p5_best'])} |")
    lines += ["", "Paired over the requests (vs the chat's order):", ""]
    for name, t in s["paired"].items():
        lines.append(f"- {name}: {t['mean_b']:.3f} vs {t['mean_a']:.3f}, Wilcoxon p = {t['p_wilcoxon']:.3f}")
    lines += ["", f"Median seconds to judge one pool: {_f(s['median_seconds'])}.", ""]
    return "\n".join(lines)
