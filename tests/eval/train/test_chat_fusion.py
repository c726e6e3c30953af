"""eval.train.chat_fusion on real ML-100K (its ratings, the MiniLM index, simulated openings): the
three weight sets, the sequence feature only where a sequence model scores, the weights file."""

from __future__ import annotations

import json

import pytest

from agent.ranking.fusion import FEATURES, load_weights


@pytest.mark.slow
def test_fit_with_a_sequence_model(ml100k_store, tmp_path) -> None:
    import torch

    from eval.data import load_dataset
    from eval.train.chat_fusion import train_chat_fusion
    from retrieval.sasrec import SASRec, SASRecConfig, SASRecNet

    data = load_dataset("movielens-100k")
    ids = sorted(set(data.interactions["item_id"].astype(str)))
    torch.manual_seed(0)  # an untrained network: the fit must still run and report its feature
    SASRec(SASRecNet(SASRecConfig(n_items=len(ids), dim=8, blocks=1, maxlen=20)), ids).save(tmp_path / "sasrec")
    result = train_chat_fusion("movielens-100k", users=40, eval_users=10, seed=0, out=tmp_path / "out",
                               progress=False, sasrec=str(tmp_path / "sasrec"), store=ml100k_store, home=tmp_path)
    model, report = result.weights, result.report
    assert model.sequence is not None and model.warm.sequence == 0.0 and model.cold.sequence == 0.0
    assert report["sequence_model"] == str(tmp_path / "sasrec")
    assert report["pool_recall_with_sequence"] >= report["pool_recall"]  # the sequence source only adds films
    for kind in ("warm", "cold", "sequence"):
        assert set(report[kind]["weights"]) == set(FEATURES) | {"bias"}
        assert 0.0 <= report[kind]["held_out_mrr_fused"] <= 1.0
    assert load_weights("movielens-100k", tmp_path) == model  # the file the chat reads
    assert json.loads((tmp_path / "out" / "fit.json").read_text())["sequence"]["requests"] > 0
