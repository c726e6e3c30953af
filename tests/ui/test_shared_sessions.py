"""Two UI replicas sharing one session database (the deployment guide's set-up, minus the load
balancer): a conversation started on replica A resumes on replica B from its link (?session=ID),
and goes on there. Real PostgreSQL (throwaway cluster) when its binaries are installed
(`make postgres`), else SQLite through SQLAlchemy."""

from __future__ import annotations

import dataclasses

import pytest

from tests.agent.sessions.test_store import PgCluster, _pg_bindir


@pytest.fixture(scope="module")
def shared_url(tmp_path_factory):
    pytest.importorskip("sqlalchemy", reason="the server extra is not installed: pip install 'recchat[server]'")
    bindir = _pg_bindir()
    if bindir is None:
        yield f"sqlite+pysqlite:///{tmp_path_factory.mktemp('shared')}/sessions.db"
        return
    cluster = PgCluster(bindir)
    cluster.start()
    try:
        yield cluster.new_database()
    finally:
        cluster.stop()


def test_conversation_moves_between_replicas(make_agent, shared_url):
    from agent.conversation import ChatAgent
    from agent.sessions.store import SessionStore
    from ui.web import ChatUI

    def replica() -> ChatUI:
        base = make_agent()  # each replica: its own agent and its own connection pool
        return ChatUI(ChatAgent(dataclasses.replace(base.app, sessions=SessionStore(shared_url))))

    a, b = replica(), replica()
    state = a.open()
    list(a.send(state, "a funny animated movie for kids"))
    shown_on_a = [c.rec.item.id for c in state.cards]
    assert shown_on_a and not state.notices, state.notices

    resumed = b.open(state.session.id)  # the link opened on another replica
    assert not any("not found" in n for n in resumed.notices), resumed.notices
    assert [m["role"] for m in resumed.chat] == ["user", "assistant"]
    assert [c.rec.item.id for c in resumed.cards] == shown_on_a
    list(b.send(resumed, "something older"))
    assert not any("Could not save" in n for n in resumed.notices), resumed.notices

    again = a.agent.load_session(state.session.id)  # replica A sees what B wrote
    assert [t.text for t in again.turns if t.role == "user"] == ["a funny animated movie for kids", "something older"]
    for ui in (a, b):
        ui.agent.sessions.close()
