"""Persistent sessions: SQLite (stdlib ``sqlite3``) with JSON columns.

``url`` is ``None`` (``<recchat_home()>/sessions.db``), ``sqlite:///ABS/PATH`` or a plain path;
other schemes (a server database later) raise ``ValueError`` naming what is supported. Each call
opens its own connection (rollback journal, 30 s busy timeout), so one store is safe to share across threads
and processes; a session is written whole, atomically, after every turn.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.session import Session

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    catalog TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id, updated_at);
"""


@dataclass(frozen=True)
class SessionInfo:
    """One row of :meth:`SessionStore.list` (times in Unix seconds)."""

    id: str
    user_id: str | None
    catalog: str
    created_at: float
    updated_at: float
    turns: int


def resolve_db_path(url: str | None) -> Path:
    """The SQLite file for ``url`` (see module doc)."""
    if url is None:
        from retrieval.config import recchat_home

        return Path(recchat_home()) / "sessions.db"
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    if "://" in url:
        raise ValueError(f"unsupported session database URL {url!r}: use sqlite:///PATH (server databases are not supported yet)")
    return Path(url).expanduser()


class SessionSaveError(OSError):
    """A session could not be written (disk full, read-only file, locked too long). The stored
    copy is the previous complete one: a save is one transaction, never half written."""


class SessionStore:
    """Save / load / list / export / delete sessions."""

    def __init__(self, url: str | None = None) -> None:
        self.path = resolve_db_path(url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0)
        try:
            # rollback journal, not WAL: a WAL database cannot even be READ on a full disk (its -shm
            # file must be created), so sessions could not be resumed; writes stay atomic either way
            db.execute("PRAGMA journal_mode=DELETE")
            with db:
                yield db
        finally:
            db.close()

    def save(self, session: Session) -> None:
        """Insert or replace ``session`` (stamps ``updated_at``) in one transaction; raises
        :class:`SessionSaveError` when the database cannot be written."""
        session.updated_at = time.time()
        # ASCII JSON: lone surrogates or other unencodable text round-trip as \\uXXXX escapes
        data = json.dumps(session.to_dict(), ensure_ascii=True)
        try:
            self._write(session, data)
        except (sqlite3.Error, OSError) as exc:
            raise SessionSaveError(f"could not save session {session.id} to {self.path}: {exc} "
                                   "(disk full or read-only?); the last saved copy is unchanged") from exc

    def _write(self, session: Session, data: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO sessions(id, user_id, catalog, created_at, updated_at, turns, data) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET user_id=excluded.user_id, catalog=excluded.catalog, "
                "updated_at=excluded.updated_at, turns=excluded.turns, data=excluded.data",
                (session.id, session.user_id, session.catalog, session.created_at, session.updated_at,
                 len(session.turns), data),
            )

    def load(self, session_id: str) -> Session:
        """The stored session (a fresh object); KeyError when unknown."""
        with self._connect() as db:
            row = db.execute("SELECT data FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise KeyError(f"no session {session_id!r} in {self.path}")
        return Session.from_dict(json.loads(row[0]))

    def list(self, user_id: str | None = None, limit: int = 100) -> list[SessionInfo]:
        """Sessions, most recently updated first (optionally one user's)."""
        sql = "SELECT id, user_id, catalog, created_at, updated_at, turns FROM sessions"
        args: tuple[Any, ...] = ()
        if user_id is not None:
            sql += " WHERE user_id = ?"
            args = (user_id,)
        sql += " ORDER BY updated_at DESC LIMIT ?"
        with self._connect() as db:
            return [SessionInfo(*r) for r in db.execute(sql, args + (limit,)).fetchall()]

    def export(self, session_id: str) -> str:
        """The session as pretty JSON (everything stored about it)."""
        text = json.dumps(self.load(session_id).to_dict(), ensure_ascii=False, indent=2)
        return text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"

    def delete(self, session_id: str) -> bool:
        """Delete a session; True when it existed."""
        with self._connect() as db:
            return db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0
