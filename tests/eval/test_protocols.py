"""Sampled protocol: candidate draws and the frozen candidate file (written once, reused)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.protocols import (CandidateFileMismatch, candidate_path, draw_candidates, freeze_candidates,
                            rerank_subset, retriever_recall)
from eval.records import EvalRecord
from eval.splits import UserCase

UNIVERSE = sorted(f"i{k:03d}" for k in range(200))
CASES = [UserCase(f"u{n}", tuple(UNIVERSE[n: n + 30]), UNIVERSE[n + 30]) for n in range(5)]
META = {"dataset": "toy", "seed": 0, "users": 5, "split": "test", "negatives": 19, "min_rating": None}


def test_draw_is_target_plus_unseen_and_deterministic():
    case = CASES[0]
    seen = set(case.history) | {case.target, "i199"}
    got = draw_candidates(case, UNIVERSE, 19, seed=0, seen=seen)
    assert len(got) == 20 and len(set(got)) == 20 and case.target in got
    assert not (set(got) - {case.target}) & seen
    assert got == draw_candidates(case, UNIVERSE, 19, seed=0, seen=seen)
    assert got != draw_candidates(case, UNIVERSE, 19, seed=1, seen=seen)
    positions = {draw_candidates(c, UNIVERSE, 19, 0).index(c.target) for c in CASES}
    assert len(positions) > 1  # shuffled: the target is not always in the same slot


def test_candidate_file_written_once_and_reused(tmp_path: Path):
    path = candidate_path("toy", 0, 5, home=tmp_path)
    assert path == tmp_path / "eval" / "candidates" / "toy-0-5.json"
    assert candidate_path("toy", 3, None, home=tmp_path, split="validation").name == "toy-3-all-validation.json"
    first = freeze_candidates(CASES, UNIVERSE, path, META)
    assert first.created and path.is_file()
    stamp = path.stat().st_mtime_ns
    second = freeze_candidates(CASES, UNIVERSE, path, META)
    assert not second.created and second.sha256 == first.sha256 and second.candidates == first.candidates
    assert path.stat().st_mtime_ns == stamp
    # reused even if the draw would differ now (e.g. the universe changed): frozen means frozen
    assert freeze_candidates(CASES, UNIVERSE[::-1], path, META).candidates == first.candidates
    doc = json.loads(path.read_text())
    assert doc["users"]["u0"]["target"] == CASES[0].target


def test_candidate_file_mismatch_is_refused(tmp_path: Path):
    path = tmp_path / "c.json"
    freeze_candidates(CASES, UNIVERSE, path, META)
    with pytest.raises(CandidateFileMismatch, match="seed"):
        freeze_candidates(CASES, UNIVERSE, path, META | {"seed": 1})
    other = [UserCase("u0", CASES[0].history, "i199")]
    with pytest.raises(CandidateFileMismatch, match="another target"):
        freeze_candidates(other, UNIVERSE, path, META)


def test_stage_metrics():
    def rec(user, retrieved_rank, staged=True):
        return EvalRecord(user, "t", ["t"], 1, has_retrieval_stage=staged, retrieved_rank=retrieved_rank)

    recs = [rec("a", 3), rec("b", None), rec("c", 1), rec("d", None)]
    assert retriever_recall(recs) == 0.5 and [r.user for r in rerank_subset(recs)] == ["a", "c"]
    assert retriever_recall([rec("a", None, staged=False)]) is None
