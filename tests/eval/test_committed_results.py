"""The committed results under docs/results/ hold up: every results.json names its command and
its agent settings (or says why they are unknown), and every report.md is exactly what the
report writer renders from its results.json (no hand edits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.report import render_report

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
FILES = sorted(RESULTS.rglob("results.json"))


def test_there_are_committed_results():
    assert len(FILES) >= 16, FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.parent.relative_to(RESULTS)))
def test_results_json_records_command_and_agent_config(path: Path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc.get("command"), str) and doc["command"].split()[:1] != []
    assert "recchat " in doc["command"]
    assert "agent_config" in doc
    if doc["agent_config"] is None:  # an old record: it must say why
        assert "not recorded" in doc.get("provenance_note", "")
    else:
        assert isinstance(doc["agent_config"], dict) and "llm" in doc["agent_config"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.parent.relative_to(RESULTS)))
def test_report_md_is_rendered_from_results_json(path: Path):
    report = path.parent / "report.md"
    assert report.is_file()
    assert report.read_text(encoding="utf-8") == render_report(path), (
        f"{report} differs from what eval.report.render_report makes of {path}: re-render it, never edit it by hand")


def test_shipped_chat_fusion_weights_are_the_committed_fit():
    from agent.ranking.fusion import SHIPPED

    doc = json.loads((RESULTS / "chat-fusion" / "fit.json").read_text(encoding="utf-8"))
    assert "recchat train chat-fusion" in doc["command"]
    model = SHIPPED["movielens-1m"]
    for kind, weights in (("warm", model.warm), ("cold", model.cold), ("sequence", model.sequence)):
        fitted = doc[kind]["weights"]
        assert weights is not None and set(fitted) <= set(vars(weights))
        assert {k: round(v, 4) for k, v in fitted.items()} == pytest.approx({k: getattr(weights, k) for k in fitted},
                                                                              abs=1e-4), kind
