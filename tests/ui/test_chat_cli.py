"""`recchat chat --no-llm` with piped stdin on the indexed default catalog, and `recchat sessions`."""

import pytest
import typer
from typer.testing import CliRunner

from ui.chat_cli import register


@pytest.fixture
def app(monkeypatch, tmp_path):
    monkeypatch.setenv("RECCHAT_AGENT_SESSIONS_URL", f"sqlite:///{tmp_path}/s.db")
    app = typer.Typer()
    register(app)
    return app


def test_piped_chat_and_sessions(app):
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    try:
        ChromaStore(RetrievalSettings()).active(RetrievalSettings().catalog)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"default catalog not indexed: {exc}")
    runner = CliRunner()
    res = runner.invoke(app, ["chat", "--no-llm"], input="hi\na comedy from the 80s, not romance\n/not 1\n/profile\n/quit\n")
    assert res.exit_code == 0, res.output
    assert "Hi!" in res.output and "1980 to 1989" in res.output and "noted: not_this" in res.output
    listing = runner.invoke(app, ["sessions", "list"]).output
    sid = listing.split()[0]
    assert '"exclude_genres"' in runner.invoke(app, ["sessions", "export", sid]).output
    assert runner.invoke(app, ["sessions", "delete", sid]).exit_code == 0
    assert runner.invoke(app, ["sessions", "export", sid]).exit_code == 1
