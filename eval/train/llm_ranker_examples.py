"""Examples and prompts of the LoRA-trained LLM verbalizer ranker (LlamaRec's recipe).

Users: the VALIDATION split of :func:`eval.splits.leave_one_out` (history = every interaction but
the last two, target = the second-to-last); the test item is never read. A seeded sample of
``val_users`` of them is held out for the validation metric; the others are training users.

Candidates: the source's (SASRec or EASE) best ``n`` items for the history, history masked,
catalog items only, in source order: exactly the head that
:class:`eval.train.pipelines.StagedPipeline` hands its ranker for a one-source pipeline. Only
users whose target is among them make training examples (LlamaRec keeps the same users).

Prompt: :meth:`agent.ranking.rerank.VerbalizerRanker.messages` (permutation 0: the source order; the
layout of the settings, by default ``titles``: history titles and ``Title (Year) - genres``
candidates, ~760 Qwen2.5 tokens for 20 + 20 ML-1M items vs ~2,500 inline) over the
context :func:`ranker_context` builds (the instruction turn and the newest ``history_items``
history items, as ``StagedPipeline.recommend`` builds it), rendered with the model's chat
template and the assistant prefill exactly as the engines render it
(:meth:`agent.llm.transformers_engine.TransformersEngine.encode_chat`). The answer is the label of
the target; the label ids are read in that context
(:meth:`agent.llm.transformers_engine.TransformersEngine.label_token_ids`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from eval.settings import DEFAULT_INSTRUCTION

if TYPE_CHECKING:
    from agent.llm.engine import Message
    from agent.llm.transformers_engine import TransformersEngine
    from agent.types import Context
    from eval.splits import UserCase
    from retrieval.ease import ItemScorer
    from retrieval.items import Item

#: Context budget of ``StagedPipeline.recommend`` (counted in whitespace-separated words there).
CONTEXT_BUDGET = 1500


@dataclass(frozen=True)
class RankExample:
    """One user's rerank case: ``candidates`` in source order (never in ``history``); the answer
    is ``candidates.index(target)`` (:attr:`target_index`, None when the source missed it)."""

    user_id: str
    history: tuple[str, ...]
    candidates: tuple[str, ...]
    target: str

    @property
    def target_index(self) -> int | None:
        return self.candidates.index(self.target) if self.target in self.candidates else None


def split_users(cases: Sequence["UserCase"], val_users: int, max_users: int | None,
                seed: int) -> tuple[list["UserCase"], list["UserCase"]]:
    """``(training cases, held-out validation cases)``: a seeded sample of ``val_users`` cases is
    held out; the rest (a seeded sample of ``max_users`` of it, if given) trains. Disjoint users,
    each list in user-id order. Deterministic for (cases, val_users, max_users, seed)."""
    ordered = sorted(cases, key=lambda c: c.user_id)
    rng = random.Random(seed)
    held = set(rng.sample(range(len(ordered)), min(val_users, len(ordered))))
    train = [c for i, c in enumerate(ordered) if i not in held]
    if max_users is not None and max_users < len(train):
        keep = set(rng.sample(range(len(train)), max_users))
        train = [c for i, c in enumerate(train) if i in keep]
    return train, [c for i, c in enumerate(ordered) if i in held]


def source_lists(model: "ItemScorer", histories: Sequence[Sequence[str]], n: int, items: Mapping[str, Any],
                 batch: int = 256) -> list[list[str]]:
    """Per history: the model's best ``n`` items (history masked, only ids in ``items``), best
    first; ties keep the model's id order (stable sort, as :meth:`ItemScorer.top`)."""
    out: list[list[str]] = []
    known = np.array([i in items for i in model.ids])
    for start in range(0, len(histories), batch):
        chunk = histories[start:start + batch]
        scores = np.asarray(model.scores_batch(chunk), dtype=np.float64)
        scores[:, ~known] = -np.inf
        for row, hist in zip(scores, chunk):
            row[[model.pos[h] for h in hist if h in model.pos]] = -np.inf
            idx = np.argsort(-row, kind="stable")[:n]
            out.append([model.ids[i] for i in idx if np.isfinite(row[i])])
    return out


def build_examples(cases: Sequence["UserCase"], model: "ItemScorer", n: int,
                   items: Mapping[str, Any]) -> list[RankExample]:
    """One :class:`RankExample` per case (the target may be missing from its candidates)."""
    lists = source_lists(model, [c.history for c in cases], n, items)
    return [RankExample(c.user_id, c.history, tuple(cands), c.target) for c, cands in zip(cases, lists)]


def in_list(examples: Sequence[RankExample]) -> list[RankExample]:
    """The examples whose target is among their candidates (the training examples)."""
    return [e for e in examples if e.target_index is not None]


def ranker_context(history: Sequence["Item"], instruction: str = DEFAULT_INSTRUCTION) -> "Context":
    """The ranker's context as ``StagedPipeline.recommend`` builds it: one user turn
    (``instruction``), the given history items (oldest first), word-counted budget 1500."""
    from agent.understanding.context import build_context
    from agent.types import Turn

    return build_context([Turn("user", instruction)], lambda text: len(text.split()), CONTEXT_BUDGET,
                         history=list(history))


class PromptBuilder:
    """Token ids of an example's verbalizer prompt and of its labels (see the module doc).

    ``engine`` supplies the tokenizer and the rendering (its weights are never loaded here);
    ``history_items`` is the number of newest history items shown; ``layout`` the
    :class:`agent.settings.RerankSettings` layout (default ``titles``, as
    :class:`eval.train.llm_ranker.LLMRankerTraining`); ``candidates`` the labels' count (A..).
    """

    def __init__(self, engine: "TransformersEngine", items: Mapping[str, "Item"], *, candidates: int = 20,
                 history_items: int = 20, layout: Literal["titles", "inline", "split"] = "titles",
                 instruction: str = DEFAULT_INSTRUCTION) -> None:
        from agent.ranking.labels import DEFAULT_PREFILL
        from agent.ranking.rerank import VerbalizerRanker
        from agent.settings import RerankSettings

        self.engine = engine
        self.items = items
        self.history_items = history_items
        self.instruction = instruction
        self.prefill = DEFAULT_PREFILL
        self.ranker = VerbalizerRanker(engine, RerankSettings(max_candidates=candidates, rerank_layout=layout),
                                       tokenizer=engine.tokenizer, prefill=self.prefill)

    def messages(self, example: RankExample) -> list["Message"]:
        """The conversation :class:`agent.ranking.rerank.VerbalizerRanker` sends for this example (P=1)."""
        from retrieval.candidates import Candidate

        hist = [self.items[h] for h in example.history[-self.history_items:] if h in self.items]
        cands = [Candidate(self.items[i], 0.0, r, ("fused",)) for r, i in enumerate(example.candidates)]
        return self.ranker.messages(ranker_context(hist, self.instruction), cands, pool=cands)

    def labels(self, example: RankExample) -> list[str]:
        from agent.ranking.labels import candidate_labels

        return candidate_labels(len(example.candidates))

    def encode(self, example: RankExample) -> tuple[list[int], list[int]]:
        """``(prompt ids ending with the prefill, label token ids A.. in candidate order)``."""
        msgs = self.messages(example)
        ids = self.engine.encode_chat(msgs, self.prefill)
        return ids, self.engine.label_token_ids(self.labels(example), msgs, self.prefill)
