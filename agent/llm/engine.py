"""The LLM engine interface every backend implements, and the audit record of one call.

Backends (``agent.llm.http_engine.HttpEngine`` for an OpenAI-compatible vLLM server,
``agent.llm.transformers_engine.TransformersEngine`` in process) are created by
``agent.llm.engines.make_engine(settings)`` and imported lazily.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message sent to the LLM."""

    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass
class LLMCall:
    """Audit record of one engine call (kept per engine; a session copies what it needs).

    ``latency_s`` is wall-clock seconds; token counts are as reported by the backend (0 if unknown).
    """

    kind: Literal["score_choices", "generate_json"]
    backend: str
    model: str
    messages: list[dict[str, str]]
    output: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    started_at: float = field(default_factory=time.time)


_AUDIT_SCOPE: ContextVar[list[LLMCall] | None] = ContextVar("recchat_audit_scope", default=None)


@contextmanager
def audit_scope() -> Iterator[list[LLMCall]]:
    """Collect the :class:`LLMCall` records made in this context (thread/async-context local,
    so concurrent sessions sharing one engine each see only their own calls)."""
    calls: list[LLMCall] = []
    token = _AUDIT_SCOPE.set(calls)
    try:
        yield calls
    finally:
        _AUDIT_SCOPE.reset(token)


def record_in_scope(call: LLMCall) -> None:
    """Append ``call`` to the current :func:`audit_scope`, if any (engines call this)."""
    scope = _AUDIT_SCOPE.get()
    if scope is not None:
        scope.append(call)


class EngineError(RuntimeError):
    """The engine could not answer (server down, timeout, malformed output). Callers degrade."""


class EngineTimeout(EngineError):
    """A request ran past its time limit and was abandoned (a server aborts it when the connection closes)."""


class Engine(abc.ABC):
    """A generative LLM behind two operations. Implementations must be safe to call from threads."""

    backend: str = "abstract"
    model: str = ""

    def __init__(self) -> None:
        self.calls: list[LLMCall] = []

    @abc.abstractmethod
    def score_choices(
        self, conversations: list[list[Message]], labels: list[str], prefill: str = ""
    ) -> list[dict[str, float]]:
        """One forward pass per conversation; natural-log probabilities of each label token as
        the next token after the (optional) assistant ``prefill``.

        Returns one ``{label: logprob}`` per conversation, every label present, renormalised over
        ``labels`` (so ``sum(exp(v)) == 1``). Conversations are sent together so the backend can
        batch them. Raises :class:`EngineError` on failure.
        """

    @abc.abstractmethod
    def generate_json(
        self, messages: list[Message], schema: dict[str, Any], max_tokens: int = 512, timeout_s: float | None = None
    ) -> Any:
        """Generate one JSON value constrained by ``schema``; returns the parsed value.

        ``timeout_s`` (seconds; None = the engine's own request timeout) bounds this call: past it
        the generation is abandoned and :class:`EngineTimeout` raised. Raises :class:`EngineError`
        on failure or when the output does not parse.
        """

    @abc.abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` in this model's tokenizer."""

    def close(self) -> None:
        """Release resources (stop a server this engine started). Idempotent."""
