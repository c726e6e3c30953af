"""TransformersEngine (in process, SmolLM2): label logprobs, batching, constrained JSON, audit."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.llm.engine import EngineError, Message
from agent.llm.transformers_engine import TransformersEngine

LABELS = list("ABCDEFGH")
PREFILL = "Answer: ("


def conversation(taste: str, n: int = 8) -> list[Message]:
    lines = "\n".join(f"({LABELS[i]}) Movie {i} ({1990 + i})" for i in range(n))
    return [Message("system", "Reply with the letter of the best movie."), Message("user", f"I like {taste}.\n{lines}")]


@pytest.fixture(scope="module")
def engine(smollm2_dir: Path) -> Iterator[TransformersEngine]:
    eng = TransformersEngine(smollm2_dir, model_name="smollm2", batch_size=3)
    yield eng
    eng.close()


def test_label_logprobs_renormalised_and_audited(engine: TransformersEngine) -> None:
    before = len(engine.calls)
    [scores] = engine.score_choices([conversation("thrillers")], LABELS, prefill=PREFILL)
    assert list(scores) == LABELS
    assert math.isclose(sum(math.exp(v) for v in scores.values()), 1.0, abs_tol=1e-6)
    call = engine.calls[before]
    assert call.kind == "score_choices" and call.backend == "transformers" and call.model == "smollm2"
    assert call.prompt_tokens > 20 and call.latency_s > 0 and call.error is None
    assert call.output["logprobs"] == scores and 0 < call.output["label_mass"] <= 1


def test_left_padded_batches_match_single_passes(smollm2_dir: Path) -> None:
    """Padding is masked right: a batch scores like single passes. In float32, so the comparison
    tests the padding and not bfloat16 rounding (which differs with the batch shape: up to 0.22
    in logprob on this CPU, on the code before and after the change that added this note)."""
    engine = TransformersEngine(smollm2_dir, model_name="smollm2", batch_size=3, dtype="float32")
    convs = [conversation("thrillers"), conversation("a much longer description of slow quiet dramas", 5),
             conversation("comedies", 8), conversation("westerns", 6)]
    labels = LABELS[:5]
    batch = engine.score_choices(convs, labels, prefill=PREFILL)  # batch_size 3: two batches
    single = [engine.score_choices([c], labels, prefill=PREFILL)[0] for c in convs]
    engine.close()
    for got, want in zip(batch, single):
        assert max(abs(got[k] - want[k]) for k in labels) < 0.05


def test_label_ids_in_context_and_errors(engine: TransformersEngine) -> None:
    conv = conversation("x")
    ids = engine.label_token_ids(LABELS, conv, PREFILL)
    assert engine.encode_chat(conv, PREFILL + "C")[-1] == ids[2]
    with pytest.raises(EngineError, match="not exactly one token"):
        engine.score_choices([conv], ["A", "Zodiac"], prefill=PREFILL)
    with pytest.raises(EngineError, match="not distinct"):
        engine.score_choices([conv], ["A", "A"], prefill=PREFILL)
    assert engine.count_tokens("hello world") == 2


def test_generate_json_respects_an_enum_schema(engine: TransformersEngine) -> None:
    ids = ["m12", "m7", "m301"]
    schema = {"type": "object",
              "properties": {"item_id": {"type": "string", "enum": ids}, "reason": {"type": "string", "maxLength": 40}},
              "required": ["item_id", "reason"], "additionalProperties": False}
    value = engine.generate_json([Message("user", "Pick for a thriller fan: m12 Zodiac, m7 Frozen, m301 Cars.")],
                                 schema, max_tokens=80)
    assert value["item_id"] in ids and isinstance(value["reason"], str)
    call = engine.calls[-1]
    assert call.kind == "generate_json" and call.output == value and call.completion_tokens > 0


def test_closed_engine_raises(smollm2_dir: Path) -> None:
    eng = TransformersEngine(smollm2_dir)
    eng.close()
    with pytest.raises(EngineError, match="closed"):
        eng.score_choices([conversation("x")], LABELS, prefill=PREFILL)


def test_missing_model_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError):
        TransformersEngine(tmp_path / "nothing").count_tokens("hi")


@pytest.mark.slow
def test_agrees_with_vllm(engine: TransformersEngine, vllm_engine: object) -> None:
    convs = [conversation("thrillers"), conversation("comedies")]
    ours = engine.score_choices(convs, LABELS, prefill=PREFILL)
    theirs = vllm_engine.score_choices(convs, LABELS, prefill=PREFILL)  # type: ignore[attr-defined]
    for a, b in zip(ours, theirs):  # bf16 kernels differ: compare probabilities, not logprobs
        assert max(abs(math.exp(a[k]) - math.exp(b[k])) for k in LABELS) < 0.05, (a, b)
