"""``agent.app.open_app``: the LLM engine is built only when a stage asks for it."""

from __future__ import annotations

import pytest

from agent.settings import AgentSettings


def _open(chroma_dir, tmp_path, monkeypatch, **settings):
    import agent.llm.engines as engines
    from agent.app import open_app
    from retrieval.settings import RetrievalSettings

    built = []
    monkeypatch.setattr(engines, "make_engine", lambda s, **kw: built.append(s) or _NoEngine())
    app = open_app(RetrievalSettings(chroma_path=str(chroma_dir), catalog="ml100k"),
                   AgentSettings(sessions_url=f"sqlite:///{tmp_path}/s.db", **settings), use_llm=True)
    app.close()
    return app, built


class _NoEngine:
    count_tokens = staticmethod(len)

    def close(self) -> None:
        pass


def test_default_settings_ask_for_no_llm() -> None:
    # by measurement (docs/results.md#the-llm): the reading, the rerank and the reasons are all off
    s = AgentSettings()
    assert not (s.understand_with_llm or s.llm_rerank or s.llm_reasons) and not s.uses_llm


def test_open_app_starts_no_llm_when_no_stage_asks(ml100k_store, chroma_dir, tmp_path, monkeypatch) -> None:
    app, built = _open(chroma_dir, tmp_path, monkeypatch)
    assert built == [] and app.engine is None and app.llm_error is None


@pytest.mark.parametrize("stage", ["understand_with_llm", "llm_rerank", "llm_reasons"])
def test_open_app_builds_the_engine_a_stage_asks_for(ml100k_store, chroma_dir, tmp_path, monkeypatch, stage) -> None:
    app, built = _open(chroma_dir, tmp_path, monkeypatch, **{stage: True})
    assert len(built) == 1 and app.engine is not None
