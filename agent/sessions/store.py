"""Persistent sessions behind one URL: embedded SQLite by default, any SQLAlchemy database to share.

``url`` picks the backend:

- ``None`` (``<recchat_home()>/sessions.db``), ``sqlite:///ABS/PATH`` or a plain path: the embedded
  default, stdlib ``sqlite3`` (no extra dependency). Each call opens its own connection (rollback
  journal, 30 s busy timeout), so one store is safe to share across threads and processes on one
  machine.
- any other SQLAlchemy URL (``postgresql://user:pw@host/db``, ``mysql+pymysql://...``,
  ``sqlite+pysqlite:///PATH``): :mod:`agent.sessions.store_sqlalchemy`, so several UI replicas on
  several machines share one session database. Needs the ``server`` extra
  (``pip install 'recchat[server]'``: SQLAlchemy + psycopg 3); a bare ``postgresql://`` uses psycopg 3.

Both backends have the same semantics: a session is written whole, in one transaction, after every
turn; a failed save raises :class:`SessionSaveError` and leaves the previous complete copy.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.sessions.session import Session

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

#: Row written per session: (id, user_id, catalog, created_at, updated_at, turns, data JSON).
Row = tuple[str, "str | None", str, float, float, int, str]


@dataclass(frozen=True)
class SessionInfo:
    """One row of :meth:`SessionStore.list` (times in Unix seconds)."""

    id: str
    user_id: str | None
    catalog: str
    created_at: float
    updated_at: float
    turns: int


class SessionSaveError(OSError):
    """A session could not be written (disk full, read-only file, database down, locked too long).
    The stored copy is the previous complete one: a save is one transaction, never half written."""


def is_embedded_url(url: str | None) -> bool:
    """True when ``url`` selects the embedded stdlib-SQLite backend (see module doc)."""
    return url is None or url.startswith("sqlite:///") or "://" not in url


def resolve_db_path(url: str | None) -> Path:
    """The SQLite file of an embedded ``url``; ValueError for a server URL."""
    if url is None:
        from retrieval.config import recchat_home

        return Path(recchat_home()) / "sessions.db"
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    if "://" in url:
        raise ValueError(f"{url!r} is a server database URL, not an embedded SQLite path")
    return Path(url).expanduser()


class SessionBackend(Protocol):
    """What a storage backend provides; :class:`SessionStore` adds (de)serialisation and errors."""

    #: exceptions of a failed write, turned into :class:`SessionSaveError`
    write_errors: tuple[type[BaseException], ...]

    def write(self, row: Row) -> None:
        """Insert or replace one session row in one transaction."""

    def read(self, session_id: str) -> str | None:
        """The stored JSON of a session, or None."""

    def rows(self, user_id: str | None, limit: int) -> list[tuple[Any, ...]]:
        """(id, user_id, catalog, created_at, updated_at, turns), newest update first."""

    def remove(self, session_id: str) -> bool:
        """Delete a session; True when it existed."""

    def where(self) -> str:
        """The database, for messages (no password)."""

    def close(self) -> None:
        """Release pooled connections."""


class SqliteBackend:
    """Embedded SQLite through the stdlib (a connection per call)."""

    write_errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __init__(self, path: Path) -> None:
        self.path = path
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

    def write(self, row: Row) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO sessions(id, user_id, catalog, created_at, updated_at, turns, data) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET user_id=excluded.user_id, catalog=excluded.catalog, "
                "updated_at=excluded.updated_at, turns=excluded.turns, data=excluded.data",
                row,
            )

    def read(self, session_id: str) -> str | None:
        with self._connect() as db:
            found = db.execute("SELECT data FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return None if found is None else found[0]

    def rows(self, user_id: str | None, limit: int) -> list[tuple[Any, ...]]:
        sql = "SELECT id, user_id, catalog, created_at, updated_at, turns FROM sessions"
        args: tuple[Any, ...] = ()
        if user_id is not None:
            sql += " WHERE user_id = ?"
            args = (user_id,)
        sql += " ORDER BY updated_at DESC LIMIT ?"
        with self._connect() as db:
            return db.execute(sql, args + (limit,)).fetchall()

    def remove(self, session_id: str) -> bool:
        with self._connect() as db:
            return db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

    def where(self) -> str:
        return str(self.path)

    def close(self) -> None:
        """Nothing pooled."""


class SessionStore:
    """Save / load / list / export / delete sessions (``url``: see the module doc)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        #: the SQLite file of the embedded backend; None for a server database
        self.path: Path | None = None
        self.backend: SessionBackend
        if is_embedded_url(url):
            self.path = resolve_db_path(url)
            self.backend = SqliteBackend(self.path)
        else:
            from agent.sessions.store_sqlalchemy import SqlAlchemyBackend

            self.backend = SqlAlchemyBackend(url)

    def where(self) -> str:
        """The database, for messages (a server URL without its password)."""
        return self.backend.where()

    def save(self, session: Session) -> None:
        """Insert or replace ``session`` (stamps ``updated_at``) in one transaction; raises
        :class:`SessionSaveError` when the database cannot be written."""
        session.updated_at = time.time()
        # ASCII JSON: lone surrogates or other unencodable text round-trip as \\uXXXX escapes
        data = json.dumps(session.to_dict(), ensure_ascii=True)
        row: Row = (session.id, session.user_id, session.catalog, session.created_at, session.updated_at,
                    len(session.turns), data)
        try:
            self.backend.write(row)
        except self.backend.write_errors as exc:
            # the driver's own error (SQLAlchemy's wrapper would add the SQL text); never the data
            cause = getattr(exc, "orig", None) or exc
            raise SessionSaveError(f"could not save session {session.id} to {self.where()}: {cause} "
                                   "(disk full, read-only or database down?); the last saved copy is unchanged") from cause

    def load(self, session_id: str) -> Session:
        """The stored session (a fresh object); KeyError when unknown."""
        data = self.backend.read(session_id)
        if data is None:
            raise KeyError(f"no session {session_id!r} in {self.where()}")
        return Session.from_dict(json.loads(data))

    def list(self, user_id: str | None = None, limit: int = 100) -> list[SessionInfo]:
        """Sessions, most recently updated first (optionally one user's)."""
        return [SessionInfo(*r) for r in self.backend.rows(user_id, limit)]

    def export(self, session_id: str) -> str:
        """The session as pretty JSON (everything stored about it)."""
        text = json.dumps(self.load(session_id).to_dict(), ensure_ascii=False, indent=2)
        return text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"

    def delete(self, session_id: str) -> bool:
        """Delete a session; True when it existed."""
        return self.backend.remove(session_id)

    def close(self) -> None:
        """Release pooled connections (server databases); the store must not be used afterwards."""
        self.backend.close()
