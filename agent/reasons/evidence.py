"""Reasons for shown picks, evidence first (issue 18).

For each pick :func:`pick_facts` computes the facts that make it a good pick for this person,
from structured data only (never an item's free text, which may carry false claims):

- ``behaviour``: the liked or referenced film it is behaviourally closest to, with the statistic
  ("38% of the 2,006 people who rated Seven (Se7en) (1995) also rated it"), from the catalog's
  interaction data (:meth:`retrieval.behaviour.Behaviour.co_raters`);
- ``person``: a director or cast member it shares with a liked film;
- ``request``: the requested genres and period it matches;
- ``rating``: how it is rated ("rated 4.1/5 on average by 1,288 people").

:func:`data_reason` turns them into a deterministic sentence addressed to the person.
:class:`ReasonWriter` asks the LLM for one or two sentences per pick (one request per pick, all
sent at once so vLLM batches them), built from the facts alone; each is checked by
:class:`agent.reasons.strict_check.StrictReasonChecker` against the pick's structured metadata and the
facts, and a reason that fails any check (or a failed, timed-out or cut-off request) is replaced
by the data sentence. So every shown pick has a reason, nothing unchecked is shown, and
``Reason.source`` says which writer produced it. The LLM writer is off by default
(``ExplainSettings.llm_reasons``): on 2 CPU cores it cost a minute per reason and its sentences
rarely passed the check (docs/results.md, issue 18).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent.understanding.context import clean_text
from agent.llm.engine import Engine, Message
from agent.understanding.profile import Constraints
from agent.reasons.strict_check import StrictReasonChecker
from agent.settings import ExplainSettings
from retrieval.behaviour import Behaviour
from retrieval.items import Item

FactKind = Literal["behaviour", "person", "request", "rating"]
#: shown (with the error) when the LLM did not answer for a reason: the data sentences stand in
REASONS_NOTICE = "The language model did not answer"
ReasonSource = Literal["llm", "data"]

#: a behavioural statistic is only cited when this many people rated the liked film and at
#: least this many of them also rated the pick (smaller counts are noise, not evidence)
MIN_RATERS, MIN_CO_RATERS = 20, 5
#: a rating is only cited with at least this many ratings
MIN_RATINGS = 30
REASON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reason": {"type": "string", "minLength": 20, "maxLength": 240}},
    "required": ["reason"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Fact:
    """One true, checkable statement about a pick for this person (a clause, no final stop)."""

    kind: FactKind
    text: str


@dataclass(frozen=True)
class Reason:
    """The reason shown for one pick. ``source`` "llm" = written by the LLM and passed every
    strict check; "data" = the deterministic sentence from the facts. ``rejected`` lists the
    strict-check flags of an LLM reason that was replaced, or ``"error: <type>"`` when the request
    failed (empty when no LLM was asked or its sentence passed)."""

    text: str
    source: ReasonSource
    rejected: tuple[str, ...] = ()


# ---------------------------------------------------------------------------- facts
def pick_facts(item: Item, liked: Sequence[Item], constraints: Constraints, behaviour: Behaviour | None,
               wished: Sequence[str] = ()) -> list[Fact]:
    """The facts for ``item``, strongest first. ``liked`` are the person's liked or referenced
    films (most relevant first); ``constraints`` the hard constraints in force; ``wished`` the
    genres a mood word asked for ("funny" -> Comedy, :func:`agent.understanding.genres.wished_genres`).
    The behavioural fact cites the liked film (sharing a genre with ``item``) whose raters most
    often rated ``item`` too."""
    facts: list[Fact] = []
    if behaviour is not None:
        best: tuple[float, int, Item] | None = None
        for ref in liked:
            if ref.genres and item.genres and not set(ref.genres) & set(item.genres):
                continue  # "people who rated Se7en also rated E.T." says nothing about a kids request
            raters, co = behaviour.raters(ref.id), behaviour.co_raters(ref.id, item.id)
            if raters >= MIN_RATERS and co >= MIN_CO_RATERS and (best is None or co / raters > best[0]):
                best = (co / raters, raters, ref)
        if best is not None:
            share, raters, ref = best
            facts.append(Fact("behaviour", f"{round(100 * share)}% of the {raters:,} people who rated {ref.label} "
                                           "also rated it"))
    person = _shared_person(item, liked)
    if person is not None:
        facts.append(person)
    asked = set(constraints.genres) | set(constraints.genres_any) | set(wished)
    wanted = " and ".join(g for g in item.genres if g in asked).lower()
    dated = item.year is not None and (constraints.year_min is not None or constraints.year_max is not None)
    if wanted or dated:
        what = (f"{'an' if wanted[:1] in 'aeiou' else 'a'} {wanted} film" if wanted else "") + \
               (f"{' ' if wanted else ''}from {item.year}" if dated else "")
        facts.append(Fact("request", f"it is {what}, as you asked"))
    if behaviour is not None:
        count, mean = behaviour.raters(item.id), behaviour.mean(item.id)
        if count >= MIN_RATINGS and mean is not None:
            facts.append(Fact("rating", f"it is rated {mean:.1f}/5 on average by {count:,} people"))
    return facts


def _shared_person(item: Item, liked: Sequence[Item]) -> Fact | None:
    for key, verb in (("director", "directed by"), ("cast", "with")):
        mine = _names(item.extra.get(key))
        for ref in liked:
            common = [n for n in mine if n in _names(ref.extra.get(key))]
            if common:
                also = "who also directed" if key == "director" else "also in"
                return Fact("person", f"it is {verb} {common[0]}, {also} {ref.label}")
    return None


def _names(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)] if isinstance(value, str) and value.strip() else []


def data_reason(item: Item, facts: Sequence[Fact]) -> str:
    """A deterministic reason from ``facts`` (at most two), addressed to the person; with no
    fact, what the catalog says it is."""
    if not facts:
        what = " / ".join(item.genres).lower() or "film"
        return f"{item.label} is a {what} film from the catalog that fits what you asked for." if item.year else \
            f"{item.label} fits what you asked for."
    if facts[0].kind == "rating":  # nothing about the request: say to whom it is addressed
        return f"You may like {item.label}: {facts[0].text}."
    return " ".join(_sentence(f.text) for f in facts[:2])


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


# ---------------------------------------------------------------------------- LLM writer
class ReasonWriter:
    """Writes one reason per pick (see the module doc). ``engine`` None = data reasons only.
    Never raises for a model failure."""

    def __init__(self, engine: Engine | None, settings: ExplainSettings) -> None:
        self.engine, self.settings = engine, settings

    def messages(self, item: Item, facts: Sequence[Fact], message: str) -> list[Message]:
        """The prompt for one pick: the person's latest words (data) and the facts, nothing else."""
        from prompts import render

        listed = "\n".join(f"- {clean_text(f.text, 300)}" for f in facts) or "- (no facts)"
        return [Message("system", render("reason_system")),
                Message("user", render("reason_user", message=clean_text(message, 400), title=clean_text(item.label, 200),
                                       genres=", ".join(item.genres) or "unknown", facts=listed))]

    def write(self, picks: Sequence[tuple[Item, Sequence[Fact]]], message: str, genres: Sequence[str],
              data_only: bool = False, on_reason: Callable[[int, Reason], None] | None = None) -> list[Reason]:
        """One :class:`Reason` per pick, in order; with ``llm_reasons`` on (and not ``data_only``)
        the first ``explain_top_k`` are asked of the LLM (``genres`` = the catalog's genre
        vocabulary, for the check). The requests go out together (the engine's server batches
        them); a failure only replaces that pick's reason. ``on_reason(i, reason)`` is called in
        the caller's thread as each checked LLM sentence arrives (so cards can fill one by one)."""
        if (self.engine is None or not picks or data_only or not self.settings.llm_reasons
                or self.settings.explain_top_k == 0):
            return [Reason(data_reason(item, facts), "data") for item, facts in picks]
        engine, checker = self.engine, StrictReasonChecker(genres)
        with cf.ThreadPoolExecutor(max_workers=len(picks), thread_name_prefix="recchat-reason") as pool:
            futures = [pool.submit(contextvars.copy_context().run, engine.generate_json,
                                   self.messages(item, facts, message), REASON_SCHEMA, self.settings.reason_max_tokens)
                       if i < self.settings.explain_top_k else None
                       for i, (item, facts) in enumerate(picks)]
            out: list[Reason | None] = [None] * len(picks)
            for fut in cf.as_completed([f for f in futures if f is not None]):
                i = futures.index(fut)
                out[i] = _checked(checker, *picks[i], fut)
                if on_reason is not None and out[i].source == "llm":
                    on_reason(i, out[i])
            return [r or _checked(checker, item, facts, None) for r, (item, facts) in zip(out, picks)]


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*(?=\s|$)")
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "sr.", "vs.", "no.", "mt.")


def complete_sentences(text: str, limit: int = 2) -> str:
    """The first ``limit`` complete sentences of ``text`` ("" when none is complete): a model that
    runs into its token cap mid-sentence keeps what it finished (a period after a title
    abbreviation such as "Mr." or "Dr." does not end a sentence)."""
    out, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        piece = text[start:match.end()].strip()
        if piece.lower().endswith(_ABBREVIATIONS) or (out and not piece):
            continue
        out.append(text[start:match.end()].strip())
        start = match.end()
        if len(out) == limit:
            break
    return " ".join(out)


def _checked(checker: StrictReasonChecker, item: Item, facts: Sequence[Fact], fut: cf.Future[Any] | None) -> Reason:
    """The LLM's reason for ``item`` if it passes every strict check, else the data sentence."""
    fallback = data_reason(item, facts)
    if fut is None:
        return Reason(fallback, "data")
    try:
        raw = fut.result()
        text = complete_sentences(" ".join(str(raw.get("reason", "")).split()) if isinstance(raw, dict) else "")
    except Exception as exc:  # noqa: BLE001 - EngineError, timeout: this pick falls back
        return Reason(fallback, "data", (f"error: {type(exc).__name__}",))
    verdict = checker.check(text, item, [f.text for f in facts])
    if not verdict.valid:
        return Reason(fallback, "data", verdict.flags)
    return Reason(text, "llm")

