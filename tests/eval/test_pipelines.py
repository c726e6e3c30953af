"""Pipelines on the real ML-100K catalog, real MiniLM and real Chroma (fixture ``ml100k_store``)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from agent.ranking.rerank import Ranker
from agent.types import Context, RerankResult, ScoredCandidate
from eval.data import load_dataset
from eval.pipelines import UserRequest, default_registry
from eval.runner import prepare
from eval.settings import EvalSettings
from retrieval.candidates import Candidate


class ReverseRanker(Ranker):
    """A stand-in 'trained' ranker: reverses the retrieval order."""

    name = "reverse"

    def rank(self, context: Context, candidates: Sequence[Candidate]) -> RerankResult:
        return RerankResult([ScoredCandidate(c, -i) for i, c in enumerate(candidates)][::-1], self.name)


@pytest.fixture(scope="module")
def ml100k():
    return load_dataset("movielens-100k")


def build(ml100k, ml100k_store, tmp_path, **kw):
    s = EvalSettings(dataset="movielens-100k", catalog_name="ml100k", users=5, seed=0, **kw)
    return prepare(s, dataset=ml100k, store=ml100k_store, home=tmp_path, progress=False)


def test_full_protocol_masks_history_and_reports_retrieval_stage(ml100k, ml100k_store, tmp_path):
    prep = build(ml100k, ml100k_store, tmp_path, protocol="full", pipelines=["popularity", "retrieval"])
    reg = default_registry()
    pop, ret = reg.build("popularity", prep.ctx), reg.build("retrieval", prep.ctx)
    assert len(prep.requests()) == 5
    for req in prep.requests():
        assert req.candidates is None
        for pipe in (pop, ret):
            out = pipe.recommend(req)
            assert len(out.ranked) == 100 and len(set(out.ranked)) == 100
            assert not set(out.ranked) & set(req.case.history)
            assert set(out.ranked) <= set(prep.ctx.items)
        out = ret.recommend(req)
        assert out.has_retrieval_stage
        head = out.ranked[:20]
        assert out.retrieved_rank == (head.index(req.case.target) + 1 if req.case.target in head else None)
    counts = [prep.ctx.popularity.get(i, 0) for i in pop.recommend(prep.requests()[0]).ranked]
    assert counts == sorted(counts, reverse=True)


def test_sampled_protocol_ranks_exactly_the_frozen_candidates(ml100k, ml100k_store, tmp_path):
    prep = build(ml100k, ml100k_store, tmp_path, protocol="sampled", pipelines=["retrieval"])
    reg = default_registry()
    reg.register_ranker("retrieval+reverse", lambda ctx: ReverseRanker())
    ret, rev = reg.build("retrieval", prep.ctx), reg.build("retrieval+reverse", prep.ctx)
    assert len(prep.requests()) == 5
    for req in prep.requests():
        assert len(req.candidates) == 20 and req.case.target in req.candidates
        out = ret.recommend(req)
        assert sorted(out.ranked) == sorted(req.candidates) and not out.has_retrieval_stage
        vec = prep.ctx.retriever.query_vector(history=list(req.case.history))
        embs = ml100k_store.get_embeddings("ml100k", out.ranked)
        sims = [float(embs[i] @ vec) for i in out.ranked]
        assert sims == sorted(sims, reverse=True)
        assert rev.recommend(req).ranked == out.ranked[::-1]  # a plugged ranker reorders the same 20


def test_registry_rejects_unknown_names(ml100k, ml100k_store, tmp_path):
    prep = build(ml100k, ml100k_store, tmp_path, protocol="sampled", pipelines=["retrieval"])
    with pytest.raises(ValueError, match="unknown pipeline 'magic'"):
        default_registry().build("magic", prep.ctx)
    assert {"popularity", "retrieval", "retrieval+llm"} <= set(default_registry().names)
    assert UserRequest(prep.cases[0]).candidates is None


class _ExplainEngine:
    """Fake engine for the explanation step only: returns one reason for the first shown id and
    counts calls (the reranker is ``ReverseRanker``; no LLM here)."""

    def __init__(self) -> None:
        self.calls = 0

    def generate_json(self, messages, schema, max_tokens=512, timeout_s=None):
        self.calls += 1
        first = schema["properties"]["explanations"]["items"]["properties"]["item_id"]["enum"][0]
        return {"explanations": [{"item_id": first, "reason": "It is a film."}]}

    def count_tokens(self, text):
        return len(text.split())

    def close(self):
        pass


def test_explain_users_explains_only_the_first_n_of_the_sample(ml100k, ml100k_store, tmp_path):
    from eval.pipelines import RerankPipeline

    prep = build(ml100k, ml100k_store, tmp_path, protocol="sampled", pipelines=["retrieval"], explain_users=2)
    engine = _ExplainEngine()
    prep.ctx.engine_factory = lambda: engine
    pipe = RerankPipeline("retrieval+reverse", prep.ctx, ReverseRanker(), uses_llm=True, explain=True)
    requests = prep.requests()
    assert [r.position for r in requests] == list(range(5))
    explained = ["explain" in pipe.recommend(r).info for r in requests]
    assert explained == [True, True, False, False, False] and engine.calls == 2


def test_run_records_dataset_and_embedder_hashes(ml100k, ml100k_store, tmp_path):
    """A real run on the bundled ML-100K: results.json names the sha256 of the interactions and item
    files it read and of the embedder, and the agent settings although no LLM pipeline ran."""
    from eval.provenance import checkpoint_provenance, sha256_file
    from eval.runner import run_eval

    s = EvalSettings(dataset="movielens-100k", catalog_name="ml100k", users=5, seed=0, protocol="sampled",
                     pipelines=["popularity", "retrieval"])
    doc = run_eval(s, tmp_path / "r", dataset=ml100k, store=ml100k_store, home=tmp_path, progress=False,
                   write_plots=False)
    files = doc["data_files"]
    assert set(files) == {"interactions", "items", "catalog_jsonl_sha256"}
    for role, suffix in (("interactions", ".inter"), ("items", ".item")):
        assert files[role]["path"].endswith(suffix) and files[role]["sha256"] == sha256_file(files[role]["path"])
    emb = doc["checkpoints"]["embedder"]
    assert emb["model_id"] == ml100k_store.embedder.model_id and len(emb["sha256"]) == 64
    assert emb["sha256"] == checkpoint_provenance(emb["path"])["sha256"]
    assert doc["agent_config"]["max_candidates"] == doc["config"]["rerank_k"] == 20
