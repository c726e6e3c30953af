"""Explanations of the top-k picks: ONE constrained ``generate_json`` request per turn.

The JSON schema's ``item_id`` is an ``enum`` of the shown candidates' ids, so the model cannot
name anything else; entries with an unknown or repeated id are dropped anyway (counted), as are
empty reasons and a reason repeated verbatim for another item (generic, small models do this). Each reason is then checked by :class:`agent.reasons.grounding.GroundingChecker`:
ungrounded sentences are dropped and the recommendation is flagged. On any engine failure the
recommendations come back without reasons, with a notice; this module never raises for a model
failure.
"""

from __future__ import annotations


import json
import re
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.understanding.context import item_line
from agent.llm.engine import Engine, Message
from agent.reasons.grounding import GroundingChecker
from agent.settings import ExplainSettings
from agent.types import Context, Recommendation, ScoredCandidate
from prompts import render

EXPLAIN_NOTICE = "Explanations unavailable right now."
REASON_MAX_CHARS = 300


@dataclass
class ExplainResult:
    """Recommendations (all given picks, in order) plus counts for monitoring.

    ``missing`` = picks without any reason from the model; ``dropped`` = returned entries that
    were discarded (unknown id, duplicate id, fewer than two words, same text as another item's reason); ``ungrounded`` = reasons with at least one
    ungrounded claim. ``timings`` in seconds.
    """

    recommendations: list[Recommendation]
    notice: str | None = None
    error: str | None = None
    missing: int = 0
    dropped: int = 0
    ungrounded: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def explanation_schema(item_ids: Sequence[str], max_chars: int = REASON_MAX_CHARS) -> dict[str, Any]:
    """JSON schema ``{"explanations": [{"item_id": <enum of item_ids>, "reason": str}]}`` with
    exactly ``len(item_ids)`` entries (repeats are possible and dropped by the caller) and
    reasons of 1..``max_chars`` characters."""
    return {
        "type": "object",
        "properties": {
            "explanations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "item_id": {"type": "string", "enum": list(item_ids)},
                        "reason": {"type": "string", "minLength": 1, "maxLength": max_chars},
                    },
                    "required": ["item_id", "reason"],
                    "additionalProperties": False,
                },
                "minItems": len(item_ids),
                "maxItems": len(item_ids),
            }
        },
        "required": ["explanations"],
        "additionalProperties": False,
    }


class Explainer:
    """Writes grounded reasons for the first ``settings.explain_top_k`` picks."""

    def __init__(self, engine: Engine, settings: ExplainSettings, checker: GroundingChecker | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.checker = checker or GroundingChecker()

    def messages(self, context: Context, picks: Sequence[ScoredCandidate]) -> list[Message]:
        """System rules, the user context, then the items (id + sanitised metadata)."""
        lines = "\n".join(f"- id: {_quote_id(p.item.id)}; {item_line(p.item, 500, 240)}" for p in picks)
        ids = ", ".join(_quote_id(p.item.id) for p in picks)
        return [
            Message("system", render("explain_system")),
            Message("user", render("explain_user", context=context.text, items=lines, item_ids=ids)),
        ]

    def explain(
        self, context: Context, ranked: Sequence[ScoredCandidate], exploration_ids: Collection[str] = ()
    ) -> ExplainResult:
        """Recommendations for ``ranked`` (rank 1..n, in order); the top ``explain_top_k`` get
        reasons. Only items of ``ranked`` are ever returned."""
        start = time.perf_counter()
        recs = [Recommendation(item=s.item, rank=i + 1, score=s.score, exploration=s.item.id in exploration_ids)
                for i, s in enumerate(ranked)]
        picks = list(ranked[: self.settings.explain_top_k])
        result = ExplainResult(recommendations=recs)
        if not picks:
            return result
        ids = [p.item.id for p in picks]
        try:
            t0 = time.perf_counter()
            raw = self.engine.generate_json(
                self.messages(context, picks), explanation_schema(ids), max_tokens=self.settings.explain_max_tokens
            )
            result.timings["llm_s"] = time.perf_counter() - t0
            entries = raw.get("explanations") if isinstance(raw, dict) else None
            if not isinstance(entries, list):
                raise ValueError(f"no 'explanations' list in {str(raw)[:200]!r}")
        except Exception as exc:  # EngineError, timeouts, malformed output
            result.notice, result.error = EXPLAIN_NOTICE, f"{type(exc).__name__}: {exc}"
            result.missing = len(picks)
            result.timings["total_s"] = time.perf_counter() - start
            return result
        reasons: dict[str, str] = {}
        for entry in entries:
            item_id = entry.get("item_id") if isinstance(entry, dict) else None
            reason = entry.get("reason") if isinstance(entry, dict) else None
            if item_id not in ids or item_id in reasons or not isinstance(reason, str) or not _is_sentence(reason):
                result.dropped += 1
                continue
            if _tidy(reason).casefold() in {r.casefold() for r in reasons.values()}:
                result.dropped += 1  # the same text for two items says nothing about either
                continue
            reasons[item_id] = _tidy(reason)
        for i, pick in enumerate(picks):
            reason = reasons.get(pick.item.id)
            if reason is None:
                result.missing += 1
                continue
            report = self.checker.check(reason, pick.item, context.user_evidence)
            if not report.grounded:
                result.ungrounded += 1
            recs[i] = Recommendation(
                item=pick.item, rank=i + 1, score=pick.score, reason=report.kept, grounded=report.grounded,
                ungrounded_claims=report.ungrounded, exploration=recs[i].exploration,
            )
        result.timings["total_s"] = time.perf_counter() - start
        return result


def _is_sentence(reason: str) -> bool:
    """A reason must say something: at least two words (a bare "1219" or "A" is dropped)."""
    return len(re.findall(r"[^\W\d_]{2,}", reason)) >= 2


def _quote_id(item_id: str) -> str:
    """The id as a JSON string literal (ids may contain spaces/parentheses, e.g. ML-1M titles)."""
    return json.dumps(item_id, ensure_ascii=False)


def _tidy(reason: str, max_chars: int = REASON_MAX_CHARS) -> str:
    """Single-spaced, at most ``max_chars`` (cut at the last sentence end, else a word)."""
    text = " ".join(reason.split())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > max_chars // 3 else cut[: cut.rfind(" ")].rstrip(",;:") + "..."
