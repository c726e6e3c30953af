"""``recchat eval`` wiring: the behavioural pipelines are exposed; checkpoint-needing ones fail
up front with the training command; the recorded command reproduces the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval.settings import EvalSettings
from eval.trained_pipelines import TrainedAssets, require_checkpoints
from ui.commands_eval import canonical_command, eval_registry, register

from .helpers import toy_dataset


def test_registry_exposes_knn_pipelines_without_checkpoints():
    s = EvalSettings(dataset="toy", pipelines=["popularity", "knn", "retrieval+knn"], users=5)
    names = eval_registry(s, toy_dataset()).names
    assert {"popularity", "retrieval", "retrieval+llm", "knn", "retrieval+knn"} <= set(names)


@pytest.mark.parametrize("name,needs", [("retrieval+ranker", "recchat train ranker"),
                                        ("retrieval-ft", "recchat train retriever")])
def test_checkpoint_pipelines_fail_naming_the_train_command(name, needs):
    with pytest.raises(ValueError, match=needs) as info:
        require_checkpoints(["popularity", name], TrainedAssets())
    assert "recchat train eval" in str(info.value) and name in str(info.value)
    require_checkpoints([name], TrainedAssets(ranker="r", retriever="t"))  # named: fine


def test_cli_refuses_a_checkpoint_pipeline_before_any_work(tmp_path: Path):
    import typer

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands, so 'eval' is addressed by name
    res = CliRunner().invoke(app, ["eval", "--dataset", "movielens-100k", "--pipelines", "popularity,knn+ranker",
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and "recchat train ranker" in " ".join(res.output.split())
    assert not (tmp_path / "r").exists()


def test_canonical_command_records_llm_options_only_for_llm_pipelines(tmp_path: Path):
    knn = EvalSettings(dataset="movielens-1m", pipelines=["popularity", "retrieval+knn"], users=200)
    assert "--llm" not in canonical_command(knn, tmp_path)
    llm = EvalSettings(dataset="movielens-1m", pipelines=["retrieval+llm"], users=200, explain_users=30, permutations=2)
    cmd = canonical_command(llm, tmp_path)
    assert "--permutations 2" in cmd and "--explain-users 30" in cmd
