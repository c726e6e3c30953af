"""The protocols that talk to the chat: ``conversation``, ``requests`` and ``explanations``.

``recchat eval --protocol conversation`` (:mod:`eval.conversation`): simulated people with a
hidden target; pipelines ``popularity``, ``retrieval``, ``agent-rules``, ``agent-llm`` and
``agent-rules-no-sequence`` (the rules agent without the trained sequence model: its ablation).

``recchat eval --protocol requests`` (:mod:`eval.request_suite`): the constraint suite through
the two front-end paths, ``chat-*`` (``ChatAgent.respond`` in a fresh session, as the web chat
and ``recchat chat``) and ``recommend-*`` (:func:`agent.one_shot.recommend_once`, as
``recchat recommend``), each ``-rules`` (no LLM) or ``-llm``.

``recchat eval --protocol explanations``: the chat (``chat-llm``: the LLM writes the first
``explain_top_k`` reasons, checked, the data sentence otherwise; ``chat-rules``: data sentences only;
``explainer-llm``: the same picks explained the way recchat did before the per-pick reasons, by
:class:`agent.reasons.explain.Explainer` in ONE request per turn from the item's metadata, a missing or
dropped reason shown as none, to put the before and after side by side) answers the first ``--limit-users`` requests of the suite (default 30, hand-written first); every shown reason is
checked by :class:`agent.reasons.strict_check.StrictReasonChecker` against the pick's own structured
metadata and the evidence it may cite (the request, the films the person named).

``recchat eval --protocol freeform`` (:mod:`eval.freeform`): the free-form request suite (people,
length, certificate, awards, acclaim, origin, plot/theme, mood/occasion requests) through the same
paths as ``requests``; every shown pick is checked against the pick's facts or the request's
hand-made relevant set; ``--limit-users N`` asks only the first N requests, one kind in turn.

Each writes ``results.json``, ``report.md`` and plots into ``out`` and caches per-item results
under ``out/cache`` (JSONL), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from agent.app import App, assemble, open_themes
from agent.conversation import ChatAgent
from agent.settings import AgentSettings
from eval.chat_report import render_chat_report
from eval.conversation import (AgentConversant, ConversationRun, PopularityConversant, RetrievalConversant, compare,
                               plot_success_by_turn, popularity_percentiles, ratings_lookup, run_conversations,
                               summarise)
from eval.data import EvalDataset
from eval.prepared import Prepared
from eval.provenance import dataset_provenance, llm_provenance, relevant_env
from eval.report import git_state, versions
from eval.settings import EvalSettings
from retrieval.behaviour import Behaviour
from retrieval.ease import ItemScorer
from retrieval.items import Item
from retrieval.retriever import Retriever
from retrieval.retriever import Filters

CONVERSANTS = ("popularity", "retrieval", "agent-rules", "agent-llm", "agent-rules-no-sequence")
REQUEST_PATHS = ("chat-rules", "chat-llm", "recommend-rules", "recommend-llm")
#: Requests the explanations protocol sends when ``--limit-users`` is not given.
EXPLANATION_REQUESTS = 30


class LeakError(RuntimeError):
    """A simulated message named its target: the conversation figures are void."""


@dataclass
class Apps:
    """The chat apps of one run over one store: without and (on first use) with the LLM."""

    prepared: Prepared
    sessions_url: str
    list_k: int

    def __post_init__(self) -> None:
        self._apps: dict[tuple[bool, int, int, bool], App] = {}
        self._behaviour: Behaviour | None = None
        self._sequence: dict[str | None, ItemScorer | None] = {}

    def behaviour(self) -> Behaviour:
        """The behaviour model from the TRAINING part of the split only (histories without the
        held-out items, ratings of held-out items left out), so no evaluated target shapes it."""
        if self._behaviour is None:
            self._behaviour = training_behaviour(self.prepared)
        return self._behaviour

    def sequence(self, setting: str | None) -> ItemScorer | None:
        """The chat's trained sequence model for ``setting`` (AgentSettings.sequence_model), loaded
        once. It must have been trained on this split's training part (``recchat train sasrec``
        learns from the validation-split histories: no test item shapes it)."""
        if setting not in self._sequence:
            from agent.app import load_sequence_model

            self._sequence[setting] = load_sequence_model(setting, self.prepared.ctx.retriever.catalog)
        return self._sequence[setting]

    def sequence_folder(self) -> str | None:
        """Folder of the sequence model the chat apps use (None: none), for the report."""
        from retrieval.sasrec import find_sequence_model

        folder = find_sequence_model(AgentSettings().sequence_model, self.prepared.ctx.retriever.catalog)
        return str(folder) if folder is not None else None

    @cached_property
    def themes(self) -> Retriever | None:
        """The catalog's theme index (:func:`agent.app.open_themes`), opened once; None when it was
        not built (text-led requests then use the main index)."""
        ctx = self.prepared.ctx
        return open_themes(ctx.store.settings.model_copy(update={"catalog": ctx.retriever.catalog}))

    def theme_index(self) -> str | None:
        """``"<index> (<embedder id>)"`` of :attr:`themes`, for the report (None: none)."""
        themes = self.themes
        return f"{themes.catalog} ({themes.store.embedder.model_id})" if themes is not None else None

    def app(self, llm: bool, explain_top_k: int = 0, chat_k: int | None = None, sequence: bool = True) -> App:
        """``sequence=False``: the same app without the trained sequence model (its ablation)."""
        key = (llm, explain_top_k, chat_k or self.list_k, sequence)
        if key not in self._apps:
            ctx = self.prepared.ctx
            base = ctx.agent_settings() if llm else AgentSettings()
            settings = base.model_copy(update={"chat_k": chat_k or self.list_k, "explain_top_k": explain_top_k,
                                               "llm_reasons": llm and explain_top_k > 0,
                                               "understand_with_llm": llm, "sessions_url": self.sessions_url,
                                               # quality, not latency: the LLM's reading is never cut short
                                               # here (bench ui-latency measures the budgeted product)
                                               "understand_budget_s": None})
            fusion = settings.fusion
            self._apps[key] = assemble(ctx.store, ctx.retriever, ctx.engine() if llm else None, settings,
                                       behaviour=self.behaviour() if fusion else None,
                                       sequence=self.sequence(settings.sequence_model) if fusion and sequence else None,
                                       themes=self.themes if fusion else None)
        return self._apps[key]

    def agent(self, llm: bool, explain_top_k: int = 0, chat_k: int | None = None, sequence: bool = True) -> ChatAgent:
        return ChatAgent(self.app(llm, explain_top_k, chat_k, sequence))

    def close(self) -> None:
        for app in self._apps.values():
            app.sessions.close()


def training_behaviour(prepared: Prepared) -> Behaviour:
    """:class:`retrieval.behaviour.Behaviour` of the split's training part (see :meth:`Apps.behaviour`)."""
    cases = prepared.split.cases
    held = {(c.user_id, c.target) for c in cases}
    frame = prepared.dataset.interactions
    ratings = [(str(i), float(r)) for u, i, r in zip(frame["user_id"], frame["item_id"], frame["rating"])
               if r == r and (str(u), str(i)) not in held]
    return Behaviour.build([list(c.history) for c in cases], prepared.ctx.universe, ratings)


def run_chat_eval(settings: EvalSettings, out: Path, *, dataset: EvalDataset | None = None, command: str | None = None,
                  progress: bool = True, store: Any = None) -> dict[str, Any]:
    """Run ``settings.protocol`` (one of the chat protocols), write the report, return results.json.
    ``store``: an open :class:`retrieval.store.ChromaStore` with the catalog indexed as
    ``settings.index_name`` (tests pass one; default: opened and indexed on first use)."""
    from agent.llm.signals import sigterm_raises
    from eval.runner import prepare

    known = {"conversation": CONVERSANTS, "requests": REQUEST_PATHS, "freeform": REQUEST_PATHS,
             "explanations": ("chat-llm", "chat-rules", "explainer-llm")}[settings.protocol]
    unknown = [p for p in settings.pipelines if p not in known]
    if unknown:
        raise ValueError(f"unknown pipeline(s) {unknown} for the {settings.protocol} protocol; known: {', '.join(known)}")
    out = Path(out)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    prepared = prepare(settings, dataset=dataset, store=store, progress=progress)
    apps = Apps(prepared, f"sqlite:///{cache / 'sessions.db'}", list_k=10)
    git = git_state()  # the code that runs, recorded before it runs
    t0 = time.perf_counter()
    try:
        with sigterm_raises():  # a terminated run stops as after Ctrl-C: finished items stay cached
            if settings.protocol == "conversation":
                body = _conversation(settings, prepared, apps, cache, progress)
            elif settings.protocol == "requests":
                body = _requests(settings, prepared, apps, cache, progress, out)
            elif settings.protocol == "freeform":
                body = _freeform(settings, prepared, apps, cache, progress, out)
            else:
                body = _explanations(settings, prepared, apps, cache, progress, out)
    finally:
        apps.close()
        prepared.ctx.close()
    doc = _document(settings, prepared, command, body, time.perf_counter() - t0, git)
    (out / "results.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_chat_report(doc), encoding="utf-8")
    if settings.protocol == "conversation" and body["leaked"]:
        raise LeakError(f"{body['leaked']} simulated message(s) named their target; see {out / 'results.json'}")
    return doc


# ---------------------------------------------------------------------- conversation
def _conversation(settings: EvalSettings, prepared: Prepared, apps: Apps, cache: Path, progress: bool) -> dict[str, Any]:
    ctx = prepared.ctx
    run = ConversationRun(prepared.cases, ctx.items, ctx.popularity, ctx.universe,
                          ratings_lookup(prepared.dataset.interactions), turns=settings.turns, seed=settings.seed)
    summaries: dict[str, Any] = {}
    tests: dict[str, Any] = {}
    leaked = 0
    for start in settings.starts:
        records = {}
        for name in settings.pipelines:
            conversant = _conversant(name, apps, ctx)
            concurrency = settings.concurrency if name == "agent-llm" else 1
            records[name] = run_conversations(run, conversant, start, cache / f"conversation-{name}-{start}.jsonl",
                                              progress, concurrency)
            summaries[f"{name} ({start})"] = summarise(records[name], settings.turns)
            leaked += summaries[f"{name} ({start})"]["leaked"]
        if "retrieval" in records:
            tests[f"vs retrieval ({start})"] = compare(records, "retrieval")
        for agent in ("agent-rules", "agent-llm"):  # the bar the chat must clear: popularity within its constraints
            if agent in records and "popularity" in records:
                tests[f"{agent} vs popularity ({start})"] = compare(
                    {k: v for k, v in records.items() if k in (agent, "popularity")}, "popularity")
        if "agent-rules" in records and "agent-rules-no-sequence" in records:
            tests[f"agent-rules vs agent-rules-no-sequence ({start})"] = compare(
                {k: v for k, v in records.items() if k in ("agent-rules", "agent-rules-no-sequence")},
                "agent-rules-no-sequence")
        if "agent-rules" in records and "agent-llm" in records:
            tests[f"agent-llm vs agent-rules ({start})"] = compare(
                {k: v for k, v in records.items() if k in ("agent-rules", "agent-llm")}, "agent-rules")
    plot_success_by_turn(summaries, settings.turns, cache.parent / "success_by_turn.png")
    plot_success_by_turn(summaries, settings.turns, cache.parent / "success_by_turn_k10.png", k=10)
    return {"summaries": summaries, "paired_tests": tests, "leaked": leaked, "sequence_model": apps.sequence_folder(),
            "theme_index": apps.theme_index()}


def _conversant(name: str, apps: Apps, ctx: Any) -> Any:
    if name == "popularity":
        return PopularityConversant(ctx.items, ctx.popularity, apps.agent(False).vocabulary())
    if name == "retrieval":
        return RetrievalConversant(ctx.retriever)
    return AgentConversant(name, apps.agent(name == "agent-llm", sequence=name != "agent-rules-no-sequence"))


# ---------------------------------------------------------------------- requests
def _suite(prepared: Prepared, apps: Apps) -> list[Any]:
    from eval.request_suite import request_suite

    return request_suite(apps.agent(False).vocabulary().genres, seed=prepared.settings.seed)


def _requests(settings: EvalSettings, prepared: Prepared, apps: Apps, cache: Path, progress: bool,
              out: Path) -> dict[str, Any]:
    from eval.request_suite import plot_by_kind, run_suite

    suite = _suite(prepared, apps)
    results = {name: run_suite(suite, _cached(_responder(name, apps, prepared, suite), cache / f"requests-{name}.jsonl",
                                              prepared.ctx.items), progress)
               for name in settings.pipelines}
    plot_by_kind(results, out / "satisfaction_by_kind.png")
    return {"requests": len(suite), "hand_written": sum(r.hand_written for r in suite),
            "held_out": sum(r.held_out for r in suite), "paths": results}


def _freeform(settings: EvalSettings, prepared: Prepared, apps: Apps, cache: Path, progress: bool,
              out: Path) -> dict[str, Any]:
    """The free-form suite (:mod:`eval.freeform`) through each path; ``limit_users`` = the first N
    requests, one kind in turn. Relevant sets are resolved to this catalog's ids (by title and
    year for another catalog); requests needing a fact the whole catalog lacks are skipped."""
    from eval.freeform import RatingStats, available_facts, interleaved, load_suite, plot_freeform, resolve_relevant, \
        run_freeform, suite_rules

    full = load_suite()
    suite = interleaved(full, settings.limit_users)
    items = list(prepared.ctx.items.values())
    stats = RatingStats.from_interactions(prepared.dataset.interactions)
    relevant, missing = resolve_relevant(suite, items)
    available = available_facts(items, stats)
    results = {name: run_freeform(suite, _cached(_responder(name, apps, prepared, suite), cache / f"freeform-{name}.jsonl",
                                                 prepared.ctx.items), stats, relevant, available, progress)
               for name in settings.pipelines}
    plot_freeform(results, out / "freeform_by_kind.png")
    kinds: dict[str, int] = {}
    for r in suite:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
    return {"requests": len(suite), "suite_requests": len(full), "held_out": sum(r.held_out for r in suite),
            "kinds": kinds, "facts_available": sorted(available), "relevant_missing_in_catalog": missing,
            "median_rating_count": stats.median_count, "rules": suite_rules(), "theme_index": apps.theme_index(),
            "paths": results}


def _responder(name: str, apps: Apps, prepared: Prepared, suite: Sequence[Any],
               explain_top_k: int = 0) -> Callable[[Any], Any]:
    """``respond(request) -> RequestOutcome`` for one front-end path (fresh, history-free)."""
    from agent.one_shot import recommend_once
    from eval.request_suite import RequestOutcome, resolve_reference_ids

    llm = name.endswith("-llm")
    refs = resolve_reference_ids(suite, prepared.ctx.items.values())
    pct = popularity_percentiles(prepared.ctx.popularity, prepared.ctx.universe)

    if name == "explainer-llm":
        return _explainer_responder(apps, prepared, refs, pct)
    if name.startswith("chat"):
        agent = apps.agent(llm, explain_top_k, chat_k=5)

        def respond(request: Any) -> Any:
            t0 = time.perf_counter()
            session = agent.new_session(user_id=f"eval-{request.id}", history=[])
            reply = agent.respond(session, request.text)
            shown = [r.item for r in reply.recommendations]
            outcome = RequestOutcome(shown, session.profile.to_filters(), time.perf_counter() - t0,
                                     [pct.get(i.id, 0.0) for i in shown], refs.get(request.id, ()))
            ev = [reply.evidence.get(r.item.id) for r in reply.recommendations]
            outcome.extra = {"reasons": [r.reason for r in reply.recommendations], "llm_calls": reply.llm_calls,  # type: ignore[attr-defined]
                             "liked": [r.title for r in session.profile.liked_items], "notices": reply.notices,
                             "sources": [r.reason_source for r in reply.recommendations],
                             "facts": [list(e.facts) + ([e.exploration_seed] if e.exploration_seed else []) if e else []
                                       for e in ev],
                             "rejected": [list(e.reason_rejected) if e else [] for e in ev]}
            agent.sessions.delete(session.id)
            return outcome
    else:
        app = apps.app(llm, explain_top_k, chat_k=5)

        def respond(request: Any) -> Any:
            t0 = time.perf_counter()
            reply = recommend_once(app, request.text, k=5)
            shown = [r.item for r in reply.recommendations]
            return RequestOutcome(shown, _filters(reply.filters), time.perf_counter() - t0,
                                  [pct.get(i.id, 0.0) for i in shown], refs.get(request.id, ()))
    return respond


def _explainer_responder(apps: Apps, prepared: Prepared, refs: Mapping[str, Any],
                         pct: Mapping[str, float]) -> Callable[[Any], Any]:
    """The chat's picks (rules, no LLM) explained by the earlier one-request
    :class:`agent.reasons.explain.Explainer` (its grounding check drops unsupported sentences; a pick
    without a reason shows none, as the web chat did then)."""
    from agent.understanding.context import build_context
    from agent.llm.engine import audit_scope
    from agent.reasons.explain import Explainer
    from agent.types import ScoredCandidate, Turn
    from eval.request_suite import RequestOutcome
    from retrieval.candidates import Candidate

    agent = apps.agent(False, 0, chat_k=5)
    settings = prepared.ctx.agent_settings()
    explainer = Explainer(prepared.ctx.engine(), settings)

    def respond(request: Any) -> Any:
        t0 = time.perf_counter()
        session = agent.new_session(user_id=f"eval-{request.id}", history=[])
        reply = agent.respond(session, request.text)
        liked = [prepared.ctx.items[r.item_id] for r in session.profile.liked_items if r.item_id in prepared.ctx.items]
        context = build_context([Turn("user", request.text)], lambda text: len(text.split()), 1500, history=liked)
        ranked = [ScoredCandidate(Candidate(r.item, r.score, i, ("chat",)), r.score)
                  for i, r in enumerate(reply.recommendations)]
        with audit_scope() as calls:
            result = explainer.explain(context, ranked)
        recs = result.recommendations
        shown = [r.item for r in recs]
        outcome = RequestOutcome(shown, session.profile.to_filters(), time.perf_counter() - t0,
                                 [pct.get(i.id, 0.0) for i in shown], refs.get(request.id, ()))
        k = settings.explain_top_k
        outcome.extra = {"reasons": [r.reason for r in recs], "liked": [i.label for i in liked],  # type: ignore[attr-defined]
                         "sources": ["llm" if r.reason else None for r in recs], "facts": [[] for _ in recs],
                         "llm_calls": [{"kind": c.kind, "error": c.error, "latency_s": c.latency_s,
                                        "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}
                                       for c in calls],
                         "rejected": [["missing"] if i < k and not r.reason else [] for i, r in enumerate(recs)],
                         # one call per turn: invalid when it failed or left a top pick without a reason
                         "invalid_calls": int(bool(result.error) or any(not r.reason for r in recs[:k]))}
        agent.sessions.delete(session.id)
        return outcome
    return respond


def _cached(respond: Callable[[Any], Any], path: Path, items: Mapping[str, Item]) -> Callable[[Any], Any]:
    """``respond`` with its outcomes kept in a JSONL file (resume: a cached request is replayed)."""
    from eval.request_suite import RequestOutcome

    done: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                done[row["id"]] = row
            except (ValueError, KeyError):
                continue

    def wrapped(request: Any) -> Any:
        row = done.get(request.id)
        if row is None:
            outcome = respond(request)
            row = {"id": request.id, "shown": [i.id for i in outcome.shown],
                   "parsed": None if outcome.parsed is None else outcome.parsed.to_dict(),
                   "seconds": outcome.seconds, "pct": outcome.popularity_percentiles,
                   "refs": list(outcome.reference_ids), "extra": getattr(outcome, "extra", None)}
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            done[request.id] = row
        parsed = None if row["parsed"] is None else _filters(row["parsed"])
        outcome = RequestOutcome([items[i] for i in row["shown"] if i in items], parsed, row["seconds"], row["pct"],
                                 tuple(row["refs"]))
        outcome.extra = row.get("extra")  # type: ignore[attr-defined]
        return outcome

    return wrapped


def _filters(d: Mapping[str, Any]) -> Filters:
    """A reply's ``filters`` dict (lists) as :class:`Filters`."""
    return Filters(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


# ---------------------------------------------------------------------- explanations
def _explanations(settings: EvalSettings, prepared: Prepared, apps: Apps, cache: Path, progress: bool,
                  out: Path) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from agent.reasons.strict_check import StrictReasonChecker, duplicates_in_list, summarise as summarise_reasons, \
        write_reason_sample

    suite = sorted(_suite(prepared, apps), key=lambda r: (not r.hand_written, r.held_out, r.id))
    chosen = suite[: settings.limit_users or EXPLANATION_REQUESTS]
    pipeline = settings.pipelines[0] if settings.pipelines else "chat-llm"
    k = apps.prepared.ctx.agent_settings().explain_top_k
    respond = _cached(_responder(pipeline, apps, prepared, suite, explain_top_k=k),
                      cache / f"explanations-{pipeline}.jsonl", prepared.ctx.items)
    checker = StrictReasonChecker(apps.agent(False).vocabulary().genres)
    verdicts, rows, calls, invalid, from_llm = [], [], 0, 0, 0
    for request in tqdm(chosen, desc="explanations", disable=not progress):
        outcome = respond(request)
        extra = outcome.extra or {}
        n = len(outcome.shown)
        reasons = (list(extra.get("reasons") or []) + [None] * n)[:n]
        facts = (list(extra.get("facts") or []) + [[]] * n)[:n]
        sources = (list(extra.get("sources") or []) + [None] * n)[:n]
        dupes = duplicates_in_list(reasons)
        cited = [request.text] + list(extra.get("liked") or [])
        for i, (item, reason) in enumerate(zip(outcome.shown, reasons)):
            verdict = checker.check(reason, item, cited + list(facts[i]))
            if i in dupes and verdict.valid:
                verdict = type(verdict)(False, verdict.flags + ("malformed",), verdict.claims, verdict.grounded_claims,
                                        verdict.total_claims)
            verdicts.append(verdict)
            from_llm += sources[i] == "llm"
            rows.append({"item": item, "reason": reason, "cited": cited + list(facts[i]), "verdict": verdict,
                         "request": request.text, "source": sources[i]})
        reason_calls = [c for c in extra.get("llm_calls") or [] if c.get("kind") == "generate_json" and (
            pipeline == "explainer-llm" or "<facts>" in str((c.get("messages") or [{}])[-1].get("content", "")))]
        calls += len(reason_calls)
        # chat: one call per pick, failed or replaced -> fell back to data; explainer: its own count per turn
        invalid += extra.get("invalid_calls", sum(bool(r) for r in extra.get("rejected") or []))
    if settings.explain_sample:
        write_reason_sample(out / "reasons_sample.md", rows[: settings.explain_sample])
    summary = summarise_reasons(verdicts, calls, invalid)
    summary["with_reason_share"] = sum(bool(r["reason"]) for r in rows) / len(rows) if rows else None
    summary["llm_share"] = from_llm / len(rows) if rows else None
    return {"requests": len(chosen), "pipeline": pipeline, "explain_top_k": k, "strict": summary,
            "examples": [{"pick": r["item"].label, "reason": r["reason"], "source": r["source"],
                          "flags": list(r["verdict"].flags)} for r in rows[:40]]}


# ---------------------------------------------------------------------- report
def _document(settings: EvalSettings, prepared: Prepared, command: str | None, body: dict[str, Any],
              wall_s: float, git: dict[str, Any]) -> dict[str, Any]:
    uses_llm = any(p.endswith("llm") for p in settings.pipelines)
    agent = prepared.ctx.agent_settings()
    return {
        "format": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "protocol": settings.protocol,
        "command": command, "environment": relevant_env(), "git": git, "versions": versions(),
        "config": settings.config(), "agent_config": agent.model_dump(mode="json"),
        "dataset": {"name": prepared.dataset.name, **prepared.split.summary(), "files": dataset_provenance(prepared.dataset)},
        "users": {"sampled": len(prepared.sample), "evaluated": len(prepared.cases)},
        "llm": llm_provenance(agent.llm, agent.llm_url) if uses_llm else None,
        "wall_s": round(wall_s, 1), **body,
    }
