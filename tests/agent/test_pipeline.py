"""The turn pipeline on the real ML-100K index, with the real vLLM server and with a dead one."""

import threading

import pytest

from agent.llm.engine import LLMCall, audit_scope, record_in_scope
from agent.reasons.explain import Explainer
from agent.pipeline import RecommendPipeline, TurnRequest
from agent.ranking.rerank import RetrievalOrderRanker, VerbalizerRanker
from agent.settings import AgentSettings
from agent.types import Turn
from retrieval.retriever import Filters, Retriever


@pytest.fixture(scope="module")
def retriever(ml100k_store):
    return Retriever(ml100k_store, "ml100k")


def test_retrieval_only_pipeline_respects_filters_and_exclusions(retriever):
    pipe = RecommendPipeline(retriever, RetrievalOrderRanker(), AgentSettings())
    first = pipe.run(TurnRequest(turns=[Turn("user", "a scary movie")], k=5))
    banned = [r.item.id for r in first.recommendations[:2]]
    flt = Filters(year_min=1980, exclude_genres=("Comedy",))
    got = pipe.run(TurnRequest(turns=[Turn("user", "a scary movie")], k=5, filters=flt, exclude=banned))
    assert len(got.recommendations) == 5
    assert all(flt.matches_item(r.item) and r.item.id not in banned for r in got.recommendations)
    assert [r.rank for r in got.recommendations] == [1, 2, 3, 4, 5]
    assert got.llm_calls == [] and set(got.timings) >= {"retrieve_s", "rerank_s", "explain_s", "total_s"}


@pytest.mark.slow
def test_llm_pipeline_only_names_candidates_and_audits_calls(retriever, vllm_engine):
    settings = AgentSettings(max_candidates=8, permutations=2, explain_top_k=2)
    pipe = RecommendPipeline(retriever, VerbalizerRanker(vllm_engine, settings), settings,
                             explainer=Explainer(vllm_engine, settings), count_tokens=vllm_engine.count_tokens)
    seen = []
    result = pipe.run(TurnRequest(turns=[Turn("user", "a space adventure with robots")], history=["50"], k=4,
                                  filters=Filters(year_min=1970)), on_ranked=seen.append)
    candidate_ids = {c.item.id for c in result.candidates}
    assert len(result.recommendations) == 4 and {r.item.id for r in result.recommendations} <= candidate_ids
    assert "50" not in {r.item.id for r in result.recommendations}
    assert all(r.item.year >= 1970 for r in result.recommendations)
    assert not result.rerank.degraded and len(result.rerank.permutations) == 2
    assert seen and [r.item.id for r in seen[0]] == [r.item.id for r in result.recommendations]
    kinds = [c.kind for c in result.llm_calls]
    assert kinds.count("score_choices") == 2 and kinds.count("generate_json") == 1


@pytest.mark.slow
def test_dead_server_degrades_to_retrieval_order(retriever):
    from agent.llm.http_engine import HttpEngine
    from agent.llm.vllm_server import find_free_port

    engine = HttpEngine(f"http://127.0.0.1:{find_free_port()}/v1", model="nobody", timeout_s=2, retries=0)
    settings = AgentSettings(max_candidates=6, permutations=2, explain_top_k=2)
    pipe = RecommendPipeline(retriever, VerbalizerRanker(engine, settings, tokenizer=None), settings,
                             explainer=Explainer(engine, settings))
    plain = RecommendPipeline(retriever, RetrievalOrderRanker(), settings)
    req = TurnRequest(turns=[Turn("user", "a musical")], k=5)
    got, want = pipe.run(req), plain.run(req)
    assert [r.item.id for r in got.recommendations] == [r.item.id for r in want.recommendations]
    assert got.rerank.degraded and len(got.notices) == 2
    assert all(r.reason is None for r in got.recommendations)


def test_audit_scope_is_per_context():
    results = {}

    def worker(name):
        with audit_scope() as calls:
            record_in_scope(LLMCall(kind="score_choices", backend="x", model=name, messages=[]))
            results[name] = [c.model for c in calls]

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": ["a"], "b": ["b"]}
    record_in_scope(LLMCall(kind="score_choices", backend="x", model="none", messages=[]))  # no scope: no error
