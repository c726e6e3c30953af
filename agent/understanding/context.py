"""Builds the user context block of the prompts, and sanitises untrusted text for prompts.

Layout of :attr:`agent.types.Context.text` (each section only when non-empty)::

    <history>                 items the user interacted with, oldest first
    - Title (1995); genres: Crime, Thriller
    </history>
    <feedback>                reactions in this chat, oldest first
    - liked: Se7en (1995)
    </feedback>
    <conversation>            the chat, oldest first; the latest user message is last
    User: ...
    Assistant: ...
    </conversation>

Trimming to ``budget`` tokens: the latest user message is always kept (whole; it is capped at
``max_message_chars`` by sanitising). The other segments (one turn, one feedback line, one history
item: never split) are taken newest first, round-robin over the three sources, and a source stops
at its first segment that does not fit, so each source loses its OLDEST entries first and what
is kept is a contiguous recent tail. The final text is re-counted as a whole and trimmed further
if the joined count exceeds the budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from agent.types import Context, Feedback, Turn
from retrieval.items import NOT_EMBEDDED, Item, untrusted_value
from retrieval.untrusted import strip_instructions
from retrieval.titles import display_title

_LABEL_LIKE = re.compile(r"\(\s*[A-Z]\s*\)|^\s*[A-Z]\s*[).:]\s+")
_TAG_LIKE = re.compile(r"</?\s*[A-Za-z_][\w\- ]{0,30}>")
# chat-template control tokens (ChatML/Qwen/Phi ``<|im_start|>``, Llama ``[INST]``/``<<SYS>>``): a
# tokenizer turns them into real special tokens, so catalog text could open a fake system turn
_SPECIAL_TOKEN_LIKE = re.compile(r"<\|[^<>|]{0,40}\|>|\[\s*/?\s*INST\s*\]|<<\s*/?\s*SYS\s*>>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_NOT_IN_LINE = frozenset({"awards", "overview", "tagline"})  # the overview is the description
_FEEDBACK_WORDS = {"like": "liked", "dislike": "disliked", "not_this": "rejected (not this)", "seen": "already seen"}


def clean_text(text: str, max_chars: int = 300) -> str:
    """Make untrusted text safe to embed in one prompt line.

    Collapses all whitespace (newlines included) to single spaces, removes label-like patterns
    (``(A)``, a leading ``B)``/``C.``), chat-template tokens (``<|im_start|>``, ``[INST]``,
    ``<<SYS>>``), tag-like ``<...>`` spans (our section delimiters) and control characters, then caps at ``max_chars`` characters (cut at a word, with "...").
    """
    text = "".join(ch if ch.isprintable() or ch.isspace() else " " for ch in str(text))
    text = _SPACE.sub(" ", text).strip()
    text = _SPECIAL_TOKEN_LIKE.sub(" ", text)
    text = _TAG_LIKE.sub(" ", text)
    text = _LABEL_LIKE.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > max_chars:
        cut = text[: max_chars - 3]
        if " " in cut[max_chars // 2 :]:
            cut = cut[: cut.rfind(" ")]
        text = cut.rstrip(" ,;:") + "..."
    return text


def item_title(item: Item) -> str:
    """Sanitised ``Title (Year)`` (the year not repeated when the title already has it)."""
    return display_title(clean_text(item.title, 120), item.year)


def item_line(item: Item, max_chars: int = 400, text_chars: int = 160) -> str:
    """One sanitised line describing ``item`` for the LLM: title, year, genres, the describing
    extra fields sorted by name (e.g. cast: its first 4, director, keywords), then the
    description (``text``, else the overview). Numeric facts (runtime, certificate, scores:
    :data:`retrieval.items.NOT_EMBEDDED`) and the awards text stay out. Free text (description,
    overview, keywords, any long string) loses the sentences
    :func:`retrieval.untrusted.strip_instructions` drops, as it does when embedded. At most ``max_chars``."""
    parts = [item_title(item)]
    if item.genres:
        parts.append("genres: " + ", ".join(clean_text(g, 30) for g in item.genres))
    for key, value in sorted(item.extra.items()):
        if key in NOT_EMBEDDED or key in _NOT_IN_LINE:
            continue
        value = untrusted_value(key, value)  # free text: instruction-like sentences dropped, as when embedded
        shown = ", ".join(str(v) for v in value[:4]) if isinstance(value, list) else str(value)
        if shown.strip():
            parts.append(f"{clean_text(key.replace('_', ' '), 30)}: {clean_text(shown, 120)}")
    description = strip_instructions(item.text or str(item.extra.get("overview") or ""))
    if description:
        parts.append(clean_text(description, text_chars))
    return clean_text("; ".join(parts), max_chars)


def item_evidence(item: Item) -> str:
    """All metadata text of ``item`` (unsanitised, uncapped): what a reason about it may cite."""
    return item.document()


def build_context(
    turns: Sequence[Turn],
    count_tokens: Callable[[str], int],
    budget: int,
    *,
    feedback: Sequence[Feedback] = (),
    history: Sequence[Item] = (),
    items: Mapping[str, Item] | None = None,
    max_message_chars: int = 1000,
) -> Context:
    """Build the context block from the whole conversation, feedback and history items.

    ``turns``, ``feedback`` and ``history`` are oldest first; ``count_tokens`` counts tokens in
    the engine's tokenizer; ``budget`` is in tokens; ``items`` maps feedback item ids to items
    (for titles). Requires at least one user turn. ``over_budget`` is set when the mandatory part
    alone exceeds the budget (it is still returned whole).
    """
    last_user = max((i for i, t in enumerate(turns) if t.role == "user"), default=None)
    if last_user is None:
        raise ValueError("build_context needs at least one user turn")
    items = items or {}
    latest = clean_text(turns[last_user].text, max_message_chars)

    conv = [_turn_line(t, max_message_chars) for i, t in enumerate(turns) if i != last_user]
    # keep chronological order; the latest user message goes last regardless of later turns
    fb = [_feedback_line(f, items) for f in feedback]
    hist = [f"- {item_line(it, 200, 80)}" for it in history]
    sources = [conv, fb, hist]
    kept = [0, 0, 0]  # how many newest entries of each source are kept

    def render(k: list[int]) -> str:
        return _render(conv[len(conv) - k[0]:] if k[0] else [], fb[len(fb) - k[1]:] if k[1] else [],
                       hist[len(hist) - k[2]:] if k[2] else [], latest)

    base_tokens = count_tokens(render(kept))
    used = base_tokens
    open_ = [bool(s) for s in sources]
    while any(open_):
        for s, seg in enumerate(sources):
            if not open_[s]:
                continue
            if kept[s] >= len(seg):
                open_[s] = False
                continue
            cost = count_tokens(seg[len(seg) - 1 - kept[s]]) + 1  # +1 for the newline
            if used + cost <= budget:
                kept[s] += 1
                used += cost
            else:
                open_[s] = False
    text = render(kept)
    tokens = count_tokens(text)
    while tokens > budget and any(kept):
        # joined text counts differently from the sum of segments: drop the oldest kept one
        s = max(range(3), key=lambda j: (kept[j] > 0, kept[j]))
        kept[s] -= 1
        text = render(kept)
        tokens = count_tokens(text)
    evidence = "\n".join(
        [t.text for t in turns if t.role == "user"]
        + [f.title or f.item_id for f in feedback if f.kind in ("like", "seen")]
        + [item_evidence(items[f.item_id]) for f in feedback if f.kind in ("like", "seen") and f.item_id in items]
        + [item_evidence(it) for it in history]
    )
    return Context(
        text=text,
        tokens=tokens,
        latest_user_message=latest,
        user_evidence=evidence,
        dropped_turns=len(conv) - kept[0],
        dropped_feedback=len(fb) - kept[1],
        dropped_history=len(hist) - kept[2],
        over_budget=tokens > budget,
    )


def _turn_line(turn: Turn, max_chars: int) -> str:
    who = "User" if turn.role == "user" else "Assistant"
    return f"{who}: {clean_text(turn.text, max_chars)}"


def _feedback_line(fb: Feedback, items: Mapping[str, Item]) -> str:
    item = items.get(fb.item_id)
    title = item_title(item) if item is not None else clean_text(fb.title or fb.item_id, 120)
    return f"- {_FEEDBACK_WORDS[fb.kind]}: {title}"


def _render(conv: list[str], fb: list[str], hist: list[str], latest: str) -> str:
    blocks: list[str] = []
    if hist:
        blocks.append("Items the user watched or rated before (oldest first):\n<history>\n" + "\n".join(hist) + "\n</history>")
    if fb:
        blocks.append("The user's reactions in this chat:\n<feedback>\n" + "\n".join(fb) + "\n</feedback>")
    blocks.append("The conversation (the last line is the user's current request):\n<conversation>\n"
                  + "\n".join(conv + [f"User: {latest}"]) + "\n</conversation>")
    return "\n\n".join(blocks)
