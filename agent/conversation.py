"""The chat agent: THE API the UI and the CLI use.

One :class:`ChatAgent` per process (it holds the shared, stateless components: store, retriever,
pipeline, engine); one :class:`agent.session.Session` per conversation (all per-person state).
Sessions never share mutable state; every call that changes a session persists it.

A turn (:meth:`ChatAgent.respond`): understand the message (LLM JSON extraction validated
against the catalog, rule-based fallback) -> update the profile -> decide (recommend / refine /
question / clarify / chit-chat) -> for recommend/refine: pipeline (retrieve -> rerank -> explain)
with the profile's hard constraints as filters and rejected/seen items excluded, plus one
exploration slot -> reply. Never raises on LLM failure: the reply degrades and says so in
``notices``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.session import Session
from agent.types import FeedbackKind, Recommendation

Intent = Literal["recommend", "refine", "question", "clarify", "chitchat", "feedback", "profile"]


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


class ChatAgent:
    """Conversational recommender over one :class:`ui.wiring.Stack` (store, retriever, pipeline,
    engine or None) and :class:`agent.settings.AgentSettings`.

    ``sessions`` is a :class:`agent.session_store.SessionStore` (default: SQLite at
    ``<recchat_home()>/sessions.db``). Thread-safe across sessions; one session must not be
    used by two threads at once.
    """

    def __init__(self, stack: Any, settings: Any = None, sessions: Any = None) -> None:
        raise NotImplementedError

    def new_session(self, user_id: str | None = None, ml_user: str | None = None) -> Session:
        """A fresh, persisted session; ``ml_user`` seeds its history with a MovieLens user's items."""
        raise NotImplementedError

    def load_session(self, session_id: str) -> Session:
        """Resume a persisted session (KeyError when unknown)."""
        raise NotImplementedError

    def respond(self, session: Session, message: str, on_ranked: OnRanked | None = None) -> AgentReply:
        """Answer one user message (see module doc); persists the session before returning."""
        raise NotImplementedError

    def feedback(self, session: Session, item_id: str, kind: FeedbackKind, rerank: bool = False) -> AgentReply | None:
        """Record like / dislike / not_this / seen on a shown item; updates the profile at once.
        With ``rerank=True`` returns a fresh list reflecting it, else None."""
        raise NotImplementedError

    def profile_summary(self, session: Session) -> str:
        """"What I think you like", in plain words."""
        raise NotImplementedError

    def update_profile(self, session: Session, edits: dict[str, Any]) -> None:
        """Apply the person's corrections (same keys as ``session.profile.to_form()``), validated
        against the catalog; persists."""
        raise NotImplementedError

    def reset(self, session: Session) -> None:
        """Forget conversation, profile, shown items and feedback (keeps id and ML history)."""
        raise NotImplementedError
