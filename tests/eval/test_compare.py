"""--compare: paired differences between two reports; different protocols are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.compare import CompareError, compare, render
from eval.runner import run_eval

from .helpers import toy_dataset
from .test_runner import registry, settings


def test_compare_same_users_and_refusals(tmp_path: Path):
    data = toy_dataset()
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run_eval(settings(), a, registry=registry([]), dataset=data, home=tmp_path, progress=False, write_plots=False)
    run_eval(settings(pipelines=["reverse"]), b, registry=registry([]), dataset=data, home=tmp_path, progress=False,
             write_plots=False)
    same = compare(a, b)
    assert [t.metric for _, _, t in same.tests] == ["ndcg@10", "recall@10", "mrr"]
    assert all(t.diff == 0 and t.p_ttest == 1.0 for _, _, t in same.tests)  # same pipeline, same users
    cross = compare(a, b, pipelines=("popularity", "reverse"))
    assert cross.tests[0][2].n == 10
    assert "pipeline A" in render(cross)
    run_eval(settings(protocol="full", users=None), c, registry=registry([]), dataset=data, home=tmp_path,
             progress=False, write_plots=False)
    with pytest.raises(CompareError, match="protocols"):
        compare(a, c)
    with pytest.raises(CompareError, match="no results.json"):
        compare(a, tmp_path / "missing")


def test_conversation_reports_pair_success_at_5_by_person(tmp_path):
    import json

    from eval.compare import compare

    for name, ranks in (("a", [None, 3, 7]), ("b", [2, 3, None])):
        folder = tmp_path / name
        (folder / "cache").mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps({
            "protocol": "conversation", "dataset": {"name": "movielens-1m"}, "config": {},
            "summaries": {"agent-rules (known)": {}}}))
        rows = [{"user_id": f"u{i}", "turns": [{"rank": r}]} for i, r in enumerate(ranks)]
        (folder / "cache" / "conversation-agent-rules-known.jsonl").write_text(
            "\n".join(json.dumps(r) for r in rows))
    [(_, _, test)] = compare(tmp_path / "a", tmp_path / "b").tests
    assert (test.metric, test.n, test.mean_a, test.mean_b) == ("success@5", 3, 1 / 3, 2 / 3)


def test_freeform_reports_pair_shares_by_request(tmp_path):
    import json

    rows = {"a": [("plot-01", "plot", 0.4), ("mood-01", "mood", 0.2), ("person-01", "person", 1.0)],
            "b": [("plot-01", "plot", 0.8), ("mood-01", "mood", None), ("person-01", "person", 1.0)]}
    for name, requests in rows.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps({
            "protocol": "freeform", "dataset": {"name": "movielens-1m"}, "config": {},
            "paths": {"chat-rules": {"rows": [{"id": i, "kind": k, "share": s} for i, k, s in requests]}}}))
    tests = {t.metric: t for _, _, t in compare(tmp_path / "a", tmp_path / "b").tests}
    assert tests["share"].n == 3 and tests["share (plot+mood)"].n == 2
    assert tests["share (plot+mood)"].mean_a == pytest.approx(0.3) and tests["share (plot+mood)"].mean_b == 0.4  # nothing shown = 0
