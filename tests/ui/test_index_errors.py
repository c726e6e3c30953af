"""An index built by another embedder: `recchat chat`, `recchat ui` and the running web UI say which
embedder built it, which is configured, and the exact rebuild command (raised by the real
ChromaStore; only the OLD embedder that built the index is a stand-in)."""

from __future__ import annotations

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from retrieval.items import Item


class _OldEmbedder:
    """The embedder an older index was built with (deterministic vectors, MiniLM's width)."""

    model_id = "old-embedder-v0"
    dim = 384

    def encode(self, texts, batch_size: int = 64, progress: bool = False, kind="query"):
        rng = np.random.default_rng(len(texts))
        vectors = rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def old_index(tmp_path):
    """An embedded Chroma directory whose 'movielens-100k' index was built by ``_OldEmbedder``."""
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    path = tmp_path / "chroma"
    items = [Item(id=str(n), title=f"Film {n}", text="a film", year=1990 + n, genres=("Drama",)) for n in range(5)]
    ChromaStore(RetrievalSettings(chroma_path=str(path)), _OldEmbedder()).index("movielens-100k", items, progress=False)
    return path


def _expect_clear_message(text: str, configured_id: str) -> None:
    flat = " ".join(text.split())
    assert "'old-embedder-v0'" in flat, text
    assert configured_id in flat, text
    assert "recchat index movielens-100k --rebuild --embedder minilm" in flat, text
    assert "RECCHAT_RETRIEVAL_EMBEDDER=old-embedder-v0" in flat, text


@pytest.mark.parametrize("command", ["chat", "ui"])
def test_cli_names_both_embedders_and_the_rebuild_command(command, old_index, embedder, monkeypatch, tmp_path):
    from ui import chat_cli, commands_ui

    monkeypatch.setenv("RECCHAT_RETRIEVAL_CHROMA_PATH", str(old_index))
    monkeypatch.setenv("RECCHAT_RETRIEVAL_CATALOG", "movielens-100k")
    monkeypatch.setenv("RECCHAT_AGENT_SESSIONS_URL", f"sqlite:///{tmp_path}/s.db")
    app = typer.Typer()
    (chat_cli if command == "chat" else commands_ui).register(app)
    app.command("noop")(lambda: None)  # two commands: typer keeps the subcommand name
    res = CliRunner().invoke(app, [command, "--no-llm"], input="a comedy\n/quit\n")
    assert res.exit_code == 1, res.output
    _expect_clear_message(res.output, embedder.model_id)


def test_web_turn_shows_the_message_when_the_index_is_swapped(old_index, make_agent, embedder):
    """The UI was started on a good index; then the index is switched to one built by another
    embedder: the turn shows the mismatch message, not 'something went wrong'."""
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore
    from ui.web import ChatUI

    agent = make_agent()
    swapped = ChromaStore(RetrievalSettings(chroma_path=str(old_index), catalog="movielens-100k"), embedder)
    agent.store = agent.retriever.store = swapped
    agent.retriever.catalog = agent.catalog = "movielens-100k"
    agent._vocab = None
    ui = ChatUI(agent)
    state = ui.open()
    *_, last = list(ui.send(state, "a funny animated movie for kids"))
    assert not last.busy
    assert not any("something went wrong" in n for n in last.notices), last.notices
    _expect_clear_message(" ".join(last.notices), embedder.model_id)


def test_message_for_a_custom_catalog_on_a_chroma_server():
    from retrieval.settings import RetrievalSettings
    from retrieval.store import IndexMismatchError
    from ui.index_errors import index_error_message

    exc = IndexMismatchError("index 'books' was built with embedder 'a/b', but the configured embedder is 'c/d'; ...")
    text = index_error_message(exc, RetrievalSettings(catalog="books", embedder="mpnet", chroma_url="http://db:8000"))
    assert "'a/b'" in text and "'c/d' (embedder = 'mpnet')" in text
    assert "recchat index <your catalog file> --name books --rebuild --embedder mpnet --chroma-url http://db:8000" in text
    assert index_error_message(ValueError("plain"), RetrievalSettings()) == "plain"
