"""Session backend for any SQLAlchemy database (PostgreSQL for UI replicas sharing sessions).

Optional: needs the ``server`` extra (``pip install 'recchat[server]'``: SQLAlchemy 2 + psycopg 3);
imported lazily by :class:`agent.sessions.store.SessionStore` only for non-embedded URLs. A bare
``postgresql://`` / ``postgres://`` URL uses psycopg 3 (SQLAlchemy's own default would be psycopg2).
The table is the embedded backend's (``sessions``), created if missing (safe when several replicas
start at once). A connection pool with pre-ping survives a database restart between turns.
"""

from __future__ import annotations

from typing import Any

INSTALL_HINT = "pip install 'recchat[server]'  (SQLAlchemy + psycopg 3; other databases also need their driver)"


def _import_sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError as exc:
        raise ImportError(f"a server session database needs SQLAlchemy: {INSTALL_HINT}") from exc
    return sqlalchemy


def normalise_url(url: str) -> str:
    """``postgres(ql)://`` -> ``postgresql+psycopg://`` (the driver the ``server`` extra installs);
    every other URL, including one naming its driver, is kept."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare):]
    return url


class SqlAlchemyBackend:
    """``sessions`` table through a SQLAlchemy engine (thread-safe pool; one transaction per call)."""

    def __init__(self, url: str) -> None:
        sa = _import_sqlalchemy()
        from sqlalchemy import exc as sa_exc

        self._sa = sa
        self.write_errors: tuple[type[BaseException], ...] = (sa_exc.SQLAlchemyError, OSError)
        try:
            parsed = sa.engine.make_url(normalise_url(url))
        except sa_exc.ArgumentError as exc:
            raise ValueError(f"not a database URL: {url!r} ({exc})") from None
        # pre-ping: a pooled connection is checked before use, so a database restart costs one
        # failed save at most; hide_parameters: errors and logs never carry session data
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
        if parsed.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": 30.0}
            if parsed.database and parsed.database != ":memory:":
                from pathlib import Path

                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(parsed, **kwargs)
        except (ImportError, sa_exc.NoSuchModuleError) as exc:
            raise ImportError(f"no driver for session database {parsed.render_as_string(hide_password=True)!r} "
                              f"({exc}): {INSTALL_HINT}") from exc
        self.table = self._define_table(sa)
        self._create_table()

    @staticmethod
    def _define_table(sa: Any) -> Any:
        from sqlalchemy.dialects import mysql

        meta = sa.MetaData()
        return sa.Table(
            "sessions", meta,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("user_id", sa.String(255), nullable=True),
            sa.Column("catalog", sa.String(255)),
            sa.Column("created_at", sa.Double(), nullable=False),
            sa.Column("updated_at", sa.Double(), nullable=False),
            sa.Column("turns", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("data", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
            sa.Index("sessions_user", "user_id", "updated_at"),
        )

    def _create_table(self) -> None:
        """CREATE TABLE/INDEX if missing; a replica losing the creation race just re-checks."""
        from sqlalchemy import exc as sa_exc

        try:
            self.table.metadata.create_all(self.engine, checkfirst=True)
        except (sa_exc.IntegrityError, sa_exc.ProgrammingError, sa_exc.OperationalError):
            if not self._sa.inspect(self.engine).has_table("sessions"):
                raise
            self.table.metadata.create_all(self.engine, checkfirst=True)

    def _upsert(self, values: dict[str, Any]) -> Any:
        """A one-statement insert-or-update where the dialect has one, else None."""
        name = self.engine.dialect.name
        changed = {k: v for k, v in values.items() if k not in ("id", "created_at")}
        if name in ("postgresql", "sqlite"):
            module = __import__(f"sqlalchemy.dialects.{name}", fromlist=["insert"])
            return module.insert(self.table).values(**values).on_conflict_do_update(index_elements=["id"], set_=changed)
        if name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert

            return insert(self.table).values(**values).on_duplicate_key_update(**changed)
        return None

    def write(self, row: tuple[Any, ...]) -> None:
        values = dict(zip(("id", "user_id", "catalog", "created_at", "updated_at", "turns", "data"), row))
        statement = self._upsert(values)
        with self.engine.begin() as db:  # one transaction: committed whole or rolled back
            if statement is not None:
                db.execute(statement)
                return
            t = self.table
            changed = {k: v for k, v in values.items() if k not in ("id", "created_at")}
            if db.execute(t.update().where(t.c.id == values["id"]).values(**changed)).rowcount == 0:
                db.execute(t.insert().values(**values))

    def read(self, session_id: str) -> str | None:
        t = self.table
        with self.engine.connect() as db:
            return db.execute(self._sa.select(t.c.data).where(t.c.id == session_id)).scalar_one_or_none()

    def rows(self, user_id: str | None, limit: int) -> list[tuple[Any, ...]]:
        t = self.table
        query = self._sa.select(t.c.id, t.c.user_id, t.c.catalog, t.c.created_at, t.c.updated_at, t.c.turns)
        if user_id is not None:
            query = query.where(t.c.user_id == user_id)
        query = query.order_by(t.c.updated_at.desc()).limit(limit)
        with self.engine.connect() as db:
            return [tuple(r) for r in db.execute(query).all()]

    def remove(self, session_id: str) -> bool:
        t = self.table
        with self.engine.begin() as db:
            return db.execute(t.delete().where(t.c.id == session_id)).rowcount > 0

    def where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()
