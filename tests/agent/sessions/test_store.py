"""Session store: the same behaviour on every backend - embedded SQLite (stdlib), SQLite through
SQLAlchemy, and a real PostgreSQL server (a throwaway cluster started with initdb/pg_ctl; the
`postgres` make target installs Debian's postgresql)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from agent.understanding.profile import InterestProfile, ItemRef
from agent.sessions.session import Session
from agent.sessions.store import SessionSaveError, SessionStore
from agent.types import Feedback, Turn

BACKENDS = ["sqlite", "sqlalchemy-sqlite", "postgresql"]


# ------------------------------------------------------------------ a throwaway PostgreSQL cluster
def _pg_bindir() -> Path | None:
    found = shutil.which("initdb")
    candidates = ([found] if found else []) + sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    for initdb in candidates:
        bindir = Path(initdb).resolve().parent
        if (bindir / "pg_ctl").exists():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """initdb + pg_ctl on loopback, trust auth, as the 'postgres' user when run as root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="recchat-pg-"))
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.dir, user)
            self.prefix = ["runuser", "-u", user, "--"]
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "recchat", "-A", "trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        cmd = self.prefix + [str(self.bindir / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", opts, "-l", str(self.dir / "log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://recchat:secret-pw@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import sqlalchemy as sa

        name = "t_" + uuid.uuid4().hex[:10]
        engine = sa.create_engine(self.url().replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with engine.connect() as db:
            db.execute(sa.text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return self.url(name)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def pg_cluster():
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found: run `make postgres` (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the server extra is not installed: pip install 'recchat[server]'")
    cluster = PgCluster(bindir)
    cluster.start()
    yield cluster
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.dir, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    if request.param == "sqlalchemy-sqlite":
        pytest.importorskip("sqlalchemy", reason="the server extra is not installed: pip install 'recchat[server]'")
        return f"sqlite+pysqlite:///{tmp_path}/s.db"
    return request.getfixturevalue("pg_cluster").new_database()


def _session(user: str = "u1", turns: int = 1) -> Session:
    s = Session(user_id=user, catalog="c", turns=[Turn("user", f"hi {n}") for n in range(turns)],
                profile=InterestProfile(), feedback=[Feedback("x", "not_this")])
    s.profile.like_item(ItemRef("a", "A (1990)"))
    return s


def _pg_execute(url: str, sql: str) -> None:
    """Run one statement on the PostgreSQL database behind ``url`` (psycopg 3 driver)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as db:
        db.execute(sa.text(sql))
    engine.dispose()


def _refuse_big_writes(url: str) -> None:
    """A database-side failure in the middle of a save: any session JSON over 5,000 characters is
    refused by the database itself (a trigger / a CHECK constraint)."""
    if url.startswith("postgresql"):
        _pg_execute(url, "ALTER TABLE sessions ADD CONSTRAINT refuse_big CHECK (length(data) < 5000) NOT VALID")
        return
    path = url.split(":///", 1)[1]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TRIGGER refuse_big BEFORE UPDATE ON sessions WHEN length(NEW.data) > 5000 "
                   "BEGIN SELECT RAISE(ABORT, 'simulated: database full'); END")


def _allow_big_writes(url: str) -> None:
    if url.startswith("postgresql"):
        _pg_execute(url, "ALTER TABLE sessions DROP CONSTRAINT refuse_big")
        return
    with sqlite3.connect(url.split(":///", 1)[1]) as db:
        db.execute("DROP TRIGGER refuse_big")


# ------------------------------------------------------------------ the same behaviour everywhere
def test_roundtrip_list_export_delete(store_url):
    store = SessionStore(store_url)
    s = _session()
    store.save(s)
    again = SessionStore(store_url).load(s.id)  # a second store object: another process / replica
    assert again is not s and again.to_dict() == s.to_dict()
    assert [i.id for i in store.list()] == [s.id] and store.list(user_id="nobody") == []
    assert store.list()[0].turns == 1 and store.list()[0].user_id == "u1"
    assert json.loads(store.export(s.id))["profile"]["liked_items"][0]["item_id"] == "a"
    s.turns.append(Turn("assistant", "hello \ud800 lone surrogate, \x00 NUL"))
    store.save(s)  # an update of the same id, odd text included
    assert len(store.load(s.id).turns) == 2 and store.list()[0].turns == 2
    assert store.delete(s.id) and not store.delete(s.id)
    with pytest.raises(KeyError):
        store.load(s.id)
    store.close()


def test_list_is_newest_first_and_per_user(store_url):
    store = SessionStore(store_url)
    sessions = [_session(user=f"u{n % 2}") for n in range(5)]
    for s in sessions:
        store.save(s)
    store.save(sessions[0])  # touched last -> first
    assert store.list()[0].id == sessions[0].id
    assert {i.id for i in store.list(user_id="u1")} == {sessions[1].id, sessions[3].id}
    assert len(store.list(limit=2)) == 2
    store.close()


def test_failed_save_keeps_the_last_complete_copy(store_url):
    store = SessionStore(store_url)
    s = _session(turns=2)
    store.save(s)
    before = store.load(s.id).to_dict()
    _refuse_big_writes(store_url)
    s.turns.append(Turn("user", "a long story " * 800))
    with pytest.raises(SessionSaveError, match="last saved copy is unchanged") as failed:
        store.save(s)
    shown = f"{failed.value} {failed.value.__cause__}"  # what the chat notice shows
    assert "a long story" not in shown and "[SQL" not in shown and len(shown) < 1000, shown
    assert store.load(s.id).to_dict() == before, "a failed save must not change the stored copy"
    _allow_big_writes(store_url)
    store.save(s)  # space again: the next save holds every turn
    assert len(store.load(s.id).turns) == 3
    store.close()


def test_replicas_share_sessions_under_concurrent_writes(store_url):
    """Two store objects (two UI replicas) on one URL, 4 threads each saving their own sessions."""
    replicas = [SessionStore(store_url), SessionStore(store_url)]
    errors: list[BaseException] = []
    saved: list[Session] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        store = replicas[n % 2]
        s = _session(user=f"w{n}")
        try:
            for t in range(8):
                s.turns.append(Turn("user", f"turn {t} of worker {n}"))
                store.save(s)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        with lock:
            saved.append(s)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    for s in saved:  # every replica sees every session, complete
        for store in replicas:
            assert len(store.load(s.id).turns) == 9
    assert len(replicas[0].list()) == 8
    for store in replicas:
        store.close()


# ------------------------------------------------------------------ URLs and the optional extra
def test_embedded_urls_need_no_sqlalchemy(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # as if the server extra were not installed
    for url in (f"sqlite:///{tmp_path}/a.db", str(tmp_path / "b.db")):
        store = SessionStore(url)
        store.save(_session())
        assert store.path is not None and store.path.exists()


def test_server_url_without_the_extra_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    with pytest.raises(ImportError, match=r"recchat\[server\]"):
        SessionStore("postgresql://db/x")


def test_unknown_database_scheme_names_the_install():
    pytest.importorskip("sqlalchemy")
    with pytest.raises(ImportError, match=r"no driver .*recchat\[server\]"):
        SessionStore("nosuchdb://host/x")


def test_bare_postgresql_url_uses_psycopg3_and_messages_hide_the_password(pg_cluster):
    from agent.sessions.store_sqlalchemy import normalise_url

    assert normalise_url("postgres://u:p@h/d") == "postgresql+psycopg://u:p@h/d"
    assert normalise_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"
    store = SessionStore(pg_cluster.new_database())
    assert "secret-pw" not in store.where() and "***" in store.where()
    store.close()


def test_replicas_creating_the_table_at_once(pg_cluster):
    """Several replicas starting together on an empty database: no CREATE TABLE race error."""
    url = pg_cluster.new_database()
    stores: list[SessionStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            stores.append(SessionStore(url))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    stores[0].save(_session())
    assert len(stores[-1].list()) == 1
    for store in stores:
        store.close()


def test_database_restart_fails_clearly_then_recovers(pg_cluster):
    """PostgreSQL down between turns: the save fails with SessionSaveError (the caller shows a
    notice); after the restart the SAME store writes again (pooled connections are re-checked)."""
    store = SessionStore(pg_cluster.new_database())
    s = _session()
    store.save(s)
    pg_cluster.stop()
    try:
        s.turns.append(Turn("user", "while the database is down"))
        with pytest.raises(SessionSaveError, match="database down"):
            store.save(s)
    finally:
        pg_cluster.start()
    store.save(s)
    assert len(store.load(s.id).turns) == 2
    store.close()
