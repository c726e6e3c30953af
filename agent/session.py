"""One conversation's state: turns, interest profile, shown lists, feedback, exploration stats.

A :class:`Session` is a plain value: nothing in it is shared with another session. It
round-trips through JSON (:meth:`Session.to_dict` / :meth:`Session.from_dict`), which is what
:mod:`agent.session_store` persists.
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
    profile: Any = None  # agent.profile.InterestProfile
    history: list[str] = field(default_factory=list)
    shown: list[list[str]] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    feedback: list[Feedback] = field(default_factory=list)
    exploration: Any = None  # agent.exploration.ExplorationStats
    explored: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
