"""Strict check of one pick's reason: is it a reason a person can trust and read?

Used by the evaluation (issue 16, section 3) and by the chat to guard what is shown (issue 18).
Unlike :class:`agent.reasons.grounding.GroundingChecker` (which accepts a claim found anywhere in the
metadata of the whole history and in the item's free text), the evidence here is ONLY:

- the pick's own *structured* metadata: "Title (Year)", genres, and the structured ``item.extra``
  fields (director, writer, cast, country, language, ...). ``item.text`` is never evidence (it is
  untrusted free text that may carry false claims or injections), nor is an ``extra`` field whose
  key names free text (description, overview, plot, ...) or whose string value is longer than
  :data:`MAX_STRUCTURED_CHARS` characters or :data:`MAX_STRUCTURED_WORDS` words or holds a
  sentence end followed by more text (prose, not a name such as "Charles S. Dutton");
- the ``cited`` texts: what the reason may cite (names of the person's liked/referenced films as
  "Title (Year)", computed facts such as "4 in 10 people who rated Se7en 4+ also rated it 4+",
  the person's own words).

Claims are those of :class:`~agent.reasons.grounding.GroundingChecker` (year, decade, genre, name), checked
against the evidence above, plus ``quote`` claims and ``number`` claims. A ``quote`` is a span in
double quotes: grounded when it occurs verbatim (normalised) in the cited texts, or in the pick's
quotable free text (overview, tagline, keywords, description: :func:`quotable_text`, without the
sentences :func:`retrieval.untrusted.strip_instructions` drops) AND its sentence says whose words
they are ("Its summary: ..."); what is inside a quote is not checked as the reason's own claims
(it is the source's, and says so). ``number`` claims are a numeral that is not a year ("70", "100",
"4.2") or lower-case number word from "two" on ("eleven"), grounded if the same number occurs in the evidence.

Flags (a reason is valid iff it has none; order as in :data:`FLAGS`):

- ``missing``: None, empty or blank (then no other flag is given).
- ``truncated``: it does not end at a sentence end ("." "!" "?", optionally followed by closing
  quotes/brackets), ends with "..." , or its last word is a dangling function word ("a", "the",
  "and", "of", "with", "features", ...; see :data:`DANGLING_WORDS`).
- ``malformed``: a complete sentence ends in a bare number that is not a year ("... a 1995 2.",
  "... is a comedy 5."; a number after a quantity word such as "rated", "of", "top", or one that
  ends a title found in the evidence, is not bare), or the same sentence occurs twice.
- ``third_person``: it talks about the person instead of to them ("the user", "user's criteria",
  "this person", "the viewer", "a good pick for them", "what they asked for", ...).
- ``recital``: it neither addresses the person ("you", "your", ...) nor mentions any cited
  evidence (a cited film's title, or a name claim found in the cited texts that is not part of
  the pick's own title).
- ``no_claim``: no grounded claim other than the pick's own title and a "(Year)" label, i.e.
  nothing checkable that says why.
- ``ungrounded``: at least one claim is not in the evidence.

List level: :func:`duplicates_in_list` finds reasons repeating an earlier one of the same list (the
evaluation counts them as malformed); :func:`summarise` pools verdicts into the reported figures;
:func:`write_reason_sample` writes a markdown sample for a person to judge.

Limits (by design, evidence is plain text): a genre, year or name that occurs in a cited text
grounds the claim even if the reason attributes it to the pick (cite a person's words such as "a
thriller" and "this is a thriller" passes for a non-thriller); a number is grounded by the same
number anywhere in the evidence, not by the fact it counts ("won 4 Oscars" passes when the
film was nominated for 4).

Invariants: :meth:`StrictReasonChecker.check` is deterministic and never raises for a string or
None; ``verdict.valid == (verdict.flags == ())``; ``grounded_claims <= total_claims ==
len(claims)``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.reasons.grounding import Claim, GroundingChecker, normalise, split_sentences
from retrieval.items import Item
from retrieval.untrusted import strip_instructions

#: Every flag, in the order verdicts list them.
FLAGS: tuple[str, ...] = ("missing", "truncated", "malformed", "third_person", "recital", "no_claim", "ungrounded")

#: ``item.extra`` keys that hold free text (compared normalised); never evidence.
FREE_TEXT_KEYS = frozenset(
    "description overview plot summary synopsis tagline storyline review reviews text content body "
    "notes note comment comments blurb abstract trivia keywords keyword tags".split()
)
#: free-text fields a reason may QUOTE (verbatim, attributed, from their instruction-free text)
QUOTABLE_KEYS = ("overview", "tagline", "keywords", "description", "plot", "summary", "synopsis")
#: a sentence quoting free text must say whose words they are
_ATTRIBUTION = re.compile(r"\b(?:summary|overview|synopsis|tagline|keywords?|description|plot|described|says|reads)\b",
                          re.IGNORECASE)
_ANY_QUOTE = re.compile(r"[\"“”]([^\"“”]+)[\"“”]")
#: Longest string value of an ``extra`` field that still counts as structured.
MAX_STRUCTURED_CHARS = 120
#: Most words in a string value of an ``extra`` field that still counts as structured.
MAX_STRUCTURED_WORDS = 12

#: A last word (before the final punctuation) that means the sentence was cut.
DANGLING_WORDS = frozenset(
    "a an the and or but nor of with its their your than featuring features starring including".split()
)
#: Last two words that mean the sentence was cut ("directed by.").
DANGLING_PAIRS = frozenset({("directed", "by"), ("written", "by"), ("produced", "by"), ("such", "as")})
#: Words after which a sentence-final number is a quantity, not a stray token ("rated 4.2.").
QUANTITY_WORDS = frozenset(
    "of is was are were at about around approximately nearly almost over under than to top number no "
    "rated rating ratings scored score average out by in and or from ranked rank age ages aged part "
    "episode season chapter volume vol".split()
)

_CLOSERS = "\"'”’)]»"
_CLOSER_CLASS = "[" + re.escape(_CLOSERS) + "]"
_SENTENCE_END = re.compile(rf"[.!?]{_CLOSER_CLASS}*$")
_ELLIPSIS = re.compile(rf"(?:\.\.\.|…){_CLOSER_CLASS}*$")
_ADDRESS = re.compile(r"\b(?:you|your|yours|yourself|yourselves|you['’](?:ll|re|ve|d))\b", re.IGNORECASE)
_THIRD_PERSON = re.compile(
    r"\b(?:users?(?:['’]s?)?|(?:the|this|that)\s+(?:person|viewer|customer|individual|requester|watcher)(?:['’]s)?"
    r"|viewer['’]s"
    # "them"/"they" for the person (seen with Qwen-0.5B: "a good pick for them"), not a film's characters
    r"|(?:for|suits?|suit|to)\s+them|they\s+(?:asked|want(?:ed)?|like[sd]?|enjoy(?:ed)?|requested|said)"
    r"|their\s+(?:request|criteria|taste|preferences?))\b",
    re.IGNORECASE,
)
_PROSE = re.compile(r"\b[a-z]{3,}[.!?]\s+\S")  # a sentence end inside a value: free text, not a name
_NUMBER = re.compile(r"(?<![\w.,/])\d+(?:[.,]\d+)?(?![\w'’/]|[.,]\d)")
#: Number words that make a ``number`` claim ("one" is left out: "this one", "one of the best").
NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split()) if i >= 2}
NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100})
# lower case only: a capitalised number word is usually a title ("Seven", "Twelve Monkeys")
_NUMBER_WORD = re.compile(r"\b(?:" + "|".join(NUMBER_WORDS) + r")\b")
_BARE_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_YEARISH = re.compile(r"1[89]\d\d|20\d\d")
_CITED_TITLE = re.compile(r"([^,;:\n]+?)\s*\((1[89]\d\d|20\d\d)\)")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an) ")


@dataclass(frozen=True)
class ReasonVerdict:
    """The strict verdict on one reason. ``valid`` iff ``flags`` is empty; ``claims`` are all the
    claims found, each with its ``grounded`` flag; ``grounded_claims``/``total_claims`` count them."""

    valid: bool
    flags: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = field(default=())
    grounded_claims: int = 0
    total_claims: int = 0

    @property
    def ungrounded(self) -> tuple[str, ...]:
        """The text of every ungrounded claim, in reason order."""
        return tuple(c.text for c in self.claims if not c.grounded)


def structured_evidence(item: Item) -> str:
    """The pick's trusted metadata as text: "Title (Year)", genres and the structured ``extra``
    fields. Never ``item.text``, a free-text ``extra`` key, or a long/multi-sentence string."""
    parts = [item.label]
    if item.genres:
        parts.append("Genres: " + ", ".join(item.genres) + ".")
    for key, values in structured_fields(item):
        parts.append(f"{key.replace('_', ' ').capitalize()}: {', '.join(values)}.")
    return " ".join(parts)


def structured_fields(item: Item) -> list[tuple[str, list[str]]]:
    """The ``extra`` fields that count as evidence, as (key, values) sorted by key: free-text keys
    (:data:`FREE_TEXT_KEYS`) and prose-like string values are left out."""
    out: list[tuple[str, list[str]]] = []
    for key, value in sorted(item.extra.items()):
        if normalise(key) in FREE_TEXT_KEYS or normalise(key).replace(" ", "") in FREE_TEXT_KEYS:
            continue
        values = value if isinstance(value, list) else [value]
        kept = [str(v) for v in values if _is_structured(v)]
        if kept:
            out.append((key, kept))
    return out


def _is_structured(value: object) -> bool:
    if not isinstance(value, str):
        return True  # numbers and booleans
    text = value.strip()
    return bool(text) and len(text) <= MAX_STRUCTURED_CHARS and len(text.split()) <= MAX_STRUCTURED_WORDS \
        and not _PROSE.search(text)


class _StructuredGrounding(GroundingChecker):
    """GroundingChecker whose item evidence is the structured metadata only."""

    def item_evidence(self, item: Item) -> str:
        return structured_evidence(item)


class _CitedOnlyGrounding(GroundingChecker):
    """GroundingChecker whose item evidence is empty: claims are checked against the cited texts."""

    def item_evidence(self, item: Item) -> str:
        return ""


class StrictReasonChecker:
    """Checks reasons strictly (see the module doc for the evidence and the flags).

    ``genres`` is the catalog's genre vocabulary (as for :class:`~agent.reasons.grounding.GroundingChecker`).
    Stateless after construction; safe to share between threads."""

    def __init__(self, genres: Iterable[str]) -> None:
        vocab = tuple(genres)
        self._grounding = _StructuredGrounding(vocab)
        self._cited_only = _CitedOnlyGrounding(vocab)

    def check(self, reason: str | None, item: Item, cited: Sequence[str] = ()) -> ReasonVerdict:
        """The verdict on ``reason`` for the pick ``item``, given the evidence it may cite."""
        text = (reason or "").strip()
        if not text:
            return ReasonVerdict(valid=False, flags=("missing",))
        cited_texts = (cited,) if isinstance(cited, str) else tuple(c for c in cited if c and c.strip())
        cited_joined = "\n".join(cited_texts)
        quotes, unquoted = _quote_claims(text, item, cited_joined)
        report = self._grounding.check(unquoted, item, cited_joined)
        evidence = structured_evidence(item) + "\n" + cited_joined
        norm_ev = f" {normalise(evidence)} "
        claims = quotes + report.claims + _number_claims(unquoted, norm_ev)
        flags: set[str] = set()
        if _truncated(text):
            flags.add("truncated")
        if _malformed(text, norm_ev):
            flags.add("malformed")
        if _THIRD_PERSON.search(text):
            flags.add("third_person")
        if not _ADDRESS.search(text) and not self._mentions_cited(text, item, cited_texts, cited_joined):
            flags.add("recital")
        if not any(c.grounded and not _restates_label(c, item, text) for c in claims):
            flags.add("no_claim")
        if any(not c.grounded for c in claims):
            flags.add("ungrounded")
        ordered = tuple(f for f in FLAGS if f in flags)
        grounded = sum(c.grounded for c in claims)
        return ReasonVerdict(valid=not ordered, flags=ordered, claims=claims, grounded_claims=grounded,
                             total_claims=len(claims))

    def _mentions_cited(self, text: str, item: Item, cited: tuple[str, ...], cited_joined: str) -> bool:
        """True if the reason names a cited film's title, or makes a name claim found in the cited
        texts that is not part of the pick's own title."""
        if not cited:
            return False
        norm_text = f" {normalise(text)} "
        for title in _cited_titles(cited):
            if f" {title} " in norm_text:
                return True
        own_title = f" {normalise(item.title)} "
        bare = item.model_copy(update={"year": None})  # its decade must not ground anything here
        report = self._cited_only.check(text, bare, cited_joined)
        return any(c.kind == "name" and c.grounded and f" {normalise(c.text)} " not in own_title for c in report.claims)


def quotable_text(item: Item) -> list[str]:
    """The pick's free text a reason may quote: :data:`QUOTABLE_KEYS` fields and the description,
    each without the sentences :func:`retrieval.untrusted.strip_instructions` drops."""
    out = [strip_instructions(item.text)] if item.text else []
    for key in QUOTABLE_KEYS:
        value = item.extra.get(key)
        for v in value if isinstance(value, list) else [value] if value else []:
            out.append(strip_instructions(str(v)))
    return [t for t in out if t and t.strip()]


def _quote_claims(text: str, item: Item, cited: str) -> tuple[tuple[Claim, ...], str]:
    """A ``quote`` claim per quoted span of ``text``, and ``text`` with the spans blanked (what is
    inside a quote is the source's words, not the reason's claims). A quote is grounded when it
    occurs verbatim (normalised) in the cited texts, or in the pick's quotable text and its
    sentence says whose words they are (summary, overview, tagline, keywords, ...)."""
    norm_cited = f" {normalise(cited)} "
    norm_free = f" {' | '.join(normalise(t) for t in quotable_text(item))} "
    claims: list[Claim] = []
    for m in _ANY_QUOTE.finditer(text):
        quote = normalise(m.group(1))
        if not quote:
            continue
        lead = re.split(r"[.!?]\s", text[max(0, m.start() - 80):m.start()])[-1]  # the words before it, same sentence
        ok = f" {quote} " in norm_cited or (f" {quote} " in norm_free and bool(_ATTRIBUTION.search(lead)))
        claims.append(Claim("quote", m.group(1).strip(), ok))
    return tuple(claims), _ANY_QUOTE.sub(" ", text)


def _cited_titles(cited: Sequence[str]) -> set[str]:
    """Normalised titles of every "Title (Year)" in the cited texts, also without a parenthetical
    alternative title ("Seven (Se7en)" -> "seven se7en", "seven") and without a leading article."""
    out: set[str] = set()
    for text in cited:
        for m in _CITED_TITLE.finditer(text):
            raw = m.group(1).strip()
            for form in (raw, re.sub(r"\s*\([^)]*\)", "", raw)):
                norm = normalise(form)
                for variant in (norm, _LEADING_ARTICLE.sub("", norm)):
                    if variant and variant not in {"the", "a", "an"}:
                        out.add(variant)
    return out


def _restates_label(claim: Claim, item: Item, text: str) -> bool:
    """A grounded claim that only repeats the pick's label: a name inside its own title, or its
    year written as "(Year)"."""
    if claim.kind == "name":
        return f" {normalise(claim.text)} " in f" {normalise(item.title)} "
    if claim.kind == "year" and item.year is not None and claim.text == str(item.year):
        uses = re.findall(rf"(\(\s*)?(?<!\d){claim.text}(?!\d)", text)
        return all(opening for opening in uses)
    return False


_SCORE = re.compile(r"(?<![\w.,/])(\d+(?:\.\d+)?)\s*/\s*(?:5|10|100)(?![\w.,/]|[.,]\d)")


def _number_claims(text: str, norm_ev: str) -> tuple[Claim, ...]:
    """A ``number`` claim for each numeral that is not a 4-digit year 1880-2099, and for each
    score ("4.1/5", "8.0/10", "84/100": its first number; the scale is not a claim)."""
    out: list[Claim] = [Claim("number", m.group(1), f" {normalise(m.group(1))} " in norm_ev)
                        for m in _SCORE.finditer(text)]
    for m in _NUMBER.finditer(text):
        number = m.group(0)
        if _YEARISH.fullmatch(number):
            continue
        out.append(Claim("number", number, f" {normalise(number)} " in norm_ev))
    for m in _NUMBER_WORD.finditer(text):  # "won eleven Oscars": grounded by "11" or "eleven"
        word = m.group(0).lower()
        out.append(Claim("number", word, f" {NUMBER_WORDS[word]} " in norm_ev or f" {word} " in norm_ev))
    return tuple(out)


def _last_words(text: str) -> list[str]:
    body = text.rstrip().rstrip(_CLOSERS + ".!?…").rstrip()
    return [w.strip(_CLOSERS + "(\"'“‘[,;:").lower() for w in body.split()]


def _truncated(text: str) -> bool:
    """Not ending at a sentence end, ending in "...", or ending with a dangling function word."""
    if not _SENTENCE_END.search(text) or _ELLIPSIS.search(text):
        return True
    words = [w for w in _last_words(text) if w]
    if not words:
        return True
    if words[-1] in DANGLING_WORDS:
        return True
    return len(words) >= 2 and (words[-2], words[-1]) in DANGLING_PAIRS


def _malformed(text: str, norm_ev: str) -> bool:
    """A complete sentence ending in a bare non-year number, or a sentence repeated."""
    sentences = split_sentences(text)
    seen: set[str] = set()
    for sentence in sentences:
        key = normalise(sentence)
        if key and key in seen:
            return True
        seen.add(key)
        if _SENTENCE_END.search(sentence) and _ends_in_bare_number(sentence, norm_ev):
            return True
    return False


def _ends_in_bare_number(sentence: str, norm_ev: str) -> bool:
    stripped = sentence.rstrip()
    tail = stripped[len(stripped.rstrip(_CLOSERS + ".!?")):]
    if ")" in tail or "]" in tail:  # "(4 in 10)." is a parenthetical figure
        return False
    raw = stripped.rstrip(_CLOSERS + ".!?").split()
    if not raw or not _BARE_NUMBER.fullmatch(raw[-1]) or _YEARISH.fullmatch(raw[-1]):
        return False
    if len(raw) == 1:
        return True
    previous = raw[-2].strip(_CLOSERS + "(\"'“‘,;:")
    if previous.lower() in QUANTITY_WORDS:
        return False
    if previous[:1].isupper() and f" {normalise(previous + ' ' + raw[-1])} " in norm_ev:
        return False  # the end of a title in the evidence ("Die Hard 2.")
    return True


def duplicates_in_list(reasons: Sequence[str | None]) -> set[int]:
    """Indices whose reason (normalised: case, accents, punctuation, spacing) repeats an earlier
    reason of the same list. Missing/blank reasons are never duplicates."""
    seen: set[str] = set()
    out: set[int] = set()
    for index, reason in enumerate(reasons):
        key = normalise(reason or "")
        if not key:
            continue
        if key in seen:
            out.add(index)
        seen.add(key)
    return out


def summarise(verdicts: Sequence[ReasonVerdict], calls: int = 0, invalid_calls: int = 0) -> dict[str, Any]:
    """Figures over the shown picks' verdicts.

    ``picks``; ``valid`` and ``valid_share`` (valid / picks); ``claims``, ``grounded_claims`` and
    ``claim_precision`` (grounded / total claims pooled over all reasons, None when there is no
    claim); ``truncation_rate`` (share of picks flagged truncated); ``flag_counts`` (every flag of
    :data:`FLAGS` -> number of picks with it); ``calls``, ``invalid_calls`` and
    ``invalid_call_rate`` (invalid_calls / calls, None when calls == 0). Shares are None when there
    is no pick."""
    picks = len(verdicts)
    counts = {flag: sum(flag in v.flags for v in verdicts) for flag in FLAGS}
    total = sum(v.total_claims for v in verdicts)
    grounded = sum(v.grounded_claims for v in verdicts)
    valid = sum(v.valid for v in verdicts)
    return {
        "picks": picks,
        "valid": valid,
        "valid_share": valid / picks if picks else None,
        "claims": total,
        "grounded_claims": grounded,
        "claim_precision": grounded / total if total else None,
        "truncation_rate": counts["truncated"] / picks if picks else None,
        "flag_counts": counts,
        "calls": calls,
        "invalid_calls": invalid_calls,
        "invalid_call_rate": invalid_calls / calls if calls else None,
    }


def md_escape(text: object) -> str:
    """``text`` safe inside a markdown table cell: HTML escaped, markdown specials and pipes
    backslash-escaped, newlines as <br>."""
    out = html.escape(str(text), quote=False)
    out = re.sub(r"([\\`*_\[\]{}#|~])", r"\\\1", out)
    return "<br>".join(line.strip() for line in out.splitlines()) if "\n" in out else out


def write_reason_sample(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write reasons for a person to judge as markdown at ``path`` (parents created).

    Each row is a mapping with ``item`` (:class:`Item`, required), ``reason`` (str or None),
    ``cited`` (sequence of str) and ``verdict`` (:class:`ReasonVerdict`) and optionally
    ``source`` (e.g. "llm"/"fallback") and ``request`` (the person's message). Per row: the pick
    "Title (Year)", its structured metadata as in :func:`structured_fields` (never its free text),
    the cited evidence, the reason, the verdict (valid / flags / ungrounded claims) and a line for
    the judge. Every cell is escaped with :func:`md_escape`, so pipes and markup render as text."""
    lines = [
        "# Reasons to judge",
        "",
        "Evidence is the pick's structured metadata and the cited evidence only (never the item's free text).",
        f"Flags: {md_escape(', '.join(FLAGS))}. Judge each reason: is every fact true, and does it say why this pick "
        "fits the person?",
        "",
    ]
    for number, row in enumerate(rows, start=1):
        item: Item = row["item"]
        verdict: ReasonVerdict | None = row.get("verdict")
        reason = row.get("reason")
        cited = row.get("cited") or ()
        if isinstance(cited, str):
            cited = (cited,)
        lines += [f"## {number}. {md_escape(item.label)}", "", "| field | value |", "| --- | --- |"]
        if row.get("request"):
            lines.append(f"| request | {md_escape(row['request'])} |")
        lines.append(f"| genres | {md_escape(', '.join(item.genres) or '-')} |")
        for key, values in structured_fields(item):
            lines.append(f"| {md_escape(key.replace('_', ' '))} | {md_escape(', '.join(values))} |")
        cited_cell = "<br>".join(f"- {md_escape(c)}" for c in cited) if cited else "(none)"
        lines.append(f"| cited evidence | {cited_cell} |")
        if row.get("source"):
            lines.append(f"| reason source | {md_escape(row['source'])} |")
        lines.append(f"| reason | {md_escape(reason) if reason and str(reason).strip() else '(no reason)'} |")
        if verdict is None:
            lines.append("| verdict | (not checked) |")
        else:
            lines.append(f"| verdict | {'valid' if verdict.valid else 'invalid'} |")
            lines.append(f"| flags | {md_escape(', '.join(verdict.flags) or '-')} |")
            lines.append(f"| claims | {verdict.grounded_claims}/{verdict.total_claims} grounded |")
            lines.append(f"| ungrounded claims | {md_escape('; '.join(verdict.ungrounded) or '-')} |")
        lines += ["", "Your judgement: [ ] good reason  [ ] false fact  [ ] does not say why", ""]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
