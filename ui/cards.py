"""HTML rendering of the chat UI's recommendation cards, "why?" details, notices and history.

Every piece of catalog, user or LLM text goes through :func:`esc` (``html.escape`` with quotes)
before it is placed in markup: a title or a model output such as ``<img onerror=...>`` is shown
as text, never interpreted. Functions here are pure (value in, string out), so they are tested
without Gradio.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ReasonState = Literal["pending", "done", "none"]

#: Longest message / output text shown in the audit view (characters); longer text is cut.
AUDIT_TEXT_MAX = 6000
CAST_SHOWN = 4

CSS = """
.rc-slot {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 12px !important;
  gap: 4px !important;}
.rc-card-buttons {gap: 6px !important;}
.rc-card .rc-title {font-weight: 600; font-size: 1.05em;}
.rc-card .rc-meta {color: var(--body-text-color-subdued); font-size: 0.9em;}
.rc-card .rc-reason {margin-top: 6px;}
.rc-badge {display: inline-block; border-radius: 8px; padding: 0 6px; font-size: 0.8em; margin-left: 6px;}
.rc-explore {background: #e8f0fe; color: #1a4fb0;}
.rc-liked {background: #e6f4ea; color: #1e6b32;}
.rc-grounded {color: #1e6b32; font-size: 0.85em;}
.rc-warn {color: #9a5b00; font-size: 0.85em;}
.rc-pending {color: var(--body-text-color-subdued); font-style: italic;}
.rc-why summary {cursor: pointer; font-size: 0.9em;}
.rc-why pre {white-space: pre-wrap; font-size: 0.8em; max-height: 320px; overflow: auto;}
.rc-notice {border-left: 4px solid #d99100; background: #fff8e6; color: #5c3d00; padding: 6px 10px; margin: 4px 0; white-space: pre-line;}
.rc-status {color: var(--body-text-color-subdued); font-style: italic;}
"""


def esc(value: object) -> str:
    """``value`` as text that is safe inside HTML elements and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


@dataclass
class CardView:
    """What one card shows: the recommendation, its evidence and this turn's audit records.

    ``feedback`` is the person's reaction to the item so far ("like", "dislike", ...) or None;
    ``reason_state`` is "pending" while the reasons are being written, "none" when no reason is
    expected (a list restored from an earlier visit)."""

    rec: Any  # agent.types.Recommendation
    evidence: Any = None  # agent.conversation.Evidence | None
    audit: list[dict[str, Any]] = field(default_factory=list)
    feedback: str | None = None
    reason_state: ReasonState = "done"


def _names(value: Any, limit: int) -> str:
    if value in (None, "", []):
        return ""
    names = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    more = f" +{len(names) - limit}" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def render_card(view: CardView, explain_top_k: int = 3) -> str:
    """One recommendation card (title, year, genres, director/cast, reason, badges, "why?")."""
    rec = view.rec
    item = rec.item
    badges = ""
    if rec.exploration:
        badges += '<span class="rc-badge rc-explore" title="outside your known interests">to explore</span>'
    if view.feedback == "like":
        badges += '<span class="rc-badge rc-liked">liked</span>'
    meta: list[str] = []
    if item.genres:
        meta.append(esc(", ".join(item.genres)))
    director = _names(item.extra.get("director"), 2)
    if director:
        meta.append("dir. " + esc(director))
    cast = _names(item.extra.get("cast"), CAST_SHOWN)
    if cast:
        meta.append("with " + esc(cast))
    return (
        f'<div class="rc-card" data-item-id="{esc(item.id)}" data-rank="{int(rec.rank)}" data-year="{esc(item.year or "")}">'
        f'<div class="rc-title">{int(rec.rank)}. {esc(item.label)}{badges}</div>'
        f'<div class="rc-meta">{" &middot; ".join(meta)}</div>'
        f"{_reason_html(view, explain_top_k)}"
        f"{render_why(view)}"
        "</div>"
    )


def _reason_html(view: CardView, explain_top_k: int) -> str:
    rec = view.rec
    source = getattr(rec, "reason_source", None)
    if rec.reason and source is not None:
        mark = ('<span class="rc-grounded" title="written by the language model; every claim checked against the '
                'catalog and the facts in why?">&#10003; checked</span>' if source == "llm" else
                '<span class="rc-grounded rc-data" title="built from the catalog and rating data (see why?)">'
                "from the data</span>")
        return f'<div class="rc-reason">{esc(rec.reason)} {mark}</div>'
    if rec.reason:
        if rec.grounded:
            mark = '<span class="rc-grounded" title="every claim matches the catalog">&#10003; grounded</span>'
        else:
            removed = "; ".join(rec.ungrounded_claims)
            tip = f"removed: {removed}" if removed else "some claims could not be checked"
            mark = (f'<span class="rc-warn" title="{esc(tip)}">&#9888; partly unsupported: '
                    "claims not in the catalog were removed</span>")
        return f'<div class="rc-reason">{esc(rec.reason)} {mark}</div>'
    if view.reason_state == "none":
        return ""
    if view.reason_state == "pending" and rec.rank <= explain_top_k and not rec.exploration:
        return '<div class="rc-reason rc-pending">writing the reason&hellip;</div>'
    if rec.rank <= explain_top_k and not rec.exploration:
        return '<div class="rc-reason rc-pending">no reason available for this pick</div>'
    return ""


def render_why(view: CardView) -> str:
    """The collapsed "why?" detail: matched metadata, related history, scores, audited LLM calls."""
    ev, rec = view.evidence, view.rec
    rows: list[str] = []
    if ev is not None:
        if ev.matched:
            rows.append("<li>matches: " + esc("; ".join(ev.matched)) + "</li>")
        if ev.related_history:
            scores = list(ev.related_scores)
            pairs = [f"{t} ({scores[i]:.2f})" if i < len(scores) else str(t) for i, t in enumerate(ev.related_history)]
            rows.append("<li>close to your history: " + esc("; ".join(pairs)) + "</li>")
        if getattr(ev, "facts", ()):
            rows.append("<li>facts: " + esc("; ".join(ev.facts)) + "</li>")
        if getattr(ev, "reason_rejected", ()):
            rows.append("<li>the language model's reason was replaced by the data sentence ("
                        + esc(", ".join(ev.reason_rejected)) + ")</li>")
        if ev.exploration_seed:
            rows.append("<li>explored from: " + esc(ev.exploration_seed) + "</li>")
        if ev.rerank_score is not None:
            rows.append(f"<li>rerank score: {float(ev.rerank_score):.3f}</li>")
        if ev.retrieval_score is not None:
            rows.append(f"<li>retrieval similarity (cosine): {float(ev.retrieval_score):.3f}</li>")
    else:
        rows.append(f"<li>score: {float(rec.score):.3f}</li>")
    if rec.ungrounded_claims:
        rows.append("<li>removed as not in the catalog: " + esc("; ".join(rec.ungrounded_claims)) + "</li>")
    audit = render_audit(view.audit)
    return (f'<details class="rc-why"><summary>why?</summary><ul>{"".join(rows)}</ul>{audit}</details>')


def _cut(text: str, limit: int = AUDIT_TEXT_MAX) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"


def render_audit(calls: Sequence[Mapping[str, Any]]) -> str:
    """The audited LLM exchange of a turn (collapsed): one block per call, prompt and output."""
    if not calls:
        return ('<details class="rc-why rc-audit"><summary>LLM exchange</summary>'
                "<p>No language-model call was made for this list (retrieval order).</p></details>")
    parts: list[str] = []
    for n, call in enumerate(calls, 1):
        head = (f"{n}. {call.get('kind', '?')} &middot; {esc(call.get('model', ''))} &middot; "
                f"{float(call.get('latency_s') or 0):.2f} s &middot; "
                f"{int(call.get('prompt_tokens') or 0)} + {int(call.get('completion_tokens') or 0)} tokens")
        if call.get("error"):
            head += " &middot; error: " + esc(call["error"])
        msgs = "\n\n".join(f"[{m.get('role', '?')}]\n{m.get('content', '')}" for m in call.get("messages") or [])
        output = call.get("output")
        out_text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, indent=1, default=str)
        parts.append(f"<div><b>{head}</b><pre>{esc(_cut(msgs))}</pre>"
                     f"<div>output:</div><pre>{esc(_cut(out_text or ''))}</pre></div>")
    return (f'<details class="rc-why rc-audit"><summary>LLM exchange ({len(calls)} call'
            f'{"s" if len(calls) != 1 else ""}, audited)</summary>{"".join(parts)}</details>')


def render_notices(notices: Iterable[str]) -> str:
    """Notices (LLM unavailable, degraded ranking, ...) as a visible banner; empty when none."""
    return "".join(f'<div class="rc-notice" role="status">{esc(n)}</div>' for n in notices if n)


def render_status(text: str) -> str:
    """A one-line progress/status message ("Ranking...")."""
    return f'<div class="rc-status">{esc(text)}</div>' if text else ""


def render_history(user: str, titles: Sequence[str], shown: int = 8) -> str:
    """The loaded MovieLens history, briefly: count and the most recent titles."""
    if not titles:
        return ""
    recent = list(reversed(titles))[:shown]
    more = f" and {len(titles) - shown} more" if len(titles) > shown else ""
    return (f"<div class=\"rc-history\"><b>History of {esc(user)}</b> ({len(titles)} films), most recent: "
            + esc("; ".join(recent)) + esc(more) + "</div>")
