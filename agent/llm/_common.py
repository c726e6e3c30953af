"""Helpers shared by the engine backends (private): label ids, renormalisation, JSON checks.

Nothing here imports torch, transformers or httpx.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from agent.llm.engine import EngineError, LLMCall, Message, record_in_scope

CHAT_TEMPLATE_KWARGS: dict[str, Any] = {"enable_thinking": False}
"""Passed to every chat template: Qwen3-style templates would otherwise open a think block
(templates that do not use the variable ignore it)."""


def as_dicts(messages: Iterable[Message | dict[str, str]]) -> list[dict[str, str]]:
    """Messages as OpenAI-style ``{"role", "content"}`` dicts."""
    out: list[dict[str, str]] = []
    for m in messages:
        out.append(m.as_dict() if isinstance(m, Message) else {"role": m["role"], "content": m["content"]})
    return out


def with_prefill(messages: list[dict[str, str]], prefill: str) -> tuple[list[dict[str, str]], bool]:
    """``(messages, continue_final)``: with a non-empty ``prefill`` an assistant message is appended
    and the template must continue it (``continue_final_message``); else a generation prompt."""
    if prefill:
        return [*messages, {"role": "assistant", "content": prefill}], True
    return list(messages), False


def render_chat(tokenizer: Any, messages: list[dict[str, str]], prefill: str = "") -> str:
    """The prompt text an OpenAI-compatible server builds: the chat template with a generation
    prompt, or continuing the final assistant message ``prefill`` when it is non-empty."""
    msgs, continue_final = with_prefill(messages, prefill)
    return tokenizer.apply_chat_template(
        msgs,
        tokenize=False,
        add_generation_prompt=not continue_final,
        continue_final_message=continue_final,
        **CHAT_TEMPLATE_KWARGS,
    )


def label_ids_in_context(
    encode_chat: Callable[[list[dict[str, str]], str], list[int]],
    messages: list[dict[str, str]],
    prefill: str,
    labels: Sequence[str],
) -> list[int]:
    """The token id of each label as the NEXT token after ``messages`` + assistant ``prefill``.

    ``encode_chat(messages, prefill)`` returns the prompt ids exactly as the backend builds
    them. A label is valid when ``encode_chat(messages, prefill + label)`` equals the prompt ids
    plus ONE token (no merge across the boundary); the ids must be distinct. Otherwise
    :class:`EngineError` names every offending label. The context matters: in many tokenizers
    ``"A"`` alone and ``"A"`` after ``"("`` are different tokens.
    """
    if not labels:
        raise EngineError("score_choices needs at least one label")
    if len(set(labels)) != len(labels):
        raise EngineError(f"labels are not distinct: {list(labels)}")
    base = encode_chat(messages, prefill)
    ids: list[int] = []
    bad: dict[str, list[int]] = {}
    for label in labels:
        full = encode_chat(messages, prefill + label)
        if len(full) == len(base) + 1 and full[: len(base)] == base:
            ids.append(full[-1])
        else:
            common = 0
            while common < min(len(base), len(full)) and base[common] == full[common]:
                common += 1
            bad[label] = full[common:]
    if bad:
        raise EngineError(
            f"labels that are not exactly one token after the prefill {prefill[-20:]!r}: {bad}"
        )
    if len(set(ids)) != len(ids):
        raise EngineError(f"labels {list(labels)} map to repeated token ids {ids}")
    return ids


def renormalise(logprobs: Sequence[float]) -> tuple[list[float], float]:
    """``(renormalised logprobs, label mass)``: ``v - logsumexp(values)``; the mass is the
    model's total probability on the labels (before renormalisation), in [0, 1]."""
    top = max(logprobs)
    if not math.isfinite(top):
        raise EngineError("every label has probability 0")
    lse = top + math.log(sum(math.exp(v - top) for v in logprobs))
    return [v - lse for v in logprobs], math.exp(min(lse, 0.0))


def parse_json(text: str, schema: dict[str, Any]) -> Any:
    """Parse ``text`` as JSON and validate it against ``schema`` (with ``jsonschema`` when it is
    installed). Raises :class:`EngineError` on malformed or non-conforming output."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise EngineError(f"malformed JSON from the LLM ({exc}): {str(text)[:200]!r}") from exc
    problem = schema_violation(value, schema)
    if problem is not None:
        raise EngineError(f"LLM JSON does not match the schema: {problem}")
    return value


def schema_violation(value: Any, schema: dict[str, Any]) -> str | None:
    """A message describing why ``value`` violates ``schema``, or None when it conforms (or
    when ``jsonschema`` is not installed and only parsing could be checked)."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema comes with vllm / transformers extras
        return None
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        return exc.message
    except jsonschema.SchemaError as exc:
        return f"invalid schema: {exc.message}"
    return None


def cached_label_ids(
    cache: dict[tuple[tuple[str, ...], str], list[int]],
    encode_chat: Any,
    labels: list[str],
    messages: Any = None,
    prefill: str = "",
) -> list[int]:
    """:func:`label_ids_in_context` memoised in ``cache`` per ``(labels, prefill)``; a
    one-message probe stands in when ``messages`` is None (shared by both engines)."""
    key = (tuple(labels), prefill)
    ids = cache.get(key)
    if ids is None:
        probe = as_dicts(messages) if messages else [{"role": "user", "content": "Answer with a letter."}]
        ids = label_ids_in_context(encode_chat, probe, prefill, labels)
        cache[key] = ids
    return ids


class CallLog:
    """Thread-safe appends to an engine's ``calls`` list."""

    def __init__(self, calls: list[LLMCall]) -> None:
        self._calls = calls
        self._lock = threading.Lock()

    def add(self, call: LLMCall) -> LLMCall:
        with self._lock:
            self._calls.append(call)
        record_in_scope(call)
        return call


def scoring_prompts(engine: Any, conversations: list[list[Message]], labels: list[str],
                    prefill: str) -> tuple[list[int], list[Any]]:
    """(label token ids, one encoded prompt per conversation) for an in-process engine's
    ``score_choices`` (it has ``label_token_ids`` and ``encode_chat``); any failure becomes an
    :class:`EngineError`."""
    try:
        ids = engine.label_token_ids(labels, conversations[0], prefill)
        return ids, [engine.encode_chat(conv, prefill) for conv in conversations]
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise EngineError(f"cannot build the scoring prompts: {type(exc).__name__}: {exc}") from exc
