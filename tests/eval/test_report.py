"""Report: results.json contents, markdown, plots, anchors only under the same protocol."""

from __future__ import annotations

import json
from pathlib import Path

from eval.report import anchors_for
from eval.runner import run_eval

from .test_runner import registry, settings
from .helpers import toy_dataset


def test_anchors_never_cross_protocols():
    assert {a["protocol"] for a in anchors_for("movielens-100k", "full")} == {"full"}
    assert {a["protocol"] for a in anchors_for("movielens-1m", "sampled")} == {"sampled"}
    assert anchors_for("movielens-100k", "sampled") == [] and anchors_for("movielens-1m", "full") == []


def test_report_files_and_contents(tmp_path: Path):
    out = tmp_path / "r"
    doc = run_eval(settings(), out, registry=registry([]), dataset=toy_dataset(), home=tmp_path, progress=False,
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
    assert "sampled candidates" in md and "| popularity | 10 |" in md and "None: DESIGN.md has no anchor" in md
    assert doc["pipelines"]["reverse"]["n"] == 10
