"""Report: results.json contents, markdown, plots, anchors only under the same protocol."""

from __future__ import annotations

import json
from pathlib import Path

from eval.provenance import sha256_file
from eval.report import anchors_for, render_report
from eval.runner import run_eval

from .test_runner import registry, settings
from .helpers import toy_dataset


def test_anchors_never_cross_protocols_or_datasets():
    ml1m = anchors_for("movielens-1m", "sampled")
    assert {a["protocol"] for a in ml1m} == {"sampled"} and max(a["ndcg@10"] for a in ml1m) == 0.7889  # SASRec
    assert anchors_for("movielens-100k", "sampled") == [] and anchors_for("movielens-1m", "full") == []
    # LlamaRec's "ml-100k" is MovieLens latest-small: it is no anchor for the classic ML-100K
    assert anchors_for("movielens-100k", "full") == []


def test_report_files_and_contents(tmp_path: Path, monkeypatch):
    out = tmp_path / "r"
    monkeypatch.setenv("RECCHAT_AGENT_REQUEST_TIMEOUT_S", "300")
    monkeypatch.setenv("RECCHAT_AGENT_LLM_API_KEY", "s3cret")
    data = toy_dataset()
    inter, items = tmp_path / "toy.inter", tmp_path / "toy.item"
    inter.write_text("user_id,item_id\n"), items.write_text("id,title\n")
    data.files = {"interactions": str(inter), "items": str(items)}
    doc = run_eval(settings(), out, registry=registry([]), dataset=data, home=tmp_path, progress=False,
                   command="recchat eval --dataset toy")
    for name in ("results.json", "report.md", "metrics.png", "latency.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["command"] == "recchat eval --dataset toy" and saved["protocol"] == "sampled"
    assert {"commit", "dirty"} <= set(saved["git"]) and "python" in saved["versions"]
    assert saved["candidates"]["sha256"] and saved["candidates"]["per_user"] == 10
    pop = saved["pipelines"]["popularity"]
    assert set(pop["metrics"]) == {"ndcg@5", "ndcg@10", "ndcg@20", "recall@5", "recall@10", "recall@20", "mrr"}
    assert pop["metrics"]["ndcg@10"]["low"] <= pop["metrics"]["ndcg@10"]["mean"] <= pop["metrics"]["ndcg@10"]["high"]
    assert pop["metrics"]["recall@10"]["mean"] == 1.0  # 10 candidates: always in the top 10
    assert pop["hallucinated_item_rate"] == 0.0
    assert len(saved["per_user"]["users"]) == 10 and len(saved["per_user"]["reverse"]["mrr"]) == 10
    assert {(t["a"], t["b"]) for t in saved["significance"]} == {("popularity", "reverse")}
    md = (out / "report.md").read_text()
    assert "sampled candidates" in md and "| popularity | 10 |" in md and "None: no published anchor" in md
    assert doc["pipelines"]["reverse"]["n"] == 10
    # provenance: the agent settings (also without an LLM pipeline), the environment, the data files
    assert saved["agent_config"]["request_timeout_s"] == 300.0 and "llm_api_key" not in saved["agent_config"]
    assert saved["environment"]["RECCHAT_AGENT_REQUEST_TIMEOUT_S"] == "300"
    assert saved["environment"]["RECCHAT_AGENT_LLM_API_KEY"] == "<redacted>" and "s3cret" not in json.dumps(saved)
    assert saved["data_files"]["interactions"]["sha256"] == sha256_file(inter)
    assert saved["data_files"]["items"]["sha256"] == sha256_file(items)
    assert len(saved["data_files"]["catalog_jsonl_sha256"]) == 64
    assert saved["config"]["rerank_k"] == saved["agent_config"]["max_candidates"] == 20
    assert saved["checkpoints"] == {}  # no LLM, no store, no trained checkpoint in this run
    assert f"interactions `toy.inter` sha256 `{sha256_file(inter)[:16]}`" in md
    # report.md is exactly what the writer renders from results.json alone
    assert render_report(out / "results.json") == md == render_report(saved) == render_report(json.dumps(saved))
