"""One non-interactive turn (``recchat recommend``): the chat's own understanding path in a fresh,
throw-away session, so a request reads the same in ``recchat recommend``, ``recchat chat`` and
the web chat. Filters passed in (the CLI's ``--year-min``/``--genre``/... flags) are added to
what the message says; the evaluation's ``recommend-*`` paths call this same function.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.app import App
from agent.conversation import AgentReply, ChatAgent
from retrieval.retriever import Filters


def recommend_once(app: App, message: str, *, history: Sequence[str] = (), k: int = 5,
                   filters: Filters | None = None) -> AgentReply:
    """Understand ``message`` -> candidates -> rank -> explain, as one chat turn of a fresh session
    seeded with ``history`` (catalog ids, oldest first) and ``filters``; ``k`` picks (an
    exploration pick included when it is offered). The session is deleted afterwards."""
    agent = ChatAgent(app)
    session = agent.new_session(user_id="recchat-recommend", history=list(history))
    try:
        if filters is not None:
            c = session.profile.constraints
            c.year_min, c.year_max = filters.year_min, filters.year_max
            c.genres, c.exclude_genres = list(filters.genres), list(filters.exclude_genres)
            c.fields = dict(filters.fields)
        return agent.respond(session, message, k=k)
    finally:
        agent.sessions.delete(session.id)
