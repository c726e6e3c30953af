"""Faults: the LLM server hangs, answers garbage/empty, dies mid-turn, is down and restarts; the
Chroma directory is missing, read-only or built by another embedder; the disk fills while a
session is saved. Each turn answers (retrieval order + notice) or fails with a clear message, and
no stored session is lost or corrupted."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from agent.reasons.evidence import REASONS_NOTICE
from agent.ranking.rerank import DEGRADED_NOTICE
from tests.reliability.faults import FaultyLLM

QUERY = "a tense crime thriller from the 90s"


def http_engine(url: str, smollm2_dir: Path, timeout_s: float = 1.0):
    from agent.llm.http_engine import HttpEngine

    return HttpEngine(url, model="smollm2", timeout_s=timeout_s, retries=0, tokenizer_path=smollm2_dir)


def stored_ok(agent, session) -> None:
    """The stored copy equals the in-memory session and the database is intact."""
    again = agent.load_session(session.id)
    assert [(t.role, t.text) for t in again.turns] == [(t.role, t.text) for t in session.turns]
    with sqlite3.connect(agent.sessions.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ------------------------------------------------------------------ LLM server faults
@pytest.mark.parametrize("mode", ["hang", "garbage", "empty", "empty_body", "drop", "http500"])
def test_broken_llm_turn_answers_in_retrieval_order(make_agent, smollm2_dir, mode) -> None:
    with FaultyLLM(mode) as llm:
        engine = http_engine(llm.url, smollm2_dir)
        agent = make_agent(engine, llm_rerank=True, llm_reasons=True)
        session = agent.new_session()
        t0 = time.perf_counter()
        reply = agent.respond(session, QUERY)
        elapsed = time.perf_counter() - t0
        assert reply.recommendations, "the turn answers from retrieval"
        assert DEGRADED_NOTICE in reply.notices and any(REASONS_NOTICE in n for n in reply.notices)
        assert all(r.reason and r.reason_source == "data" for r in reply.recommendations)  # every pick still explained
        assert elapsed < 15, f"a {mode} server must not stall the turn ({elapsed:.1f} s)"
        assert llm.requests >= 1
        stored_ok(agent, session)
        engine.close()


def test_llm_down_then_restarted_recovers_without_restarting_recchat(make_agent, smollm2_dir, vllm_server) -> None:
    """A proxy in front of the real vLLM server: killed mid-turn (after the ranking), down for a
    turn, restarted on the same port; the same agent uses the LLM again."""
    with FaultyLLM("proxy", upstream=vllm_server.url) as llm:  # type: ignore[attr-defined]
        engine = http_engine(llm.url, smollm2_dir, timeout_s=120)
        agent = make_agent(engine, explain_max_tokens=120, understand_with_llm=False, llm_rerank=True, llm_reasons=True)
        session = agent.new_session()

        def kill_after_ranking(recs) -> None:
            llm.mode = "drop"  # the explanation request hits a dead server

        mid = agent.respond(session, QUERY, on_ranked=kill_after_ranking)
        assert mid.recommendations and DEGRADED_NOTICE not in mid.notices, "the ranking ran on the live server"
        assert any(REASONS_NOTICE in n for n in mid.notices)
        assert all(r.reason and r.reason_source == "data" for r in mid.recommendations)  # the data sentences
        llm.stop()
        down = agent.respond(session, "something with a heist")
        assert down.recommendations and DEGRADED_NOTICE in down.notices
        llm.mode = "proxy"
        llm.start()
        back = agent.respond(session, "recommend a crime film with a detective")
        assert back.recommendations and DEGRADED_NOTICE not in back.notices
        assert any(c["kind"] == "score_choices" and not c["error"] for c in back.llm_calls)
        stored_ok(agent, session)
        assert len(agent.load_session(session.id).turns) == 6
        engine.close()


# ------------------------------------------------------------------ Chroma faults
def test_missing_chroma_dir_is_a_clear_error(embedder, tmp_path) -> None:
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore, IndexMissingError
    from agent.app import open_app
    from agent.settings import AgentSettings

    gone = tmp_path / "no-such-chroma"
    store = ChromaStore(RetrievalSettings(chroma_path=str(gone)), embedder)
    with pytest.raises(IndexMissingError, match=r"no index for catalog 'ml100k' in .*no-such-chroma: run `recchat index"):
        store.active("ml100k")
    with pytest.raises(IndexMissingError, match="recchat index"):
        open_app(RetrievalSettings(chroma_path=str(tmp_path / "other"), catalog="ml100k"), AgentSettings(), use_llm=False)


class _OtherEmbedder:
    model_id = "old-embedder-v0"
    dim = 384

    def encode(self, texts, batch_size: int = 64, progress: bool = False, kind="query"):  # pragma: no cover - never reached
        raise AssertionError("a mismatched index must be refused before encoding")


def test_index_from_another_embedder_is_refused_clearly(ml100k_store, chroma_dir, make_agent) -> None:
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore, IndexMismatchError

    other = ChromaStore(RetrievalSettings(chroma_path=str(chroma_dir)), _OtherEmbedder())
    with pytest.raises(IndexMismatchError, match=r"(?i)built with embedder .*minilm.*old-embedder-v0.*--rebuild"):
        other.active("ml100k")
    # the running agent is never served vectors of two models: its turn fails clearly, data kept
    agent = make_agent()
    session = agent.new_session()
    agent.respond(session, QUERY)
    agent.store = agent.retriever.store = other
    agent._vocab = None
    with pytest.raises(IndexMismatchError):
        agent.respond(session, "more like that")
    assert len(agent.load_session(session.id).turns) == 2


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not _can_mount(), reason="needs root to bind-mount read-only / mount a tmpfs")
def test_read_only_chroma_dir_still_serves(ml100k_store, chroma_dir, embedder, tmp_path, make_agent) -> None:
    from retrieval.retriever import Retriever
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    copy = tmp_path / "chroma-ro"
    shutil.copytree(chroma_dir, copy)
    if subprocess.run(["mount", "--bind", str(copy), str(copy)]).returncode:
        pytest.skip("bind mount not permitted")
    try:
        assert subprocess.run(["mount", "-o", "remount,bind,ro", str(copy)]).returncode == 0
        with pytest.raises(OSError):
            (copy / "probe").write_text("x")
        store = ChromaStore(RetrievalSettings(chroma_path=str(copy)), embedder)
        try:
            hits = Retriever(store, "ml100k").retrieve(QUERY, k=5)
        except Exception as exc:  # noqa: BLE001 - a failure must at least say what and where
            assert "read" in str(exc).lower() or "permission" in str(exc).lower(), exc
        else:
            assert len(hits) == 5
    finally:
        subprocess.run(["umount", str(copy)])


# ------------------------------------------------------------------ disk full while saving
def test_disk_full_simulated_at_sqlite_layer(make_agent, monkeypatch) -> None:
    """SQLITE_FULL from the real engine: each connection capped at the pages the file has."""
    agent = make_agent()
    session = agent.new_session()
    agent.respond(session, QUERY)
    before = agent.load_session(session.id).to_dict()
    real_connect = sqlite3.connect

    def full_connect(*args, **kwargs):
        db = real_connect(*args, **kwargs)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    monkeypatch.setattr(sqlite3, "connect", full_connect)
    reply = agent.respond(session, "something with a heist " + "and a long story " * 400)
    assert reply.recommendations and any("Could not save this conversation" in n for n in reply.notices)
    assert any("full" in n for n in reply.notices)
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    assert agent.load_session(session.id).to_dict() == before, "the stored copy is the last complete one"
    agent.respond(session, "a detective story")  # space again: the next save catches up
    stored_ok(agent, session)
    assert len(agent.load_session(session.id).turns) == 6


@pytest.mark.skipif(not _can_mount(), reason="needs root to mount a tmpfs")
def test_disk_full_on_a_tiny_tmpfs(ml100k_store, tmp_path) -> None:
    from tests.ui.conftest import build_agent

    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("tmpfs mount not permitted")
    try:
        agent = build_agent(ml100k_store, mnt)
        session = agent.new_session()
        agent.respond(session, QUERY)
        saved = agent.load_session(session.id).to_dict()
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # fill the disk to the last byte
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        reply = agent.respond(session, "something with a heist " + "long words " * 1500)
        assert reply.recommendations
        assert any("Could not save this conversation" in n for n in reply.notices), reply.notices
        assert agent.load_session(session.id).to_dict() == saved
        filler.unlink()
        agent.respond(session, "a detective story")
        stored_ok(agent, session)
        assert len(agent.load_session(session.id).turns) == 6
    finally:
        subprocess.run(["umount", "-l", str(mnt)])
