"""Rankers: reorder retrieved candidates for one conversation.

:class:`VerbalizerRanker` is LlamaRec's verbalizer with LLMRank's bootstrapping: the candidates
are labelled (A), (B), ... after the instructions and the conversation (a prefix shared by all
permutations, so the server's prefix cache reuses it), the assistant reply is prefilled with
``"Answer: ("`` and the engine returns the renormalised log-probability of each label letter as
the next token. ``P`` permutations of the candidate order (0 = retrieval order, then seeded
shuffles) are scored in one batched ``score_choices`` call (with ``prime_prefix``: the first
order alone, then the rest, so they reuse its cached prefix); each item's score is its MEAN
probability over the permutations (so scores are in 0..1 and sum to 1 over the labelled items).
Ties keep the retrieval order. Free text is never parsed: only label probabilities are read.
"""

from __future__ import annotations

import abc
import math
import random
import re
import time
from collections.abc import Sequence
from typing import Any

from agent.understanding.context import clean_text, item_line, item_title
from agent.llm.engine import Engine, Message
from agent.ranking.labels import DEFAULT_PREFILL, candidate_labels, check_chat_labels
from agent.settings import RerankSettings
from agent.types import Context, RerankResult, ScoredCandidate
from prompts import render
from retrieval.candidates import Candidate
from retrieval.items import Item

DEGRADED_NOTICE = "LLM unavailable: showing retrieval order"

_BLOCKS = {name: re.compile(rf"<{name}>\n(.*?)\n</{name}>", re.S) for name in ("history", "feedback", "conversation")}


class Ranker(abc.ABC):
    """Reorders candidates for a user context. Implementations never add items: the result
    holds exactly the distinct given candidates (by item id)."""

    name: str = "ranker"

    @abc.abstractmethod
    def rank(self, context: Context, candidates: Sequence[Candidate]) -> RerankResult:
        """Best first. Must not raise on model failure (return a degraded result instead)."""


class RetrievalOrderRanker(Ranker):
    """Identity: keeps the retrieval order; score = retrieval similarity."""

    name = "retrieval"

    def rank(self, context: Context, candidates: Sequence[Candidate]) -> RerankResult:
        return RerankResult(ranked=[ScoredCandidate(c, c.score) for c in dedupe(candidates)], ranker=self.name)


def dedupe(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Candidates with duplicate item ids removed (first occurrence kept, order kept)."""
    seen: set[str] = set()
    out = []
    for c in candidates:
        if c.item.id not in seen:
            seen.add(c.item.id)
            out.append(c)
    return out


def permutations(n: int, count: int, seed: int) -> list[list[int]]:
    """``count`` orders of ``range(n)``: the identity first, then seeded shuffles, distinct while
    ``n!`` allows (so fewer than ``count`` for tiny ``n``). Deterministic for (n, count, seed)."""
    rng = random.Random(seed)
    orders = [list(range(n))]
    seen = {tuple(orders[0])}
    limit = math.factorial(n) if n < 10 else count
    tries = 0
    while len(orders) < min(count, limit) and tries < 100 * count:
        tries += 1
        order = list(range(n))
        rng.shuffle(order)
        if tuple(order) not in seen:
            seen.add(tuple(order))
            orders.append(order)
    return orders


class VerbalizerRanker(Ranker):
    """LLM reranker over label-token probabilities (see module docstring).

    Labels at most ``settings.max_candidates`` candidates (the first ones in retrieval order);
    any further candidates follow the labelled ones in retrieval order with score 0. If
    ``tokenizer`` is given (or the engine exposes ``.tokenizer``), the labels are checked to be
    single tokens in the exact prompt context at construction (raises
    :class:`agent.ranking.labels.LabelTokenError`: a configuration error, not a runtime one).
    """

    name = "llm-verbalizer"

    def __init__(self, engine: Engine, settings: RerankSettings, tokenizer: Any | None = None,
                 prefill: str = DEFAULT_PREFILL) -> None:
        self.engine = engine
        self.settings = settings
        self.prefill = prefill
        if tokenizer is None:
            try:  # an HTTP engine without a local tokenizer has none; loading may fail
                tokenizer = getattr(engine, "tokenizer", None)
            except Exception:
                tokenizer = None
        self.label_ids: dict[str, int] | None = None
        if tokenizer is not None and hasattr(tokenizer, "apply_chat_template"):
            probe = self.messages(Context(text="User: probe", tokens=0, latest_user_message="probe"), [])
            self.label_ids = check_chat_labels(
                tokenizer, [m.as_dict() for m in probe], candidate_labels(settings.max_candidates), prefill
            )

    def messages(self, context: Context, candidates: Sequence[Candidate],
                 pool: Sequence[Candidate] | None = None) -> list[Message]:
        """The prompt for one candidate order: system rules, then context, candidates LAST.

        ``inline`` layout: each labelled line holds the item's full description. ``split``
        layout: the descriptions of ``pool`` (default: ``candidates``; pass the same pool, in
        the same order, for every permutation) come before the labelled block, which then
        holds only ``Title (Year)`` per label, so the permutations share everything up to
        that short block in the server's prefix cache. ``titles`` layout (LlamaRec's compact
        prompt, ~3x fewer tokens): the context shrunk by :func:`compact_context` (history as
        ``Title (Year)`` lines, the user's turns) and ``(A) Title (Year) - Genre, Genre`` per label.
        """
        labels = candidate_labels(max(1, len(candidates)))
        if self.settings.rerank_layout == "titles":
            lines = "\n".join(f"({lab}) {title_genres(c.item)}" for lab, c in zip(labels, candidates))
            return [
                Message("system", render("rerank_titles_system")),
                Message("user", render("rerank_titles_user", context=compact_context(context), candidates=lines,
                                       last_label=labels[-1])),
            ]
        if self.settings.rerank_layout == "inline":
            lines = "\n".join(f"({lab}) {item_line(c.item)}" for lab, c in zip(labels, candidates))
            return [
                Message("system", render("rerank_system")),
                Message("user", render("rerank_user", context=context.text, candidates=lines, last_label=labels[-1])),
            ]
        details = "\n".join(f"- {item_line(c.item)}" for c in (candidates if pool is None else pool))
        lines = "\n".join(f"({lab}) {item_title(c.item)}" for lab, c in zip(labels, candidates))
        return [
            Message("system", render("rerank_split_system")),
            Message("user", render("rerank_split_user", context=context.text, details=details, candidates=lines,
                                   last_label=labels[-1])),
        ]

    def rank(self, context: Context, candidates: Sequence[Candidate]) -> RerankResult:
        start = time.perf_counter()
        unique = dedupe(candidates)
        head, tail = unique[: self.settings.max_candidates], unique[self.settings.max_candidates :]
        if len(head) < 2:
            return RerankResult(ranked=[ScoredCandidate(c, 1.0 if i == 0 else 0.0) for i, c in enumerate(unique)],
                                ranker=self.name, timings={"total_s": time.perf_counter() - start})
        labels = candidate_labels(len(head))
        orders = permutations(len(head), self.settings.permutations, self.settings.seed)
        result = RerankResult(ranked=[], ranker=self.name,
                              permutations=[[head[i].item.id for i in order] for order in orders])
        try:
            convs = [self.messages(context, [head[i] for i in order], pool=head) for order in orders]
            t0 = time.perf_counter()
            if self.settings.prime_prefix and len(convs) > 1:
                # the first order alone fills the server's prefix cache; the others reuse it
                scored = self.engine.score_choices(convs[:1], labels, prefill=self.prefill)
                scored = _check_len(scored, 1) + self.engine.score_choices(convs[1:], labels, prefill=self.prefill)
            else:
                scored = self.engine.score_choices(convs, labels, prefill=self.prefill)
            result.timings["llm_s"] = time.perf_counter() - t0
            probs = [_probabilities(s, labels) for s in _check_len(scored, len(orders))]
        except Exception as exc:  # EngineError, timeouts, malformed output, bugs in a backend
            result.ranked = [ScoredCandidate(c, c.score) for c in unique]
            result.degraded, result.notice = True, DEGRADED_NOTICE
            result.error = f"{type(exc).__name__}: {exc}"
            result.timings["total_s"] = time.perf_counter() - start
            return result
        totals = [0.0] * len(head)
        for order, p in zip(orders, probs):
            for label, idx in zip(labels, order):
                totals[idx] += p[label]
        means = [t / len(orders) for t in totals]
        ranking = sorted(range(len(head)), key=lambda i: (-means[i], i))  # ties: retrieval order
        result.ranked = [ScoredCandidate(head[i], means[i]) for i in ranking] + [ScoredCandidate(c, 0.0) for c in tail]
        result.label_probs = probs
        result.timings["total_s"] = time.perf_counter() - start
        return result


def context_blocks(context: Context) -> dict[str, list[str]]:
    """The lines of each ``<history>`` / ``<feedback>`` / ``<conversation>`` block of
    :attr:`Context.text` (as :func:`agent.understanding.context.build_context` renders them, oldest first); a
    missing block gives []."""
    out: dict[str, list[str]] = {}
    for name, pattern in _BLOCKS.items():
        match = pattern.search(context.text)
        out[name] = [ln for ln in match.group(1).split("\n") if ln.strip()] if match else []
    return out


def history_titles(context: Context) -> list[str]:
    """``Title (Year)`` of each history item the context carries, OLDEST first: its ``<history>``
    lines (``- item_line(...)``, parsed back as
    :func:`agent.ranking.cross_encoder.context_history` does) cut before ``"; genres: "``, or
    at the first ``"; "`` for an item without genres."""
    out = []
    for line in context_blocks(context)["history"]:
        line = line[2:] if line.startswith("- ") else line
        cut = line.find("; genres: ")
        out.append(line[:cut] if cut >= 0 else line.split("; ")[0])
    return out


def title_genres(item: Item) -> str:
    """``Title (Year) - Genre, Genre`` (sanitised; just the title when the item has no genres)."""
    genres = ", ".join(clean_text(g, 30) for g in item.genres)
    return f"{item_title(item)} - {genres}" if genres else item_title(item)


def compact_context(context: Context) -> str:
    """The context of the ``titles`` layout: the history as one ``Title (Year)`` line per item
    (oldest first, newest last), the chat's feedback lines, and the user's turns of the
    conversation (assistant turns dropped; the latest user message is always last). Each block
    only when non-empty, except the conversation."""
    blocks = context_blocks(context)
    users = [ln for ln in blocks["conversation"] if ln.startswith("User: ")]
    if not users:  # a context not built by build_context: its latest message alone
        users = [f"User: {clean_text(context.latest_user_message, 1000)}"]
    parts = []
    if titles := history_titles(context):
        parts.append("Movies the user watched, oldest first (the last is the most recent):\n<history>\n"
                     + "\n".join(titles) + "\n</history>")
    if blocks["feedback"]:
        parts.append("The user's reactions in this chat:\n<feedback>\n" + "\n".join(blocks["feedback"])
                     + "\n</feedback>")
    parts.append("The user's messages (the last is the current request):\n<conversation>\n"
                 + "\n".join(users) + "\n</conversation>")
    return "\n\n".join(parts)


def _check_len(scored: object, expected: int) -> list[dict[str, float]]:
    if not isinstance(scored, list) or len(scored) != expected:
        raise ValueError(f"engine returned {len(scored) if isinstance(scored, list) else type(scored).__name__} "
                         f"score sets for {expected} permutations")
    return scored


def _probabilities(logprobs: dict[str, float], labels: list[str]) -> dict[str, float]:
    """Label -> probability, renormalised over ``labels``; raises ValueError on missing labels,
    non-finite values or an all-zero distribution."""
    missing = [lab for lab in labels if lab not in logprobs]
    if missing:
        raise ValueError(f"engine result lacks labels {missing}")
    values = {lab: float(logprobs[lab]) for lab in labels}
    if any(math.isnan(v) or v == math.inf for v in values.values()):
        raise ValueError(f"non-finite log-probabilities: {values}")
    top = max(values.values())
    if top == -math.inf:
        raise ValueError("all label probabilities are zero")
    exps = {lab: math.exp(v - top) for lab, v in values.items()}
    total = sum(exps.values())
    return {lab: e / total for lab, e in exps.items()}
