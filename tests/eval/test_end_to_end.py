"""A small end-to-end evaluation on MovieLens-100K: real retriever (MiniLM + Chroma) and the real
vLLM server with SmolLM2 (session fixture ``vllm_engine``), a few users, both protocols."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import AgentSettings
from eval.data import load_dataset
from eval.runner import read_records, run_eval
from eval.settings import EvalSettings


class SharedEngine:
    """Delegates to the session's engine but does not close it (the fixture owns it)."""

    def __init__(self, engine: object) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    def close(self) -> None:
        pass


def _settings(**kw) -> EvalSettings:
    # SmolLM2's server runs with max_model_len 2048: keep the prompt small
    agent = AgentSettings(llm="smollm2", permutations=2, max_candidates=6, context_token_budget=600)
    base = dict(dataset="movielens-100k", catalog_name="ml100k", users=3, seed=0, agent=agent,
                pipelines=["popularity", "retrieval", "retrieval+llm"], history_window=8, concurrency=2)
    return EvalSettings(**(base | kw))


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["sampled", "full"])
def test_end_to_end_with_real_llm(protocol, vllm_engine, ml100k_store, tmp_path: Path):
    out = tmp_path / protocol
    settings = _settings(protocol=protocol, negatives=5)
    doc = run_eval(settings, out, dataset=load_dataset("movielens-100k"), store=ml100k_store,
                   engine_factory=lambda: SharedEngine(vllm_engine), home=tmp_path, progress=False,
                   command="pytest end-to-end")
    llm = doc["pipelines"]["retrieval+llm"]
    assert llm["n"] == 3 and llm["failed_users"] == 0
    assert llm["rerank"]["permutations"] == 2 and llm["rerank"]["degraded_rate"] == 0.0
    assert llm["hallucinated_item_rate"] == 0.0 and doc["pipelines"]["retrieval"]["hallucinated_item_rate"] == 0.0
    expl = llm["explanations"]
    assert expl["calls"] == 3 and expl["hallucinated_item_rate"] == 0.0 and expl["picks"] == 9
    assert "rerank_s" in llm["latency_s"] and "explain_s" in llm["latency_s"]
    assert doc["agent_config"]["permutations"] == 2 and doc["agent_config"]["max_candidates"] == 6
    assert doc["checkpoints"]["llm"]["name"] == "smollm2" and doc["checkpoints"]["embedder"]["sha256"]
    records = read_records(out / "cache" / "retrieval_llm.jsonl")  # eval.runner._safe(name): '+' -> '_' 
    assert len(records) == 3
    for rec in records.values():
        assert rec.hallucinated == 0 and len(rec.ranked) == len(set(rec.ranked))
        assert set(rec.explain["explained_ids"]) <= set(rec.ranked[:3])
    if protocol == "full":
        assert "retriever_recall@6" in llm and "rerank_subset" in llm
        # the reranker only reorders the retrieved head; the tail keeps the retrieval order
        ret = read_records(out / "cache" / "retrieval.jsonl")
        assert set(ret) == set(records)
        for user, rec in records.items():
            assert sorted(rec.ranked[:6]) == sorted(ret[user].ranked[:6])
            assert rec.ranked[6:] == ret[user].ranked[6:]
    else:
        assert doc["candidates"]["per_user"] == 6
    assert (out / "report.md").read_text().count("retrieval+llm") >= 3
    assert (out / "metrics.png").is_file() and (out / "latency.png").is_file()
