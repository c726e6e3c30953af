"""Value objects shared by the agent layer: turns, feedback, the built context, ranking and
recommendation results. Plain frozen dataclasses (results keep lists for cheap building)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from retrieval.candidates import Candidate
from retrieval.items import Item

TurnRole = Literal["user", "assistant"]
FeedbackKind = Literal["like", "dislike", "not_this", "seen"]


@dataclass(frozen=True)
class Turn:
    """One chat message. ``text`` is raw (untrusted) text; prompts sanitise it."""

    role: TurnRole
    text: str

    def __post_init__(self) -> None:
        if self.role not in ("user", "assistant"):
            raise ValueError(f"Turn.role must be 'user' or 'assistant', got {self.role!r}")


@dataclass(frozen=True)
class Feedback:
    """The user's reaction to one item. ``title`` is optional display text (else the id is shown)."""

    item_id: str
    kind: FeedbackKind
    title: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("like", "dislike", "not_this", "seen"):
            raise ValueError(f"Feedback.kind must be like/dislike/not_this/seen, got {self.kind!r}")


@dataclass(frozen=True)
class Context:
    """What the LLM sees about the user, already sanitised and trimmed to a token budget.

    ``text`` is the prompt block (delimited sections); ``tokens`` its size in the engine's
    tokenizer; ``latest_user_message`` is always inside ``text``. ``user_evidence`` is the
    untrimmed text the user wrote plus their history/feedback items (what a reason may cite);
    assistant turns are never evidence. ``dropped_*`` count segments cut to fit the budget.
    """

    text: str
    tokens: int
    latest_user_message: str
    user_evidence: str = ""
    dropped_turns: int = 0
    dropped_feedback: int = 0
    dropped_history: int = 0
    over_budget: bool = False


@dataclass(frozen=True)
class ScoredCandidate:
    """A candidate with the ranker's score (for the LLM ranker: mean probability over the
    permutations of being picked first, 0..1; the scores of one result sum to <= 1)."""

    candidate: Candidate
    score: float

    @property
    def item(self) -> Item:
        return self.candidate.item


@dataclass
class RerankResult:
    """Output of a :class:`agent.ranking.rerank.Ranker`.

    Invariants: ``ranked`` holds exactly the distinct given candidates (by item id), best first,
    nothing else. ``permutations[p]`` lists the item ids in label order (A, B, ...) of
    permutation ``p`` (``p == 0`` is the retrieval order); ``label_probs[p]`` maps each label to
    its renormalised probability in that permutation. ``degraded`` is True when the ranker fell
    back to the retrieval order; ``notice`` then says so to the user. ``timings`` in seconds.
    """

    ranked: list[ScoredCandidate]
    ranker: str
    label_probs: list[dict[str, float]] = field(default_factory=list)
    permutations: list[list[str]] = field(default_factory=list)
    degraded: bool = False
    notice: str | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def items(self) -> list[Item]:
        return [s.candidate.item for s in self.ranked]


@dataclass(frozen=True)
class Recommendation:
    """One pick shown to the user.

    ``rank`` is 1-based. ``reason`` is the shown text (only sentences whose claims passed the
    grounding check), or None. ``grounded`` is None when no reason was generated, else whether
    the model's whole reason was grounded; ``ungrounded_claims`` lists what failed.
    ``exploration`` marks a deliberate pick outside the user's known interests.
    ``reason_source`` says who wrote ``reason``: "llm" (passed the strict check of
    :mod:`agent.reasons.strict_check`) or "data" (the sentence built from the pick's facts); None = none.
    """

    item: Item
    rank: int
    score: float
    reason: str | None = None
    grounded: bool | None = None
    ungrounded_claims: tuple[str, ...] = ()
    exploration: bool = False
    reason_source: str | None = None
