"""The audit records a reply carries keep the whole LLM exchange (for the "why?" view)."""

from agent.conversation import _audit
from agent.llm.engine import LLMCall


def test_audit_keeps_messages_and_output():
    call = LLMCall(kind="generate_json", backend="vllm", model="m", messages=[{"role": "user", "content": "hi"}],
                   output={"explanations": []}, prompt_tokens=3, completion_tokens=2, latency_s=0.123456)
    (rec,) = _audit([call])
    assert rec["messages"] == [{"role": "user", "content": "hi"}] and rec["output"] == {"explanations": []}
    assert rec["latency_s"] == 0.1235 and rec["backend"] == "vllm" and rec["error"] is None
