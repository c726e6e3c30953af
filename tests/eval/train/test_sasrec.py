"""eval.train.sasrec / `recchat train sasrec`: pause and resume, settings guard, and the trained
model in the eval harness (toy data: each user watches consecutive items, so the next item is
predictable from the sequence)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.runner import run_eval
from eval.settings import EvalSettings
from eval.train.sasrec import SASRecTraining, train_sasrec
from eval.train.pipelines import TrainedAssets, trained_registry

from tests.eval.helpers import toy_dataset

TINY = SASRecTraining(dataset="toy", dim=32, heads=2, maxlen=10, dropout=0.0, lr=5e-3, batch_size=4, max_epochs=30,
                      eval_every=10, patience=2, val_users=12)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    """Trained in two sittings: paused after one epoch (``max_minutes=0``), then resumed."""
    folder = tmp_path_factory.mktemp("sasrec")
    data = toy_dataset()
    first = train_sasrec(TINY, folder, max_minutes=0, progress=False, data=data)
    assert first["status"] == "paused" and first["epochs"] == 1
    return folder, train_sasrec(TINY, folder, progress=False, data=data)


def test_resumed_run_continues_its_epochs_and_finishes(trained) -> None:
    folder, report = trained
    epochs = [json.loads(line)["epoch"] for line in (folder / "log.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, report["epochs"] + 1))  # no epoch redone, none skipped
    assert report["status"] == "finished" and report["best_epoch"] in {e["epoch"] for e in report["curve"]}
    assert json.loads((folder / "report.json").read_text())["val_ndcg10_best"] == report["val_ndcg10_best"]
    assert report["val_ndcg10_best"] > 0.5  # consecutive items: the order is learnable
    assert train_sasrec(TINY, folder, progress=False, data=toy_dataset())["epochs"] == report["epochs"]  # done: no-op


def test_other_settings_do_not_resume_an_unfinished_run(tmp_path) -> None:
    data = toy_dataset()
    train_sasrec(TINY, tmp_path, max_minutes=0, progress=False, data=data)
    with pytest.raises(ValueError, match="other settings"):
        train_sasrec(TINY.model_copy(update={"lr": 1e-4}), tmp_path, progress=False, data=data)
    report = train_sasrec(TINY.model_copy(update={"max_epochs": 2, "eval_every": 1}), tmp_path, fresh=True,
                          progress=False, data=data)
    assert report["epochs"] == 2


def test_trained_model_ranks_in_the_eval_harness(trained, tmp_path) -> None:
    folder, _ = trained
    data = toy_dataset()
    settings = EvalSettings(dataset="toy", protocol="full", pipelines=["popularity", "sasrec"], users=None, seed=0,
                            explain=False)
    doc = run_eval(settings, tmp_path / "r", registry=trained_registry(settings, data, TrainedAssets(sasrec=str(folder))),
                   dataset=data, home=tmp_path, progress=False, write_plots=False)
    ndcg = {name: p["metrics"]["ndcg@10"]["mean"] for name, p in doc["pipelines"].items()}
    assert ndcg["sasrec"] > 0.5 > ndcg["popularity"]
    assert doc["checkpoints"]["pipelines"]["sasrec"]["sasrec"]["sha256"]  # the weights the run used
