"""Retriever fine-tuning: pairs (no leakage), batches, a tiny run + re-index; kNN source and RRF."""

from __future__ import annotations

import numpy as np
import pytest

from eval.splits import leave_one_out
from eval.train.ranker import user_sequences
from eval.train.retriever import (RetrieverTrainConfig, batches_without_duplicates, build_retrieval_pairs,
                                  history_text, index_with, resolve_retriever, train_retriever, tuned_index_name)
from eval.train.pipelines import rrf
from retrieval.behaviour import ItemKNN
from tests.eval.toy import toy_dataset


@pytest.fixture(scope="module")
def data():
    return toy_dataset()


def test_retrieval_pairs_come_from_the_training_part_only(data):
    cfg = RetrieverTrainConfig(dataset="toy", max_train_pairs=None, positions_per_user=4)
    pairs = build_retrieval_pairs(leave_one_out(data.interactions, "validation"), data.item_map, cfg)
    seqs = user_sequences(data.interactions)
    items = data.item_map
    assert len(pairs) == 4 * 40
    for p in pairs:
        held = seqs[p.user][-2:]
        assert p.item not in held and p.position <= len(seqs[p.user]) - 3
        assert p.item == seqs[p.user][p.position]
        for h in held:
            assert f"[{items[h].title} ({items[h].year})" not in p.anchor
    with pytest.raises(ValueError):
        build_retrieval_pairs(leave_one_out(data.interactions, "test"), data.item_map, cfg)


def test_history_text_is_newest_first(data):
    items = data.item_map
    text = history_text([items["i1"], items["i2"], items["i3"]], max_items=2)
    assert text.index("Movie 3") < text.index("Movie 2") and "Movie 1 " not in text


def test_batches_never_repeat_a_positive(data):
    cfg = RetrieverTrainConfig(dataset="toy", max_train_pairs=None, positions_per_user=4)
    pairs = build_retrieval_pairs(leave_one_out(data.interactions, "validation"), data.item_map, cfg)
    batches = batches_without_duplicates(pairs, 8, 0)
    assert batches and batches == batches_without_duplicates(pairs, 8, 0)
    for b in batches:
        assert 2 <= len(b) <= 8 and len({pairs[i].item for i in b}) == len(b)


def test_tiny_retriever_training_publishes_and_indexes(data, tmp_path):
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    cfg = RetrieverTrainConfig(dataset="toy", name="st-toy", max_train_pairs=48, positions_per_user=2, max_length=32,
                               batch_size=8, max_steps=4, eval_every=2, val_users=20, eval_k=5, threads=1)
    result = train_retriever(cfg, home=tmp_path, progress=False, dataset=data, log=lambda m: None)
    assert result.path == tmp_path / "models" / "retrievers" / "st-toy" / "v1"
    assert (result.path / "modules.json").is_file() and result.meta["steps"] == 4
    m, evals = result.meta["metrics"], result.meta["evals"]
    # the reported figures are the recorded evaluations: the first one, and the best of all of them
    assert [e["step"] for e in evals] == [0, 2, 4]
    assert m["validation_recall@5_initial"] == evals[0]["recall@5"]
    assert m["validation_recall@5_best"] == max(e["recall@5"] for e in evals)
    assert resolve_retriever("st-toy", home=tmp_path) == result.path
    store = ChromaStore(RetrievalSettings(embedder=str(result.path), chroma_path=str(tmp_path / "chroma")))
    report = index_with(result.path, "toy", store=store, progress=False, items=data.items)
    catalog = tuned_index_name("toy", result.path)
    assert report["catalog"] == catalog and report["embedded"] == len(data.items)
    assert store.count(catalog) == len(data.items)
    assert store._head(catalog).metadata["embedder"] == str(result.path.resolve())
    assert index_with(result.path, "toy", store=store, progress=False, items=data.items)["embedded"] == 0


class _Stop(Exception):
    pass


def test_interrupted_retriever_training_resumes_from_its_checkpoint(data, tmp_path):
    """A run stopped after its step-2 checkpoint resumes there (checkpoint read with weights_only=True)."""
    cfg = RetrieverTrainConfig(dataset="toy", name="st-r", max_train_pairs=48, positions_per_user=2, max_length=32,
                               batch_size=8, max_steps=4, eval_every=2, val_users=20, eval_k=5, threads=1, patience=9)

    def stop_at_step_4(message: str) -> None:
        if message.startswith("step 4:"):
            raise _Stop

    with pytest.raises(_Stop):
        train_retriever(cfg, home=tmp_path, progress=False, dataset=data, log=stop_at_step_4)
    said: list[str] = []
    result = train_retriever(cfg, home=tmp_path, progress=False, dataset=data, log=said.append)
    assert "resumed from step 2 of 4" in said
    assert result.meta["steps"] == 4


def test_item_knn_and_rrf():
    histories = [("a", "b"), ("a", "b"), ("a", "c"), ("d",)]
    knn = ItemKNN(histories, ["a", "b", "c", "d"], shrink=0.0)
    assert knn.top(["a"], 3)[0] == "b"  # b co-occurs with a twice, c once
    assert "a" not in knn.top(["a"], 3)
    assert np.allclose(np.diag(knn.sim), 0)
    assert rrf([["x", "y", "z"], ["y", "x", "w"]]) == ["x", "y", "z", "w"]  # x, y tie: first seen first
    assert rrf([["x", "y"], ["y", "z"]])[0] == "y"
