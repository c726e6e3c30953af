"""``recchat bench gpu``: the architecture table, the CPU refusal of --device cuda, and the whole
check on a CPU with the tiny architecture (slow)."""

import json

import pytest
from typer.testing import CliRunner

from bench.gpu_check import ARCHS, model_dir, run
from ui.cli import app


def test_qwen7b_architecture_has_qwen2_5_7b_parameter_count(tmp_path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from agent.llm.engines import resolve_model

    folder = model_dir("qwen2.5-7b", resolve_model("qwen2.5-coder-0.5b-instruct"), tmp_path / "m")
    assert (folder / "tokenizer.json").is_file()
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder))
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(7.62e9, rel=0.01)  # Qwen2.5-7B: 7.61B


def test_model_dir_refuses_unknown_arch_and_missing_tokenizer(tmp_path):
    with pytest.raises(ValueError, match="unknown arch"):
        model_dir("llama-70b", tmp_path, tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="no tokenizer"):
        model_dir("tiny", tmp_path / "empty", tmp_path / "m")


def test_cli_refuses_cuda_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    result = CliRunner().invoke(app, ["bench", "gpu", "--out", str(tmp_path / "g.json")])
    assert result.exit_code != 0 and "no CUDA device" in result.output
    assert not (tmp_path / "g.json").exists()


@pytest.mark.slow
def test_tiny_check_runs_end_to_end_on_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    res = run(out, arch="tiny", device="cpu", prompts=4, batch_size=2, explain_tokens=6, explain_batch=2,
              embed_items=256, vllm=False)
    assert json.loads(out.read_text()) == res
    assert res["rerank_transformers"]["prompts"] == 4 and res["rerank_transformers"]["prompts_per_s"] > 0
    assert res["rerank_prompt_tokens"] > 20 * 20  # 20 candidate lines
    assert set(res["explain_transformers"]) >= {"batch_1", "batch_2"}
    assert res["embed"]["dim"] == 384 and res["embed"]["items"] == 256
    assert res["architecture"] == ARCHS["tiny"] and res["gpu"] is None
