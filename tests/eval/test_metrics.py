"""Metrics against hand-worked cases (and ranx against the closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.metrics import (catalog_coverage, explanation_stats, intra_list_diversity, mean_ci, metric_names, novelty,
                          paired_test, rank_of, ranking_metrics, single_target_metrics)
from eval.records import EvalRecord

CUTS = [5, 10, 20]


def test_hand_worked_single_user():
    # target at rank 3: DCG = 1/log2(3+1) = 0.5; every recall hits; MRR = 1/3
    m = single_target_metrics(3, CUTS)
    assert m["ndcg@5"] == pytest.approx(0.5) and m["ndcg@10"] == pytest.approx(0.5)
    assert m["recall@5"] == 1.0 and m["mrr"] == pytest.approx(1 / 3)
    # rank 12: outside @5/@10, inside @20: 1/log2(13) = 0.270238
    m = single_target_metrics(12, CUTS)
    assert (m["ndcg@5"], m["ndcg@10"], m["recall@10"]) == (0.0, 0.0, 0.0)
    assert m["ndcg@20"] == pytest.approx(0.2702381544) and m["recall@20"] == 1.0 and m["mrr"] == pytest.approx(1 / 12)
    assert single_target_metrics(None, CUTS) == {k: 0.0 for k in metric_names(CUTS)}


def test_ranx_matches_hand_worked_values():
    rankings = {
        "u1": ["a", "b", "t"],                     # rank 3
        "u0": ["t", "x"],                          # rank 1: everything 1
        "u2": [f"i{k}" for k in range(11)] + ["t"],  # rank 12
        "u3": ["x", "y"],                          # absent
        "u4": [],                                  # empty list: zeros
    }
    targets = {u: "t" for u in rankings}
    got = ranking_metrics(rankings, targets, CUTS)
    for pos, user in enumerate(rankings):
        want = single_target_metrics(rank_of(rankings[user], "t"), CUTS)
        for name, value in want.items():
            assert got[name][pos] == pytest.approx(value), (user, name)
    assert got["ndcg@10"].tolist() == pytest.approx([0.5, 1.0, 0.0, 0.0, 0.0])
    assert got["mrr"].mean() == pytest.approx((1 / 3 + 1 + 1 / 12) / 5)


def test_beyond_accuracy_hand_worked():
    assert catalog_coverage([["a", "b", "c"], ["b", "d"]], 10, k=2) == pytest.approx(3 / 10)  # {a,b,d}
    e = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0]), "c": np.array([1.0, 0.0])}
    assert intra_list_diversity(["a", "b"], e) == pytest.approx(1.0)  # orthogonal: distance 1
    assert intra_list_diversity(["a", "c"], e) == pytest.approx(0.0)  # identical
    assert intra_list_diversity(["a", "b", "c"], e) == pytest.approx((1 + 0 + 1) / 3)
    assert intra_list_diversity(["a"], e) is None
    # pop 3 of 7 users: -log2(4/8) = 1 bit; unseen item: -log2(1/8) = 3 bits
    assert novelty(["p"], {"p": 3}, 7) == pytest.approx(1.0)
    assert novelty(["p", "q"], {"p": 3}, 7) == pytest.approx(2.0)


def test_mean_ci_and_paired_tests():
    ci = mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert (ci.mean, ci.low, ci.high, ci.n) == pytest.approx((2.0, 2 - half, 2 + half, 3))
    from scipy import stats

    a = [0.1, 0.5, 0.3, 0.0, 0.9, 0.2, 0.4]
    b = [0.2, 0.7, 0.3, 0.1, 1.0, 0.6, 0.5]
    t = paired_test("ndcg@10", a, b)
    assert t.diff == pytest.approx(np.mean(np.subtract(b, a)))
    assert t.p_ttest == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert t.p_wilcoxon == pytest.approx(stats.wilcoxon(np.subtract(b, a)).pvalue)
    same = paired_test("mrr", a, a)
    assert same.p_ttest == 1.0 and same.p_wilcoxon == 1.0 and not same.significant()
    with pytest.raises(ValueError):
        paired_test("mrr", a, b[:-1])


def test_explanation_stats_sums_blocks():
    def rec(explain=None, hallucinated=0):
        return EvalRecord("u", "t", ["t"], 1, recommended=20, hallucinated=hallucinated, explain=explain)

    recs = [
        rec({"picks": 3, "with_reason": 2, "claims": 4, "grounded_claims": 3, "dropped": 1, "error": None}),
        rec({"picks": 3, "with_reason": 0, "claims": 0, "grounded_claims": 0, "dropped": 0, "error": "EngineError"}),
        rec(hallucinated=2),
    ]
    s = explanation_stats(recs)
    assert s is not None
    assert (s.picks, s.with_reason, s.claims, s.grounded_claims, s.calls, s.invalid_calls, s.dropped_entries) == (
        6, 2, 4, 3, 2, 1, 1)
    assert s.reason_rate == pytest.approx(2 / 6) and s.grounded_claim_rate == pytest.approx(3 / 4)
    assert s.invalid_output_rate == pytest.approx(1 / 2) and s.hallucinated_item_rate == pytest.approx(2 / 60)
    assert explanation_stats([rec()]) is None
