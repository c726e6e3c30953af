"""Ranker training: pair construction (no leakage), a tiny end-to-end run, reload, fusion tuning."""

from __future__ import annotations

import numpy as np
import pytest

from eval.splits import leave_one_out
from eval.train_ranker import (FusionExample, HistoryRetriever, RankerTrainConfig, build_pairs, pair_metrics,
                               prepare_pairs, train_ranker, tune_fusion_weight, user_sequences)
from tests.eval.toy import toy_dataset


@pytest.fixture(scope="module")
def data():
    return toy_dataset()


def _pairs(data, **kw):
    cfg = RankerTrainConfig(dataset="toy", max_train_pairs=None, positions_per_user=3, val_users=20, **kw)
    seqs = user_sequences(data.interactions)
    seen = {u: set(s) for u, s in seqs.items()}
    universe = sorted(data.item_map)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(len(universe), 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    validation = leave_one_out(data.interactions, "validation")
    return build_pairs(validation, data.item_map, seen, cfg, HistoryRetriever(universe, vecs)), seqs


def test_training_pairs_never_hold_validation_or_test_items(data):
    pairs, seqs = _pairs(data)
    assert pairs.train and pairs.val_es and pairs.val_report
    items = data.item_map
    for p in pairs.train:
        val_item, test_item = seqs[p.user][-2], seqs[p.user][-1]
        assert p.item not in (val_item, test_item)  # as positive or negative
        for held in (val_item, test_item):  # nor in the query text (history)
            assert f"[{items[held].title} ({items[held].year})" not in p.query
        if p.label == 1:
            assert p.position <= len(seqs[p.user]) - 3  # inside the training part
        else:
            assert p.item not in seqs[p.user]  # a negative is never something the user consumed
    assert {p.kind for p in pairs.train} == {"positive", "random", "hard"}


def test_validation_pairs_target_the_validation_item(data):
    pairs, seqs = _pairs(data)
    for p in pairs.val_es + pairs.val_report:
        if p.label == 1:
            assert p.item == seqs[p.user][-2]
        assert p.item != seqs[p.user][-1]
    assert not {p.user for p in pairs.val_es} & {p.user for p in pairs.val_report}


def test_pairs_refuse_the_test_split(data):
    with pytest.raises(ValueError, match="validation split"):
        build_pairs(leave_one_out(data.interactions, "test"), data.item_map, {}, RankerTrainConfig(), None)


def test_pair_metrics():
    m = pair_metrics([1, 0, 0, 1], [2.0, -1.0, 0.5, -0.5])
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5 and m["roc_auc"] == 0.75
    assert m["loss"] == pytest.approx(np.mean(np.log1p(np.exp(-np.array([2.0, 1.0, -0.5, -0.5])))))


def test_tiny_training_improves_validation_loss_and_reloads_identically(data, tmp_path):
    from agent.cross_encoder_ranker import CrossEncoderRanker, RANKER_META, resolve_ranker

    cfg = RankerTrainConfig(dataset="toy", name="tiny", hard_ratio=0.0, max_train_pairs=32, val_users=8,
                            max_length=32, epochs=1, batch_size=16, lr=5e-4, eval_every=100, threads=1,
                            train_layers=1)
    result = train_ranker(cfg, home=tmp_path, progress=False, dataset=data, log=lambda m: None)
    meta = result.meta
    assert result.path == tmp_path / "models" / "rankers" / "tiny" / "v1"
    assert (result.path / RANKER_META).is_file() and (result.path / "config.json").is_file()
    assert meta["best_val_loss"] < meta["initial_val_loss"]
    assert not (result.path.parent / ".work").exists()
    assert resolve_ranker("tiny", home=tmp_path) == result.path
    # reload: the published model scores the held-out pairs exactly as it did in training
    pairs, items = prepare_pairs(cfg, progress=False, dataset=data)
    from agent.cross_encoder_ranker import candidate_text

    ranker = CrossEncoderRanker(result.path)
    logits = ranker.score_pairs([p.query for p in pairs.val_report], [candidate_text(items[p.item]) for p in pairs.val_report])
    again = pair_metrics([p.label for p in pairs.val_report], logits)
    for key, value in meta["metrics"]["heldout_validation_pairs"].items():
        assert again[key] == pytest.approx(value, abs=1e-5)
    assert np.allclose(logits, CrossEncoderRanker(result.path).score_pairs(
        [p.query for p in pairs.val_report], [candidate_text(items[p.item]) for p in pairs.val_report]))


def test_training_resumes_and_refuses_another_config(data, tmp_path):
    cfg = RankerTrainConfig(dataset="toy", name="r", hard_ratio=0.0, max_train_pairs=32, val_users=4,
                            max_length=32, epochs=1, batch_size=16, eval_every=100, threads=1, train_layers=0)
    work = tmp_path / "models" / "rankers" / "r" / ".work"
    work.mkdir(parents=True)
    (work / "config.json").write_text('{"other": 1}')
    with pytest.raises(ValueError, match="another config"):
        train_ranker(cfg, home=tmp_path, progress=False, dataset=data, log=lambda m: None)
    result = train_ranker(cfg, home=tmp_path, progress=False, dataset=data, log=lambda m: None, fresh=True)
    assert result.path.name == "v1" and result.meta["steps"] == 2


class _Stop(Exception):
    pass


def test_interrupted_training_resumes_from_its_checkpoint(data, tmp_path):
    """A run stopped after its step-2 checkpoint resumes there (checkpoint read with weights_only=True)."""
    cfg = RankerTrainConfig(dataset="toy", name="r", hard_ratio=0.0, max_train_pairs=64, val_users=4,
                            max_length=32, epochs=1, batch_size=16, eval_every=2, threads=1, train_layers=0)

    def stop_at_step_4(message: str) -> None:
        if message.startswith("step 4:"):
            raise _Stop

    with pytest.raises(_Stop):
        train_ranker(cfg, home=tmp_path, progress=False, dataset=data, log=stop_at_step_4)
    assert (tmp_path / "models" / "rankers" / "r" / ".work" / "checkpoint.pt").is_file()
    said: list[str] = []
    result = train_ranker(cfg, home=tmp_path, progress=False, dataset=data, log=said.append)
    assert "resumed from step 2 of 4" in said
    assert result.meta["steps"] == 4 and [e["step"] for e in result.meta["evals"]] == [0, 2, 4]


def _example(split, target, ce, llm):
    ids = tuple(f"i{n}" for n in range(len(ce)))
    return FusionExample("u", split, target, ids, tuple(ce), tuple(llm))


def test_fusion_weight_is_tuned_on_validation_only():
    # the cross-encoder is right on these validation users, the LLM wrong: w = 0 wins
    val = [_example("validation", "i0", [3.0, 0.0, 0.0], [0.1, 0.8, 0.1]) for _ in range(5)]
    tuning = tune_fusion_weight(val)
    assert tuning.weight == 0.0 and tuning.split == "validation" and tuning.users == 5
    # the LLM is right: a weight near 1 wins
    val2 = [_example("validation", "i1", [3.0, 0.0, 0.0], [0.0, 1.0, 0.0]) for _ in range(5)]
    tuned = tune_fusion_weight(val2)
    assert tuned.weight == 0.5 and tuned.ndcg_at_10["1"] == 1.0  # ties go to the smaller weight
    with pytest.raises(ValueError, match="validation split only"):
        tune_fusion_weight(val + [_example("test", "i1", [0, 1, 0], [0, 1, 0])])
