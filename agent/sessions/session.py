"""One conversation's state: turns, interest profile, shown lists, feedback, exploration stats.

A :class:`Session` is a plain value: nothing in it is shared with another session. It
round-trips through JSON (:meth:`Session.to_dict` / :meth:`Session.from_dict`), which is what
:mod:`agent.sessions.store` persists.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from agent.types import Feedback, Turn


@dataclass
class Session:
    """Per-conversation state. ``history`` holds catalog item ids (oldest first) from a known
    user (``ml_user``); ``shown`` is one list of item ids per recommending turn (newest last);
    ``explored`` the item ids offered in the exploration slot; times are Unix seconds."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    user_id: str | None = None
    ml_user: str | None = None
    catalog: str = ""
    turns: list[Turn] = field(default_factory=list)
    profile: Any = None  # agent.understanding.profile.InterestProfile
    history: list[str] = field(default_factory=list)
    shown: list[list[str]] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    feedback: list[Feedback] = field(default_factory=list)
    exploration: Any = None  # agent.ranking.exploration.ExplorationStats
    explored: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (what the session store writes and ``export`` shows)."""
        from agent.ranking.exploration import ExplorationStats
        from agent.understanding.profile import InterestProfile

        profile = self.profile if self.profile is not None else InterestProfile()
        stats = self.exploration if self.exploration is not None else ExplorationStats()
        return {
            "id": self.id, "user_id": self.user_id, "ml_user": self.ml_user, "catalog": self.catalog,
            "turns": [{"role": t.role, "text": t.text} for t in self.turns],
            "profile": profile.to_dict(), "history": list(self.history), "shown": [list(s) for s in self.shown],
            "titles": dict(self.titles),
            "feedback": [{"item_id": f.item_id, "kind": f.kind, "title": f.title} for f in self.feedback],
            "exploration": stats.to_dict(), "explored": list(self.explored),
            "created_at": self.created_at, "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Session":
        from agent.ranking.exploration import ExplorationStats
        from agent.understanding.profile import InterestProfile

        return cls(
            id=data["id"], user_id=data.get("user_id"), ml_user=data.get("ml_user"), catalog=data.get("catalog", ""),
            turns=[Turn(t["role"], t["text"]) for t in data.get("turns", [])],
            profile=InterestProfile.from_dict(data.get("profile")), history=list(data.get("history", [])),
            shown=[list(s) for s in data.get("shown", [])], titles=dict(data.get("titles", {})),
            feedback=[Feedback(f["item_id"], f["kind"], f.get("title", "")) for f in data.get("feedback", [])],
            exploration=ExplorationStats.from_dict(data.get("exploration")), explored=list(data.get("explored", [])),
            created_at=float(data.get("created_at", time.time())), updated_at=float(data.get("updated_at", time.time())),
        )

    def last_shown(self) -> list[str]:
        """Item ids of the most recent list (empty before the first recommendation)."""
        return list(self.shown[-1]) if self.shown else []

    def excluded(self) -> set[str]:
        """Items never to show again: rejected ("not this"), disliked or already seen."""
        return {f.item_id for f in self.feedback if f.kind in ("not_this", "dislike", "seen")}
