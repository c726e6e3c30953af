"""Ranker training: pair construction (no leakage), a tiny end-to-end run, reload, fusion tuning."""

from __future__ import annotations

import numpy as np
import pytest

from eval.splits import leave_one_out
from eval.train.ranker import (FusionExample, HistoryRetriever, RankerTrainConfig, build_pairs, pair_metrics,
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


def test_f1_threshold_is_chosen_between_logits():
    from eval.train.ranker import f1_threshold

    t = f1_threshold([1, 1, 0, 0, 0], [3.0, 1.0, 0.5, -1.0, -2.0])
    assert 0.5 < t < 1.0  # both positives above, every negative below: F1 = 1
    assert pair_metrics([1, 1, 0, 0, 0], [3.0, 1.0, 0.5, -1.0, -2.0], t)["f1"] == 1.0
    assert pair_metrics([1, 1, 0, 0, 0], [3.0, 1.0, 0.5, -1.0, -2.0])["f1"] < 1.0  # logit 0 lets 0.5 through
    assert f1_threshold([0, 0], [1.0, 2.0]) == 0.0


def test_pair_metrics():
    m = pair_metrics([1, 0, 0, 1], [2.0, -1.0, 0.5, -0.5])
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5 and m["roc_auc"] == 0.75
    assert m["loss"] == pytest.approx(np.mean(np.log1p(np.exp(-np.array([2.0, 1.0, -0.5, -0.5])))))


def test_tiny_training_improves_validation_loss_and_reloads_identically(data, tmp_path):
    from agent.ranking.cross_encoder import CrossEncoderRanker, RANKER_META, resolve_ranker

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
    from agent.ranking.cross_encoder import candidate_text

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


# ----------------------------------------------------------------------------- behaviour in the text


@pytest.fixture(scope="module")
def sasrec_toy(tmp_path_factory):
    """A tiny SASRec on the consecutive-items toy data (its next item is learnable)."""
    from eval.train.sasrec import SASRecTraining, train_sasrec
    from tests.eval.helpers import toy_dataset as consecutive_toy

    folder = tmp_path_factory.mktemp("sasrec")
    data = consecutive_toy()
    train_sasrec(SASRecTraining(dataset="toy", dim=32, heads=2, maxlen=10, dropout=0.0, lr=5e-3, batch_size=4,
                                max_epochs=10, eval_every=5, patience=2, val_users=12), folder, progress=False, data=data)
    return folder, data


def test_behaviour_text_buckets():
    from agent.ranking.cross_encoder import behaviour_text, popularity_shares

    assert behaviour_text(0, 0.0) == "behaviour rank 1; popularity top 1%"
    assert behaviour_text(4, 0.07) == "behaviour rank 4-5; popularity top 10%"
    assert behaviour_text(20, 0.5) == "behaviour rank 21-50; popularity bottom 50%"
    assert behaviour_text(500, None) == "behaviour rank over 500; popularity unknown"
    assert behaviour_text(None, 0.3) == "behaviour rank unknown; popularity top 50%"
    assert popularity_shares({"a": 9, "b": 5, "c": 5, "d": 1}) == {"a": 0.0, "b": 0.25, "c": 0.25, "d": 0.75}


def test_behaviour_pairs_come_from_the_list_on_validation_targets(sasrec_toy):
    from agent.ranking.cross_encoder import behaviour_text
    from eval.train.ranker import build_behaviour_pairs
    from retrieval.sasrec import SASRec

    folder, data = sasrec_toy
    model = SASRec.load(folder)
    seqs = user_sequences(data.interactions)
    validation = leave_one_out(data.interactions, "validation")
    popularity = {i: 0.5 for i in data.item_map}
    cfg = RankerTrainConfig(dataset="toy", behaviour=str(folder), list_k=5, negatives_per_positive=3,
                            report_negatives=4, val_users=10, max_train_pairs=None)
    pairs = build_behaviour_pairs(validation, data.item_map, {u: set(s) for u, s in seqs.items()}, cfg, model,
                                  popularity)
    train_users, es_users, report_users = ({p.user for p in ps} for ps in (pairs.train, pairs.val_es, pairs.val_report))
    assert len(es_users | report_users) == 10 and not train_users & (es_users | report_users)
    assert not es_users & report_users
    case_of = {c.user_id: c for c in validation.cases}
    for ps, negatives in ((pairs.train, 3), (pairs.val_es, 3), (pairs.val_report, 4)):
        by_user: dict[str, list] = {}
        for p in ps:
            by_user.setdefault(p.user, []).append(p)
        for user, group in by_user.items():
            case = case_of[user]
            listed = model.top(case.history, 5)
            assert [p.item for p in group if p.label] == [case.target]  # the validation item, never the test one
            kinds = {p.kind for p in group if not p.label}
            assert kinds == ({"hard"} if case.target in listed else {"random"})
            if kinds == {"random"}:
                assert len(group) == 1 + negatives
            else:  # the rest of the list, less what the user has seen, may be shorter
                assert 2 <= len(group) <= min(1 + negatives, 5)
            for p in group:
                assert p.rank == model.ranks(case.history, [p.item])[0]
                assert p.behaviour == behaviour_text(p.rank, 0.5)
                if not p.label:
                    assert p.item not in seqs[user]
                    assert p.kind == "random" or p.item in listed
    assert pairs.stats["train_hard_negatives"] > 0  # the toy SASRec puts some targets in its top 5


def test_behaviour_ranker_trains_and_reranks_in_the_sampled_protocol(sasrec_toy, tmp_path):
    from agent.ranking.cross_encoder import BEHAVIOUR_FILE, CrossEncoderRanker
    from eval.runner import run_eval
    from eval.settings import EvalSettings
    from eval.train.pipelines import TrainedAssets, trained_registry

    folder, data = sasrec_toy
    cfg = RankerTrainConfig(dataset="toy", name="beh", behaviour=str(folder), list_k=5, max_train_pairs=64,
                            val_users=10, report_negatives=4, max_length=64, epochs=1, batch_size=16, lr=5e-4,
                            eval_every=100, threads=1, train_layers=1)
    result = train_ranker(cfg, home=tmp_path, progress=False, dataset=data, log=lambda m: None)
    assert (result.path / BEHAVIOUR_FILE).is_file() and (result.path / "behaviour_head.pt").is_file()
    by_list = result.meta["metrics"]["heldout_by_list"]["all"]
    assert 0.0 <= by_list["roc_auc"] <= 1.0 and by_list["roc_auc_behaviour_rank_alone"] > 0.5
    assert CrossEncoderRanker(result.path).behaviour["source"] == str(folder)

    settings = EvalSettings(dataset="toy", protocol="sampled", pipelines=["sasrec", "sasrec+ranker"], users=None,
                            seed=0, explain=False)
    registry = trained_registry(settings, data, TrainedAssets(sasrec=str(folder), ranker=str(result.path)))
    doc = run_eval(settings, tmp_path / "r", registry=registry, dataset=data, home=tmp_path, progress=False,
                   write_plots=False)
    reranked = doc["pipelines"]["sasrec+ranker"]
    assert reranked["metrics"]["ndcg@10"]["mean"] > 0.0
    assert doc["models"]["sasrec+ranker"]["ranker_behaviour"] == str(folder)
