"""A conversation's saved state (:mod:`agent.sessions.session`) and where it is kept: embedded
SQLite by default or any SQLAlchemy database (:mod:`agent.sessions.store`,
:mod:`agent.sessions.store_sqlalchemy`).

May import: every other agent room, :mod:`agent.settings`, :mod:`agent.types`, ``retrieval``,
``prompts``.
"""
