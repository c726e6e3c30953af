"""`recchat chat --no-llm` with piped stdin on the real ML-100K index (the session's store, chosen
through the same environment variables a person would set), and `recchat sessions`."""

import pytest
import typer
from typer.testing import CliRunner

from ui.chat_cli import register


@pytest.fixture
def app(monkeypatch, tmp_path, ml100k_store, chroma_dir):
    monkeypatch.setenv("RECCHAT_AGENT_SESSIONS_URL", f"sqlite:///{tmp_path}/s.db")
    monkeypatch.setenv("RECCHAT_RETRIEVAL_CHROMA_PATH", str(chroma_dir))
    monkeypatch.setenv("RECCHAT_RETRIEVAL_CATALOG", "ml100k")
    app = typer.Typer()
    register(app)
    return app


def test_piped_chat_and_sessions(app):
    runner = CliRunner()
    res = runner.invoke(app, ["chat", "--no-llm"], input="hi\na comedy from the 80s, not romance\n/not 1\n/profile\n/quit\n")
    assert res.exit_code == 0, res.output
    assert "Hi!" in res.output and "1980 to 1989" in res.output and "noted: not_this" in res.output
    listing = runner.invoke(app, ["sessions", "list"]).output
    sid = listing.split()[0]
    assert '"exclude_genres"' in runner.invoke(app, ["sessions", "export", sid]).output
    assert runner.invoke(app, ["sessions", "delete", sid]).exit_code == 0
    assert runner.invoke(app, ["sessions", "export", sid]).exit_code == 1
