"""CrossEncoderRanker: pair text, degradation, scoring/reload; FusionRanker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.understanding.context import build_context
from agent.ranking.cross_encoder import (DEGRADED_NOTICE, CrossEncoderRanker, FusionRanker, compact_item,
                                        context_history, context_query, fuse_scores, softmax)
from agent.ranking.rerank import Ranker
from agent.types import Context, RerankResult, ScoredCandidate, Turn
from retrieval.candidates import Candidate
from retrieval.items import Item

ITEMS = [Item(id=str(n), title=f"Film {n}", year=1990 + n, genres=("Drama", "Crime") if n % 2 else ("Comedy",),
              extra={"director": [f"Director {n}"]}) for n in range(6)]


def _context(history=ITEMS[:3]) -> Context:
    return build_context([Turn("user", "something tense")], lambda t: len(t.split()), 1500, history=list(history))


def _cands(items=ITEMS[3:]):
    return [Candidate(it, 0.5 - 0.1 * r, r) for r, it in enumerate(items)]


def test_context_history_is_newest_first_and_compact():
    hist = context_history(_context())
    assert hist == [compact_item(ITEMS[2]), compact_item(ITEMS[1]), compact_item(ITEMS[0])]
    assert "Director" not in " ".join(hist)
    q = context_query(_context())
    assert q.startswith("Request: something tense") and q.index("Film 2") < q.index("Film 0")
    assert context_history(build_context([Turn("user", "hi")], lambda t: len(t.split()), 100)) == []


def test_missing_model_degrades_to_retrieval_order(tmp_path):
    ranker = CrossEncoderRanker(tmp_path / "nothing")
    result = ranker.rank(_context(), _cands())
    assert result.degraded and result.notice == DEGRADED_NOTICE and "no ranker model" in result.error
    assert [s.item.id for s in result.ranked] == ["3", "4", "5"]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from retrieval.embedder import resolve_embedder

    base = resolve_embedder("minilm")
    out = tmp_path_factory.mktemp("ce")
    AutoModelForSequenceClassification.from_pretrained(base, num_labels=1).save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def test_scores_rank_and_reload_identically(tiny_model_dir):
    a = CrossEncoderRanker(tiny_model_dir)
    res = a.rank(_context(), _cands() + _cands()[:1])  # duplicates are dropped
    assert not res.degraded and len(res.ranked) == 3
    scores = [s.score for s in res.ranked]
    assert scores == sorted(scores, reverse=True)
    b = CrossEncoderRanker(tiny_model_dir)
    res_b = b.rank(_context(), _cands())
    assert [s.item.id for s in res.ranked] == [s.item.id for s in res_b.ranked]
    assert np.allclose([s.score for s in res.ranked], [s.score for s in res_b.ranked], atol=1e-6)


def test_broken_model_never_raises(tiny_model_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    res = CrossEncoderRanker(broken).rank(_context(), _cands())
    assert res.degraded and [s.item.id for s in res.ranked] == ["3", "4", "5"]


class _Fixed(Ranker):
    def __init__(self, scores: dict[str, float] | None, name: str = "fixed") -> None:
        self.scores, self.name = scores, name

    def rank(self, context, candidates):
        if self.scores is None:
            return RerankResult([ScoredCandidate(c, c.score) for c in candidates], self.name, degraded=True,
                                notice="down", error="boom")
        order = sorted(candidates, key=lambda c: -self.scores[c.item.id])
        return RerankResult([ScoredCandidate(c, self.scores[c.item.id]) for c in order], self.name)


def test_fuse_scores_is_a_mixture():
    p = fuse_scores([0.0, 0.0], [0.9, 0.1], 0.5)
    assert p.sum() == pytest.approx(1.0) and p[0] == pytest.approx(0.5 * 0.5 + 0.5 * 0.9)
    assert softmax([1.0, 1.0]).tolist() == [0.5, 0.5]
    with pytest.raises(ValueError):
        fuse_scores([0.0], [1.0], 1.5)


def test_fusion_ranker_weights_and_degradation():
    ce = _Fixed({"3": 5.0, "4": 0.0, "5": -5.0})
    llm = _Fixed({"3": 0.0, "4": 0.1, "5": 0.9})
    ids = lambda r: [s.item.id for s in r.ranked]  # noqa: E731
    assert ids(FusionRanker(ce, llm, 0.0).rank(_context(), _cands())) == ["3", "4", "5"]
    assert ids(FusionRanker(ce, llm, 1.0).rank(_context(), _cands())) == ["5", "4", "3"]
    alone = FusionRanker(ce, _Fixed(None), 0.7).rank(_context(), _cands())
    assert ids(alone) == ["3", "4", "5"] and not alone.degraded and alone.error == "boom"
    both = FusionRanker(_Fixed(None), _Fixed(None), 0.5).rank(_context(), _cands())
    assert both.degraded and ids(both) == ["3", "4", "5"]
    capped = FusionRanker(ce, llm, 0.0, max_candidates=2).rank(_context(), _cands())
    assert ids(capped) == ["3", "4", "5"] and capped.ranked[-1].score == 0.0
