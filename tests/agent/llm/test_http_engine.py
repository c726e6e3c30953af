"""HttpEngine against a real vLLM server (SmolLM2, session fixture ``vllm_engine``)."""

from __future__ import annotations

import math
import time

import pytest

from agent.llm.engine import EngineError, Message
from agent.llm.http_engine import HttpEngine

pytestmark = pytest.mark.slow

LABELS = [chr(ord("A") + i) for i in range(20)]
PREFILL = "Answer: ("


def conversation(taste: str, n: int = 20) -> list[Message]:
    lines = "\n".join(f"({LABELS[i]}) Movie {i} ({1980 + i}) - {'thriller' if i % 3 else 'comedy'}" for i in range(n))
    return [
        Message("system", "You rank movies for a user. Reply with the letter of the best candidate."),
        Message("user", f"I like {taste}.\nCandidates:\n{lines}"),
    ]


def test_label_logprobs_for_every_label_renormalised(vllm_engine: HttpEngine) -> None:
    before = len(vllm_engine.calls)
    [scores] = vllm_engine.score_choices([conversation("tense thrillers")], LABELS, prefill=PREFILL)
    assert list(scores) == LABELS
    assert all(v <= 0 and math.isfinite(v) for v in scores.values())
    assert math.isclose(sum(math.exp(v) for v in scores.values()), 1.0, abs_tol=1e-6)
    call = vllm_engine.calls[before]
    assert call.kind == "score_choices" and call.backend == "vllm-http" and call.error is None
    assert call.prompt_tokens > 50 and call.completion_tokens == 1 and call.latency_s > 0
    assert call.messages[-1] == {"role": "assistant", "content": PREFILL}
    assert 0 < call.output["label_mass"] <= 1 and call.output["top"] in LABELS


def test_label_ids_are_exact_in_context(vllm_engine: HttpEngine) -> None:
    conv = conversation("dramas")
    ids = vllm_engine.label_token_ids(LABELS, conv, PREFILL)
    prompt = vllm_engine.encode_chat(conv, PREFILL)
    for label, tid in zip(LABELS, ids):
        assert vllm_engine.encode_chat(conv, PREFILL + label) == [*prompt, tid]
    remote = HttpEngine(vllm_engine.base_url, timeout_s=60)  # no local tokenizer: /tokenize
    try:
        assert remote.tokenizer is None
        assert remote.model == "smollm2"
        assert remote.encode_chat(conv, PREFILL) == prompt
        assert remote.label_token_ids(LABELS, conv, PREFILL) == ids
        assert remote.count_tokens("hello world") == vllm_engine.count_tokens("hello world") == 2
    finally:
        remote.close()


def test_multi_token_label_is_an_engine_error(vllm_engine: HttpEngine) -> None:
    with pytest.raises(EngineError, match="not exactly one token"):
        vllm_engine.score_choices([conversation("x")], ["A", "Zodiac"], prefill=PREFILL)


def test_batch_of_conversations_keeps_order(vllm_engine: HttpEngine) -> None:
    convs = [conversation("tense thrillers"), conversation("silly comedies"), conversation("tense thrillers"),
             conversation("old westerns"), conversation("silly comedies", n=10)]
    labels = LABELS[:10]
    before = len(vllm_engine.calls)
    t0 = time.perf_counter()
    batch = vllm_engine.score_choices(convs, labels, prefill=PREFILL)
    elapsed = time.perf_counter() - t0
    single = [vllm_engine.score_choices([c], labels, prefill=PREFILL)[0] for c in convs]
    assert len(batch) == len(convs)
    for got, want in zip(batch, single):
        assert max(abs(got[k] - want[k]) for k in labels) < 0.05  # bf16 batching noise only
    assert batch[0] == pytest.approx(batch[2], abs=0.05)
    assert max(abs(batch[0][k] - batch[3][k]) for k in labels) > 1e-4  # different prompts differ
    assert len(vllm_engine.calls) - before == 2 * len(convs)
    assert elapsed < 60


def test_generate_json_respects_an_enum_schema(vllm_engine: HttpEngine) -> None:
    ids = ["m12", "m7", "m301"]
    schema = {
        "type": "object",
        "properties": {
            "picks": {"type": "array", "minItems": 1, "maxItems": 2,
                      "items": {"type": "object",
                                "properties": {"item_id": {"type": "string", "enum": ids},
                                               "reason": {"type": "string", "maxLength": 60}},
                                "required": ["item_id", "reason"], "additionalProperties": False}},
        },
        "required": ["picks"],
        "additionalProperties": False,
    }
    msgs = [Message("user", "Recommend for a thriller fan: m12 Zodiac, m7 Frozen, m301 Cars. Give JSON.")]
    value = vllm_engine.generate_json(msgs, schema, max_tokens=200)
    assert 1 <= len(value["picks"]) <= 2
    assert all(p["item_id"] in ids for p in value["picks"])
    call = vllm_engine.calls[-1]
    assert call.kind == "generate_json" and call.output == value and call.error is None
    assert call.completion_tokens > 0 and call.prompt_tokens > 0


def test_truncated_json_is_an_engine_error(vllm_engine: HttpEngine) -> None:
    schema = {"type": "object", "properties": {"reason": {"type": "string", "minLength": 50}}, "required": ["reason"]}
    with pytest.raises(EngineError, match="truncated"):
        vllm_engine.generate_json([Message("user", "Explain.")], schema, max_tokens=3)
    assert vllm_engine.calls[-1].error is not None


def test_too_short_timeout_is_an_engine_error(vllm_engine: HttpEngine) -> None:
    impatient = HttpEngine(vllm_engine.base_url, model="smollm2", timeout_s=0.001, retries=0,
                           tokenizer_path=vllm_engine.tokenizer_path)
    try:
        t0 = time.perf_counter()
        with pytest.raises(EngineError, match="timed out"):
            impatient.score_choices([conversation("long " * 200)], LABELS, prefill=PREFILL)
        assert time.perf_counter() - t0 < 10
        assert impatient.calls[-1].error and "timed out" in impatient.calls[-1].error
    finally:
        impatient.close()


def test_time_budget_cancels_the_generation_on_the_server(vllm_engine: HttpEngine) -> None:
    """A ``timeout_s`` shorter than the generation raises EngineTimeout, and vLLM aborts the request
    when the connection closes (its running-requests gauge returns to 0 long before the 400 tokens
    the request asked for could have been decoded at SmolLM2's ~55 tokens/s)."""
    import httpx

    from agent.llm.engine import EngineTimeout

    schema = {"type": "object", "properties": {"story": {"type": "string", "minLength": 2000}}, "required": ["story"]}
    with pytest.raises(EngineTimeout, match="timed out after 0.5 s"):
        vllm_engine.generate_json([Message("user", "Tell a very long story.")], schema, max_tokens=400, timeout_s=0.5)

    def running() -> float:
        text = httpx.get(vllm_engine.base_url.removesuffix("/v1") + "/metrics", timeout=10).text
        rows = [line for line in text.splitlines() if line.startswith("vllm:num_requests_running")]
        return sum(float(line.rsplit(" ", 1)[1]) for line in rows)

    deadline = time.perf_counter() + 3.0
    while running() > 0 and time.perf_counter() < deadline:
        time.sleep(0.1)
    assert running() == 0


def test_rejected_request_is_not_retried(vllm_engine: HttpEngine) -> None:
    too_long = [Message("user", "word " * 3000)]  # > max_model_len 2048: HTTP 400
    with pytest.raises(EngineError, match="HTTP 400"):
        vllm_engine.generate_json(too_long, {"type": "object"}, max_tokens=5)


def test_closed_engine_raises(vllm_engine: HttpEngine) -> None:
    engine = HttpEngine(vllm_engine.base_url, model="smollm2")
    engine.close()
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.generate_json([Message("user", "hi")], {"type": "object"})
