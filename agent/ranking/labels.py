"""Label tokens of the verbalizer, derived from the tokenizer in the exact prompt context.

The rerank prompt ends (after the chat template's assistant header) with the prefill
``"Answer: ("``, and each candidate's label is the bare letter that follows. Tokenizers merge
differently by context (in Qwen "(C" is one token), so a label is accepted only if, appended to
the rendered prompt, it adds exactly ONE token and leaves the prompt's tokens unchanged.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

LETTERS = string.ascii_uppercase
DEFAULT_PREFILL = "Answer: ("


class Tokenizer(Protocol):
    """The part of a Hugging Face tokenizer used here."""

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


class LabelTokenError(ValueError):
    """Some labels are not a single token in the prompt context; ``offending`` maps each to its
    token pieces."""

    def __init__(self, offending: Mapping[str, list[str]], context_tail: str) -> None:
        self.offending = dict(offending)
        detail = ", ".join(f"{k!r} -> {v}" for k, v in self.offending.items())
        super().__init__(
            f"labels that are not exactly one token after {context_tail!r}: {detail}. "
            "Change the prefill/prompt ending or the label alphabet."
        )


def candidate_labels(n: int) -> list[str]:
    """The first ``n`` labels: ``A``, ``B``, ... (1 <= n <= 26)."""
    if not 1 <= n <= len(LETTERS):
        raise ValueError(f"between 1 and {len(LETTERS)} labels, got {n}")
    return list(LETTERS[:n])


def label_token_ids(tokenizer: Tokenizer, prompt: str, labels: Sequence[str]) -> dict[str, int]:
    """Token id of each label as the next token after ``prompt`` (the fully rendered text).

    Raises :class:`LabelTokenError` listing every label that does not add exactly one token
    or that changes the tokens of ``prompt`` (a merge across the boundary), and ValueError for
    duplicate labels or labels sharing a token id.
    """
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels: {list(labels)}")
    base = _encode(tokenizer, prompt)
    ids: dict[str, int] = {}
    offending: dict[str, list[str]] = {}
    for label in labels:
        full = _encode(tokenizer, prompt + label)
        if len(full) == len(base) + 1 and full[: len(base)] == base:
            ids[label] = full[-1]
        else:
            common = 0
            while common < min(len(base), len(full)) and base[common] == full[common]:
                common += 1
            offending[label] = _pieces(tokenizer, full[common:])
    if offending:
        raise LabelTokenError(offending, prompt[-40:])
    if len(set(ids.values())) != len(ids):
        raise ValueError(f"labels share token ids: {ids}")
    return ids


def chat_prompt(tokenizer: Any, messages: Sequence[Mapping[str, str]], prefill: str = DEFAULT_PREFILL) -> str:
    """The text the model sees before the label: chat template with the assistant header, then
    ``prefill`` (what an OpenAI-compatible server builds for a continued assistant message)."""
    rendered = tokenizer.apply_chat_template(
        [dict(m) for m in messages], add_generation_prompt=True, tokenize=False
    )
    return rendered + prefill


def check_chat_labels(
    tokenizer: Any,
    messages: Sequence[Mapping[str, str]],
    labels: Sequence[str],
    prefill: str = DEFAULT_PREFILL,
) -> dict[str, int]:
    """:func:`label_token_ids` in the chat context ``messages`` + assistant ``prefill``."""
    return label_token_ids(tokenizer, chat_prompt(tokenizer, messages, prefill), labels)


def _encode(tokenizer: Tokenizer, text: str) -> list[int]:
    ids = tokenizer.encode(text, add_special_tokens=False)
    return list(getattr(ids, "ids", ids))


def _pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    convert = getattr(tokenizer, "convert_ids_to_tokens", None)
    return [str(p) for p in convert(ids)] if convert else [str(i) for i in ids]
