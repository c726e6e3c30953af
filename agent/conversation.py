"""The chat agent: THE API the UI and the CLI use.

One :class:`ChatAgent` per process (it holds the shared, stateless components: store, retriever,
pipeline, engine); one :class:`agent.sessions.session.Session` per conversation (all per-person state).
Sessions never share mutable state; every call that changes a session persists it.

A turn (:meth:`ChatAgent.respond`): understand the message (LLM JSON extraction validated
against the catalog, rule-based fallback) -> update the profile -> decide (recommend / refine /
question / clarify / chit-chat) -> for recommend/refine: pipeline (retrieve -> rerank -> explain)
with the profile's hard constraints as filters and rejected/seen items excluded, plus one
exploration slot -> reply. Never raises on LLM failure: the reply degrades and says so in
``notices``.
"""

from __future__ import annotations

import copy
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

from agent.answers import answer_question
from agent.app import App
from agent.ranking.acclaim import catalog_stats, item_passes
from agent.ranking.exploration import ExplorationStats, exploration_reason, known_genres, pick_exploration
from agent.reasons.evidence import REASONS_NOTICE, Reason, ReasonWriter, cited, pick_facts
from agent.reasons.liked import lift_clause
from agent.sessions.session import Session
from agent.settings import AgentSettings
from agent.types import Feedback, FeedbackKind, Recommendation, Turn
from agent.understanding.extraction import Extraction
from agent.understanding.genres import kind_genres, wished_genres
from agent.understanding.moods import MoodReading, mood_reading
from agent.understanding.profile import Constraints, InterestProfile, ItemRef
from agent.understanding.profile_update import apply_extraction, edited_profile
from agent.understanding.rules import unread_words
from agent.understanding.understander import Understander
from agent.understanding.vocabulary import Vocabulary, vocabulary_from_mirror
from retrieval.items import DOCUMENT_CAST, Item

Intent = Literal["recommend", "refine", "question", "clarify", "chitchat", "feedback", "profile"]

#: Longest chat message read (characters); longer ones are cut, with a notice (docs/reliability.md).
MAX_MESSAGE_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_message(message: object, limit: int = MAX_MESSAGE_CHARS) -> tuple[str, str | None]:
    """A chat message made safe to process and store: ``str`` (bytes decoded as UTF-8 with
    replacement), lone surrogates -> U+FFFD, control characters other than tab/newline removed,
    stripped and cut at ``limit`` characters. Returns (text, notice or None)."""
    if isinstance(message, (bytes, bytearray)):
        message = bytes(message).decode("utf-8", "replace")
    text = _CONTROL.sub(" ", _SURROGATE.sub("\ufffd", str(message or ""))).strip()
    if len(text) > limit:
        return text[:limit], f"Your message was {len(text):,} characters; I read the first {limit:,}."
    return text, None


@dataclass(frozen=True)
class Evidence:
    """Why one pick is shown ("why?" view). ``matched`` lists the metadata facts that match the
    profile (e.g. "genre Thriller", "year 1995 in 1990-1999"); ``related_history`` are titles of
    the person's liked/history items closest to the pick (cosine, 0..1 in ``related_scores``);
    ``rerank_score`` is the ranker's score (probability 0..1 for the LLM ranker), ``retrieval_score``
    the cosine similarity of retrieval."""

    item_id: str
    matched: tuple[str, ...] = ()
    related_history: tuple[str, ...] = ()
    related_scores: tuple[float, ...] = ()
    rerank_score: float | None = None
    retrieval_score: float | None = None
    exploration_seed: str | None = None
    facts: tuple[str, ...] = ()            # what the reason could cite (agent.reasons.evidence.pick_facts)
    reason_rejected: tuple[str, ...] = ()  # why the LLM's reason was replaced by the data sentence


@dataclass
class AgentReply:
    """What one call answered.

    ``text`` is the assistant message (already appended to the session); ``recommendations``
    are catalog items only, each satisfying ``filters`` (the hard constraints in force), best
    first, with ``exploration=True`` on the "to explore" pick; ``evidence`` maps item id ->
    :class:`Evidence`; ``timings`` are seconds per stage (understand_s, retrieve_s, rerank_s,
    explain_s, total_s); ``llm_calls`` are audit dicts (kind, model, latency_s, tokens, error).
    """

    text: str
    intent: Intent
    recommendations: list[Recommendation] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    llm_calls: list[dict[str, Any]] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Evidence] = field(default_factory=dict)
    understood_by: Literal["llm", "rules", "none"] = "none"


OnRanked = Callable[[list[Recommendation]], None]


def _leanings(profile: InterestProfile, genres: Sequence[str]) -> tuple[list[str], list[str], MoodReading]:
    """Genres the request leans towards (its mood words, the LLM's wish reading, its moods) and
    away from (the wish reading's and the moods', none of those asked for, nor one its theme
    words name: "a heist movie that isn't violent" lowers action, not crime), and the moods'
    reading (``genres``: the catalog's)."""
    c = profile.constraints
    wished = list(dict.fromkeys([*wished_genres(profile.liked_attributes), *profile.soft_genres]))
    themed = kind_genres(profile.focus)
    mood = mood_reading(profile.moods, genres, [*c.genres, *c.genres_any, *wished, *themed])
    wished += [g for g in mood.towards if g not in wished]
    avoid = [g for g in dict.fromkeys([*profile.avoid_genres, *mood.away]) if g not in wished and g not in themed]
    return wished, avoid, mood


def _unmet_wish(recs: Sequence[Recommendation], wished: Sequence[str], constraints: Constraints) -> str | None:
    """A notice when the genres a mood word or a mood leans towards ("something scary" -> Horror,
    Thriller) are in none of the main picks: the wish is soft, so the list holds the closest films, and the person should know
    (e.g. "scary" with "for my kids" and the 70s). None when a pick has one, or nothing was wished."""
    main = [r for r in recs if not r.exploration]
    if not wished or not main or any(set(wished) & set(r.item.genres) for r in main):
        return None
    within = "; ".join(constraints.describe())
    wish = " or ".join(g.lower() for g in wished)
    if not within:
        return f"None of these is a {wish} film: none came close enough to the rest of what you asked for."
    return (f"No {wish} film fits your other requests ({within}); these are the closest ones. "
            "Drop one of them to widen the search.")


class ChatAgent:
    """Conversational recommender over one :class:`agent.app.App` (store, retriever, pipeline,
    engine or None, session store, settings).

    Thread-safe across sessions (the agent holds no per-session state); one session must not be
    used by two threads at once.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings: AgentSettings = app.settings
        self.store, self.retriever, self.pipeline, self.sessions = app.store, app.retriever, app.pipeline, app.sessions
        self.catalog: str = app.catalog
        engine = app.engine if self.settings.understand_with_llm else None
        self.understander = Understander(engine, self.settings.understand_max_tokens,
                                         self.settings.understand_budget_s, self.settings.llm_reading)
        self.reasons = ReasonWriter(app.engine, self.settings)
        self.llm_error: str | None = app.llm_error
        self._vocab: tuple[Any, Vocabulary] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ sessions
    def vocabulary(self) -> Vocabulary:
        """The catalog vocabulary, rebuilt when the index changes."""
        mirror = self.store.mirror(self.catalog)
        with self._lock:
            if self._vocab is None or self._vocab[0] != mirror.key:
                self._vocab = (mirror.key, vocabulary_from_mirror(mirror))
            return self._vocab[1]

    def new_session(self, user_id: str | None = None, ml_user: str | None = None,
                    history: Sequence[str] | None = None) -> Session:
        """A fresh, persisted session; ``ml_user`` seeds its history with a MovieLens user's items
        (ValueError for an unknown user or a non-MovieLens catalog); ``history`` (catalog ids,
        oldest first) seeds it directly instead (the evaluation passes a training history)."""
        if history is not None:
            history = list(history)
        elif ml_user:
            from retrieval.movielens import user_history  # noqa: PLC0415 - MovieLens only, lazy

            history = user_history(self.catalog, ml_user)
        else:
            history = []
        session = Session(user_id=user_id or ml_user, ml_user=ml_user, catalog=self.catalog, history=history,
                          profile=InterestProfile(), exploration=ExplorationStats())
        self.sessions.save(session)
        return session

    def load_session(self, session_id: str) -> Session:
        """Resume a persisted session (KeyError when unknown)."""
        return self.sessions.load(session_id)

    def reset(self, session: Session) -> None:
        """Forget conversation, profile, shown items and feedback (keeps id and ML history)."""
        session.turns, session.shown, session.feedback, session.explored = [], [], [], []
        session.profile, session.exploration = InterestProfile(), ExplorationStats()
        self.sessions.save(session)

    # ------------------------------------------------------------------ turns
    def respond(self, session: Session, message: str, on_ranked: OnRanked | None = None,
                k: int | None = None) -> AgentReply:
        """Answer one user message (see module doc); persists the session before returning.
        ``k`` picks per list (default ``settings.chat_k``; an exploration pick included)."""
        started = time.perf_counter()
        from agent.llm.engine import audit_scope

        notices: list[str] = [self.llm_error] if self.llm_error and not session.turns else []
        message, cut = clean_message(message)
        if cut:
            notices.append(cut)
        vocab = self.vocabulary()
        shown = self._refs(session.last_shown(), session)
        t0 = time.perf_counter()
        with audit_scope() as calls:
            ex, notice = self.understander.understand(message, vocab, session.profile.summary(), shown)
        understand_s = time.perf_counter() - t0
        if notice:
            notices.append(notice)
        session.turns.append(Turn("user", message))
        dropped = apply_extraction(session.profile, session.titles, ex, message, shown)
        intent = ex.intent
        if intent == "clarify" and (session.history or not session.profile.is_empty()):
            intent = "recommend"
        if intent in ("refine", "question") and not shown:
            intent = "recommend" if ex.has_content() else "clarify"
        if intent == "chitchat":
            reply = AgentReply(self._chitchat_text(message, session), "chitchat", notices=notices)
        elif intent == "question":
            reply = AgentReply(self._answer(ex, message, shown, session), "question", notices=notices)
        elif intent == "clarify":
            reply = AgentReply(self._clarify_text(vocab), "clarify", notices=notices)
        else:
            reply = self._recommend(session, intent, on_ranked, notices, k, dropped)
        reply.understood_by = ex.source if message else "none"
        reply.llm_calls = _audit(calls) + reply.llm_calls
        reply.timings = {"understand_s": understand_s, **reply.timings, "total_s": time.perf_counter() - started}
        reply.filters = session.profile.to_filters().to_dict()
        session.turns.append(Turn("assistant", reply.text))
        self._persist(session, reply.notices)
        return reply

    def _persist(self, session: Session, notices: list[str]) -> None:
        """Save after a turn; a failed write (disk full, read-only) adds a notice instead of losing
        the answer: the stored copy stays the previous complete one and the next save catches up."""
        from agent.sessions.store import SessionSaveError

        try:
            self.sessions.save(session)
        except SessionSaveError as exc:
            notices.append(f"Could not save this conversation ({exc.__cause__ or exc}); "
                           "it will be saved with your next message.")

    def feedback(self, session: Session, item_id: str, kind: FeedbackKind, rerank: bool = False,
                 on_ranked: OnRanked | None = None) -> AgentReply | None:
        """Record like / dislike / not_this / seen on an item; updates the profile at once and
        persists. ``not_this`` / ``dislike`` / ``seen`` exclude the item for good; ``like`` makes
        it a query signal (its neighbours rise). With ``rerank=True`` returns a fresh list."""
        fb = Feedback(item_id, kind, session.titles.get(item_id, ""))
        session.feedback = [f for f in session.feedback if f.item_id != item_id] + [fb]
        ref = ItemRef(item_id, session.titles.get(item_id, item_id), "", 100.0)
        if kind == "like":
            session.profile.like_item(ref)
        elif kind == "dislike":
            session.profile.dislike_item(ref)
        if item_id in session.explored and kind in ("like", "dislike"):
            stats = session.exploration or ExplorationStats()
            if kind == "like":
                stats.liked += 1
            else:
                stats.disliked += 1
            session.exploration = stats
        self.sessions.save(session)
        return self.refresh(session, on_ranked) if rerank else None

    def refresh(self, session: Session, on_ranked: OnRanked | None = None) -> AgentReply:
        """A fresh list for the current profile (after feedback or profile edits); the previous
        list is not repeated. Persists the session."""
        started = time.perf_counter()
        reply = self._recommend(session, "feedback", on_ranked, [])
        reply.timings["total_s"] = time.perf_counter() - started
        reply.filters = session.profile.to_filters().to_dict()
        session.turns.append(Turn("assistant", reply.text))
        self._persist(session, reply.notices)
        return reply

    def why(self, session: Session, item_id: str) -> str:
        """A plain-words "why?" for a shown item: the catalog facts and the closest history items."""
        item = self.store.get_items(self.catalog, [item_id]).get(item_id)
        if item is None:
            return "That item is not in the catalog."
        liked = [r.item_id for r in session.profile.liked_items]
        history = list(dict.fromkeys(session.history + liked))
        ev = self._evidence([Recommendation(item=item, rank=1, score=0.0)], session.profile, history, {}, {})[item.id]
        parts = [describe_item(item)]
        if ev.matched:
            parts.append("Matches your request: " + "; ".join(ev.matched) + ".")
        if ev.related_history:
            parts.append("Closest to what you liked: " + ", ".join(
                f"{t} (similarity {s:.2f})" for t, s in zip(ev.related_history, ev.related_scores)) + ".")
        return " ".join(parts)

    def profile_summary(self, session: Session) -> str:
        """"What I think you like", in plain words."""
        text = session.profile.summary()
        if session.history:
            text += f" I also know {len(session.history)} films from your history."
        return text

    def update_profile(self, session: Session, edits: dict[str, Any]) -> None:
        """Apply the person's corrections (keys of ``session.profile.to_form()``; absent keys are
        kept), validated against the catalog (unknown genres/items/years raise ValueError); persists."""
        lookup = lambda ids: self.store.get_items(self.catalog, ids)  # noqa: E731
        session.profile = edited_profile(session.profile, edits, self.vocabulary(), lookup)
        self.sessions.save(session)

    # ------------------------------------------------------------------ internals
    def _refs(self, ids: Sequence[str], session: Session) -> list[ItemRef]:
        return [ItemRef(i, session.titles.get(i, i)) for i in ids]

    def _recommend(self, session: Session, intent: str, on_ranked: OnRanked | None, notices: list[str],
                   k: int | None = None, dropped: Sequence[str] = ()) -> AgentReply:
        from agent.pipeline import TurnRequest

        profile = session.profile
        filters = profile.to_filters()
        liked_ids = [r.item_id for r in profile.liked_items]
        history = list(dict.fromkeys([h for h in session.history if h not in liked_ids] + liked_ids))
        banned = session.excluded() | {r.item_id for r in profile.disliked_items}
        if intent in ("refine", "feedback"):
            banned |= set(session.last_shown())
        history = [h for h in history if h not in banned]
        k = k or self.settings.chat_k
        slots = self.settings.exploration_slots if k > 1 else 0
        rng = random.Random(f"{session.id}:{len(session.turns)}")
        stats = session.exploration or ExplorationStats()
        explore = slots > 0 and stats.should_offer(self.settings.exploration_rate, rng)
        query = profile.query_text() or None
        if not query and not history:
            return AgentReply(self._clarify_text(self.vocabulary()), "clarify", notices=notices)
        unread = unread_words(profile.focus, self.vocabulary(), profile.liked_attributes)
        wished, avoid, mood = _leanings(profile, self.vocabulary().genres)
        text_led = bool(profile.about or unread or mood.terms)
        shunned = self._shunned(profile.disliked_attributes)
        # the person said what the film is about or how it should feel ("a heist film", "a good cry"):
        # every pick serves that, none steps away from it (issue 31 quoted "5. Toy Story (to explore)")
        explore = explore and not (text_led or profile.moods)
        k_main = k - (1 if explore else 0)
        request = TurnRequest(turns=list(session.turns), history=history[-50:], feedback=list(session.feedback),
                              filters=filters, exclude=sorted(banned), k=k, query=query, text_led=text_led,
                              lexical_query=" ".join([*unread, profile.about, mood.terms]).strip(),
                              shun_query=" ".join([mood.shun, *shunned]).strip(),
                              wished_genres=wished, avoid_genres=avoid, rating_weight=mood.rating,
                              acclaim=profile.constraints.acclaim)
        extra: list[Recommendation] = []
        explore_seed: dict[str, str] = {}
        explore_facts: dict[str, tuple[str, ...]] = {}

        # the pipeline ranks k picks; an exploration pick, when one is found, takes the last slot
        # (none found: the list stays k long)
        def ranked(recs: list[Recommendation]) -> None:
            if explore:
                pick = self._explore(session, recs, filters, banned, history)
                if pick is not None:
                    extra.append(Recommendation(item=pick.candidate.item, rank=k_main + 1, score=pick.similarity,
                                                reason=pick.reason, grounded=True, exploration=True))
                    explore_seed[pick.candidate.item.id] = pick.seed_title
                    explore_facts[pick.candidate.item.id] = pick.facts
            if on_ranked is not None:  # shown at once with the data sentences; checked LLM ones may replace them
                on_ranked(self._with_reasons(list(recs[: k - len(extra)]) + extra, session, history, draft=True)[0])

        try:
            result = self.pipeline.run(request, on_ranked=ranked)
        except Exception as exc:  # noqa: BLE001 - retrieval failure must not crash the chat
            notices.append(f"Sorry, I could not search the catalog ({type(exc).__name__}: {exc}).")
            return AgentReply("Sorry, something went wrong while searching. Could you rephrase?", intent,  # type: ignore[arg-type]
                              notices=notices)
        # hard constraints hold whatever happened upstream (defence in depth)
        recs = [r for r in result.recommendations if filters.matches_item(r.item) and r.item.id not in banned]
        recs = recs[: k - len(extra)]
        recs += [r for r in extra if filters.matches_item(r.item) and r.item.id not in {x.item.id for x in recs}]
        unmet = _unmet_wish(recs, wished, profile.constraints)  # mood words' and moods' genres alike
        if unmet:
            notices.append(unmet)
        said = next((t.text.lower() for t in reversed(session.turns) if t.role == "user"), "")
        blind = [d for d in profile.disliked_attributes if d not in shunned and d.lower() in said]
        if blind:  # "not Disney": no fact says which films are, so it changed nothing (said, not hidden)
            notices.append("Nothing in the catalog's facts says which films are "
                           + " or ".join(f'"{d}"' for d in blind) + ", so that did not change these picks.")
        if unread and not profile.about and self.pipeline.sources is not None and self.settings.lexical_weight > 0:
            lexical = {c.item.id for c in result.candidates if "lexical" in c.sources}
            if not any(r.item.id in lexical for r in recs if not r.exploration):  # said, not hidden (issue 31)
                notices.append(f"No film's summary or keywords here mention \"{' '.join(unread)}\", so these "
                               "picks follow the rest of what you asked for.")
        from agent.llm.engine import audit_scope

        t0 = time.perf_counter()
        with audit_scope() as reason_calls:
            recs, notes = self._with_reasons(recs, session, history, on_update=on_ranked)
        failed = sorted({f for _, reason in notes.values() for f in reason.rejected if f.startswith("error:")})
        if failed:  # a dead or timed-out LLM is said, never hidden (a rejected sentence is just replaced)
            notices.append(f"{REASONS_NOTICE} ({', '.join(f[7:] for f in failed)}); "
                           "the reasons are built from the catalog and rating data.")
        result.timings["explain_s"] = result.timings.get("explain_s", 0.0) + time.perf_counter() - t0
        notices += result.notices
        for r in recs:
            session.titles[r.item.id] = r.item.label
            if r.exploration:
                session.explored.append(r.item.id)
                stats.offered += 1
        session.exploration = stats
        session.shown.append([r.item.id for r in recs])
        retrieval_scores = {c.item.id: c.score for c in result.candidates}
        evidence = self._evidence(recs, profile, history, retrieval_scores, explore_seed)
        for item_id, (facts, reason) in notes.items():
            evidence[item_id] = replace(evidence[item_id], facts=facts, reason_rejected=reason.rejected)
        for item_id, facts in explore_facts.items():  # the exploration card's lift, shown under "why?"
            if item_id in evidence and facts:
                evidence[item_id] = replace(evidence[item_id], facts=facts)
        timings = {k: v for k, v in result.timings.items() if k != "total_s"}
        text = self._list_text(recs, profile, intent, dropped)
        return AgentReply(text, intent, recs, notices, timings, _audit([*result.llm_calls, *reason_calls]),
                          evidence=evidence)  # type: ignore[arg-type]

    def _with_reasons(self, recs: list[Recommendation], session: Session, history: list[str], draft: bool = False,
                      on_update: OnRanked | None = None,
                      ) -> tuple[list[Recommendation], dict[str, tuple[tuple[str, ...], Reason]]]:
        """``recs`` renumbered 1..n, each with a reason (:mod:`agent.reasons.evidence`): the exploration
        pick keeps its own; the others get the LLM's checked sentence or the data sentence
        (``draft``: the data sentences only, no LLM call). ``on_update`` gets the whole list again
        each time a checked LLM sentence replaces a data sentence. Also returns, per reasoned pick,
        its facts and the :class:`Reason` (for "why?")."""
        profile = session.profile
        liked_ids = list(dict.fromkeys([r.item_id for r in reversed(profile.liked_items)] + list(reversed(history))[:20]))
        found = self.store.get_items(self.catalog, liked_ids) if liked_ids else {}
        liked = [found[i] for i in liked_ids if i in found]
        main = [r for r in recs if not r.exploration]
        wished = wished_genres(profile.liked_attributes)
        message = next((t.text for t in reversed(session.turns) if t.role == "user"), "")
        genres = self.vocabulary().genres
        fits = _leanings(profile, genres)[2].fits
        picks = [(r.item, pick_facts(r.item, liked, profile.constraints, self.app.behaviour, wished, message=message,
                                     liking=self.app.liking, genres=genres, moods=fits)) for r in main]
        main_at = [i for i, r in enumerate(recs) if not r.exploration]
        shown: list[Recommendation] = []

        def arrived(j: int, reason: Reason) -> None:  # pick j of ``main`` got its checked LLM sentence
            if not shown:
                shown.extend(self._with_reasons(recs, session, history, draft=True)[0])
            at = main_at[j]
            shown[at] = replace(shown[at], reason=reason.text, reason_source=reason.source)
            on_update(list(shown))  # type: ignore[misc]

        written = iter(self.reasons.write(picks, message, self.vocabulary().genres, data_only=draft,
                                          on_reason=arrived if on_update is not None else None))
        facts = {item.id: tuple(cited(fs)) for item, fs in picks}
        out: list[Recommendation] = []
        notes: dict[str, tuple[tuple[str, ...], Reason]] = {}
        for i, r in enumerate(recs):
            if r.exploration:
                out.append(replace(r, rank=i + 1, reason_source="data"))
                continue
            reason = next(written)
            notes[r.item.id] = (facts[r.item.id], reason)
            out.append(replace(r, rank=i + 1, reason=reason.text, grounded=True, reason_source=reason.source))
        return out, notes

    def _explore(self, session: Session, recs: list[Recommendation], filters: Any, banned: set[str],
                 history: list[str]) -> Any:
        try:
            seed_ids = list(reversed(history))[:3] or [r.item.id for r in recs[:2]]
            seeds_map = self.store.get_items(self.catalog, seed_ids)
            seeds = [seeds_map[i] for i in seed_ids if i in seeds_map]
            context_items = seeds + [r.item for r in recs]
            hist_items = list(self.store.get_items(self.catalog, history[-20:]).values())
            known = known_genres(context_items + hist_items, top=8)
            taken = banned | {r.item.id for r in recs} | set(session.explored) | set(history)
            rule = session.profile.constraints.acclaim
            behaviour = self.app.behaviour
            stats = catalog_stats(behaviour.counts, behaviour.mean_rating.astype(float)) \
                if rule and behaviour is not None else None  # once per turn, not per film tried
            accept = (lambda item: item_passes(rule, item, behaviour, stats)) if rule else None
            pick = pick_exploration(self.retriever, seeds, known, filters, taken, behaviour=self.app.behaviour,
                                    accept=accept)
            seed = next((x for x in seeds if pick is not None and x.label == pick.seed_title), None)
            because = lift_clause(pick.candidate.item, seed, self.app.liking) if seed is not None else None
            if because:  # a liking lift says more than "people who rated X often rated it too"
                item = pick.candidate.item
                pick = replace(pick, reason=exploration_reason(item, seed, True, because), facts=(because,))
            return pick
        except Exception:  # noqa: BLE001 - exploration is optional
            return None

    def _evidence(self, recs: list[Recommendation], profile: InterestProfile, history: list[str],
                  retrieval_scores: dict[str, float], seeds: dict[str, str]) -> dict[str, Evidence]:
        out: dict[str, Evidence] = {}
        try:
            import numpy as np

            hist = history[-30:]
            embs = self.store.get_embeddings(self.catalog, hist + [r.item.id for r in recs])
            hist_items = self.store.get_items(self.catalog, hist) if hist else {}
        except Exception:  # noqa: BLE001 - evidence is best effort
            embs, hist_items = {}, {}
        c = profile.constraints
        words = " ".join(profile.liked_attributes + profile.soft + [profile.intent]).lower()
        for r in recs:
            it = r.item
            matched: list[str] = []
            for g in it.genres:
                if g in c.genres or g.lower() in words:
                    matched.append(f"genre {g}")
            if it.year and (c.year_min is not None or c.year_max is not None):
                matched.append(f"year {it.year} within {c.year_min or '...'}-{c.year_max or '...'}")
            if c.exclude_genres:
                matched.append("none of: " + ", ".join(c.exclude_genres))
            for key, value in c.fields.items():
                matched.append(f"{key} {' and '.join(value) if isinstance(value, list) else value}")
            related: list[tuple[float, str]] = []
            if it.id in embs:
                for h in hist:
                    if h in embs and h in hist_items:
                        related.append((float(np.dot(embs[it.id], embs[h])), hist_items[h].label))
                related.sort(reverse=True)
            out[it.id] = Evidence(it.id, tuple(matched), tuple(t for _, t in related[:3]),
                                  tuple(round(s, 3) for s, _ in related[:3]),
                                  None if r.exploration else r.score, retrieval_scores.get(it.id),
                                  seeds.get(it.id))
        return out

    def _shunned(self, disliked: Sequence[str]) -> list[str]:
        """The disliked attributes that name one of the catalog's keywords ("not a slasher" ->
        "slasher"), whose films are lowered; others ("nothing too long") would only lower films
        whose text happens to say the word."""
        keywords = self.vocabulary().fields.get("keywords", {})
        words = [(d, re.sub(r"^(?:an?|the|any|some)\s+", "", d.lower().strip())) for d in disliked]
        return [d for d, w in words if w in keywords or w.rstrip("s") in keywords]

    def _loosening(self, c: Constraints, most: int = 3) -> list[str]:
        """For an empty list: how many catalog films fit when one constraint is dropped ("Without
        "from 1960 to 1969", 16 films fit."), the smallest change first, at most ``most``; [] under
        an acclaim rule (not a filter: the counts would overstate) or when the catalog cannot say
        (a failure here only loses the hint)."""
        if c.acclaim:
            return []
        try:
            mirror = self.store.mirror(self.catalog)
            wishes = dict(c.wishes())
            options: list[tuple[int, str]] = []
            drops = ([("years", Constraints(year_min=c.year_min, year_max=c.year_max).describe()[0])]
                     if c.year_min is not None or c.year_max is not None else [])
            drops += [(f"genre:{g}", f"genre {g}") for g in c.genres] + list(wishes.items())
            for key, said in drops:
                loose = copy.deepcopy(c)
                if key == "years":
                    loose.year_min = loose.year_max = None
                elif key.startswith("genre:"):
                    loose.genres.remove(key[6:])
                else:
                    loose.keep_wishes(set(wishes) - {key})
                n = int(loose.to_filters().mask(mirror).sum())
                if n:
                    options.append((n, f"Without \"{said}\", {n:,} film{'s fit' if n != 1 else ' fits'}."))
            return [text for _, text in sorted(options)[:most]]
        except Exception:  # noqa: BLE001 - the hint is optional
            return []

    def _list_text(self, recs: list[Recommendation], profile: InterestProfile, intent: str,
                   dropped: Sequence[str] = ()) -> str:
        """The assistant message: the list under the constraints in force, and what a new request
        dropped of the earlier ones (so the person can say it again if they still want it)."""
        if dropped:
            return (f"New request, so I no longer keep: {'; '.join(dropped)} (say so if you still want it).\n"
                    + self._list_text(recs, profile, intent))
        if not recs:
            rules = profile.constraints.describe()
            hints = self._loosening(profile.constraints)
            return ("I found nothing that fits" + (f" ({'; '.join(rules)})" if rules else "") + ". "
                    + (" ".join(hints) + " Say which to drop." if hints
                       else "Try loosening a constraint, e.g. a wider year range."))
        head = {"refine": "Here is an updated list", "feedback": "Updated after your feedback"}.get(intent, "Here are some picks")
        rules = profile.constraints.describe()
        lines = [head + (f" ({'; '.join(rules)})" if rules else "") + ":"]
        for r in recs:
            tag = " [to explore]" if r.exploration else ""
            lines.append(f"{r.rank}. {r.item.label}{tag}" + (f" - {r.reason}" if r.reason else ""))
        return "\n".join(lines)

    def _chitchat_text(self, message: str, session: Session) -> str:
        low = message.lower()
        if re.search(r"\b(thanks?|thank you|thx)\b", low):
            return "You're welcome! Tell me if you want more films, or rate the ones I showed."
        if re.search(r"\b(bye|goodbye|see you)\b", low):
            return "Bye! Your session is saved; come back any time."
        return ("Hi! I recommend films from the catalog. Tell me what you feel like watching, e.g. "
                "\"something tense like Se7en, but not horror, from the 90s\".")

    def _clarify_text(self, vocab: Vocabulary) -> str:
        genres = ", ".join(vocab.genres[:6])
        return (f"Happy to help. What are you in the mood for? For example a genre ({genres}, ...), "
                "an era (the 70s, the 90s, recent), or a film you liked.")

    def _answer(self, ex: Extraction, message: str, shown: list[ItemRef], session: Session) -> str:
        """A question about a shown pick, answered from its facts (:mod:`agent.answers`); the
        session's turns before this message give "it" and the cards' reasons."""
        lookup = partial(self.store.get_items, self.catalog)
        return answer_question(message, shown, session.turns[:-1], session.profile, lookup, ex.refers_to).text


def describe_item(item: Item) -> str:
    """What the catalog says about ``item`` (metadata only, nothing invented)."""
    parts = [f"{item.label}"]
    if item.genres:
        parts.append("Genres: " + ", ".join(item.genres) + ".")
    for key in ("director", "writer", "cast", "country", "language"):
        v = item.extra.get(key)
        if v:
            names = v[:DOCUMENT_CAST] + [f"{len(v) - DOCUMENT_CAST} more"] if key == "cast" and len(v) > DOCUMENT_CAST \
                else v if isinstance(v, list) else [v]
            parts.append(f"{key.capitalize()}: {', '.join(map(str, names))}.")
    if isinstance(item.extra.get("runtime_min"), int):
        parts.append(f"Runtime: {item.extra['runtime_min']} minutes.")
    if item.extra.get("certificate"):
        parts.append(f"Rated {item.extra['certificate']}.")
    if item.extra.get("awards"):
        parts.append(f"Awards: {str(item.extra['awards']).rstrip('.')}.")
    description = item.text or str(item.extra.get("overview") or "")
    if description:
        parts.append(("Overview: " if not item.text else "") + description[:400])
    if len(parts) == 1:
        parts.append("The catalog has no more details about it.")
    return " ".join(parts) + " (from the catalog)"


def _audit(calls: Sequence[Any]) -> list[dict[str, Any]]:
    """The turn's LLM calls as plain dicts, with the full exchange (messages and output) so a
    recommendation's reason can be traced."""
    return [{"kind": c.kind, "backend": c.backend, "model": c.model, "latency_s": round(c.latency_s, 4),
             "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens, "error": c.error,
             "messages": list(c.messages), "output": c.output} for c in calls]
