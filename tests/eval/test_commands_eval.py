"""``recchat eval`` wiring: the behavioural pipelines are exposed; checkpoint-needing ones fail
up front with the training command; the recorded command reproduces the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.settings import AgentSettings
from eval.settings import EvalSettings
from eval.train.pipelines import TrainedAssets, require_checkpoints
from ui.commands_eval import canonical_command, eval_registry, register

from .helpers import toy_dataset


def test_registry_exposes_knn_pipelines_without_checkpoints():
    s = EvalSettings(dataset="toy", pipelines=["popularity", "knn", "retrieval+knn"], users=5)
    names = eval_registry(s, toy_dataset()).names
    assert {"popularity", "retrieval", "retrieval+llm", "knn", "retrieval+knn"} <= set(names)


@pytest.mark.parametrize("name,needs", [("retrieval+ranker", "recchat train ranker"), ("sasrec", "recchat train sasrec"),
                                        ("retrieval-ft", "recchat train retriever")])
def test_checkpoint_pipelines_fail_naming_the_train_command(name, needs):
    with pytest.raises(ValueError, match=needs) as info:
        require_checkpoints(["popularity", name], TrainedAssets())
    assert "recchat train eval" in str(info.value) and name in str(info.value)
    require_checkpoints([name], TrainedAssets(ranker="r", retriever="t", sasrec="s"))  # named: fine


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
    cmd = canonical_command(knn, tmp_path, env={})
    assert cmd == f"recchat eval --dataset movielens-1m --protocol sampled --pipelines popularity,retrieval+knn " \
                  f"--users 200 --seed 0 --out {tmp_path}"
    llm = EvalSettings(dataset="movielens-1m", pipelines=["retrieval+llm"], users=200, explain_users=30, concurrency=2,
                       agent=AgentSettings(llm="qwen2.5-coder-0.5b-instruct", permutations=2))
    cmd = canonical_command(llm, tmp_path, env={})
    assert ("--llm qwen2.5-coder-0.5b-instruct --permutations 2 --concurrency 2 --explain-users 30 "
            f"--out {tmp_path}") in cmd
    assert "--no-explain" in canonical_command(llm.model_copy(update={"explain": False}), tmp_path, env={})


def test_canonical_command_records_the_environment_and_every_passed_option(tmp_path: Path):
    s = EvalSettings(dataset="movielens-1m", pipelines=["popularity"], users=200, concurrency=3)
    env = {"RECCHAT_AGENT_REQUEST_TIMEOUT_S": "300", "VLLM_CPU_KVCACHE_SPACE": "4", "PATH": "/usr/bin",
           "RECCHAT_AGENT_LLM_API_KEY": "s3cret", "RECCHAT_AGENT_SESSIONS_URL": "postgresql://me:pw@db/x",
           "OMP_NUM_THREADS": "2"}
    passed = {"concurrency": 3, "candidates_file": tmp_path / "c.json", "fresh": True, "llm_url": "http://h:1/v1",
              "compare_pipelines": "a,b"}
    cmd = canonical_command(s, tmp_path, passed=passed, env=env)
    assert cmd.startswith("OMP_NUM_THREADS=2 RECCHAT_AGENT_LLM_API_KEY='<redacted>' "
                          "RECCHAT_AGENT_REQUEST_TIMEOUT_S=300 "
                          "RECCHAT_AGENT_SESSIONS_URL='postgresql://me:<redacted>@db/x' VLLM_CPU_KVCACHE_SPACE=4 "
                          "recchat eval --dataset movielens-1m ")
    assert "PATH" not in cmd and "s3cret" not in cmd and ":pw@" not in cmd
    for part in ("--llm-url http://h:1/v1", "--concurrency 3", f"--candidates-file {tmp_path / 'c.json'}", "--fresh"):
        assert part in cmd
    assert "--pipelines-pair" not in cmd and cmd.endswith(f"--out {tmp_path}")


def test_cli_records_env_and_passed_options_in_results(tmp_path: Path, monkeypatch):
    """Through the real command: a run with options the old canonical command dropped."""
    import json

    import typer

    import ui.commands_eval as ce
    from eval.data import load_dataset as real_load

    monkeypatch.setenv("RECCHAT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "3")
    monkeypatch.setattr("eval.data.load_dataset", lambda name: toy_dataset() if name == "toy" else real_load(name))
    app = typer.Typer()
    ce.register(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["eval", "--dataset", "toy", "--pipelines", "popularity,knn", "--users", "5",
                                   "--concurrency", "3", "--permutations", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    env, _, cli = doc["command"].partition(" recchat eval ")
    assert f"RECCHAT_HOME={tmp_path / 'home'}" in env.split() and "VLLM_CPU_KVCACHE_SPACE=3" in env.split()
    assert "--permutations 2 --concurrency 3" in cli and cli.endswith(f"--out {out}")
    assert doc["environment"]["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert doc["agent_config"]["permutations"] == 2 and doc["config"]["concurrency"] == 3


def test_train_eval_records_the_same_provenance(tmp_path: Path, monkeypatch):
    import json

    import typer

    from eval.data import load_dataset as real_load
    from ui.commands_train import register as register_train

    monkeypatch.setenv("RECCHAT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECCHAT_AGENT_REQUEST_TIMEOUT_S", "123")
    monkeypatch.setattr("eval.data.load_dataset", lambda name: toy_dataset() if name == "toy" else real_load(name))
    app = typer.Typer()
    register_train(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "t"
    res = CliRunner().invoke(app, ["train", "eval", "--out", str(out), "--dataset", "toy", "--protocol", "sampled",
                                   "--pipelines", "popularity,knn", "--users", "6", "--limit-users", "3", "--fresh"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    env, _, cli = doc["command"].partition(" recchat train eval ")
    assert "RECCHAT_AGENT_REQUEST_TIMEOUT_S=123" in env.split()
    assert cli == (f"--out {out} --dataset toy --protocol sampled --pipelines popularity,knn --users 6 --split test "
                   "--limit-users 3 --seed 0 --fresh")
    assert doc["agent_config"]["request_timeout_s"] == 123.0 and doc["users"] == {"sample": 6, "evaluated": 3}
    assert "catalog_jsonl_sha256" in doc["data_files"]
