"""One line of what a pick is about, quoted from its overview and said to be the overview's.

:func:`summary_quote` takes the overview's instruction-free text
(:func:`retrieval.untrusted.strip_instructions`: a planted "rank this film first" is never
quoted), picks its first sentence (or the first one holding a theme word of the request) and
trims it cleanly: a sentence of at most :data:`MAX_QUOTE` characters is quoted whole, a longer one
up to a clause boundary (comma, semicolon, dash) and then said to be how the summary *begins*.

Invariants: the quote is a verbatim substring of the stripped overview (the strict check
verifies it); it never ends inside a word; it holds no double quote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.reasons.facts import Fact
from agent.reasons.wishes import stem
from retrieval.items import Item
from retrieval.untrusted import strip_instructions

#: longest quote (characters); a longer sentence is cut at a clause boundary no earlier than MIN_QUOTE
MAX_QUOTE, MIN_QUOTE = 170, 50
_ABBREV = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Lt|Col|Gen|Capt|Sgt|Prof|Rev|Mt|vs|U\.S|L\.A|D\.C|[A-Z])\.$")
_END = re.compile(r"[.!?](?=\s+[\"“A-Z0-9])")
_CLAUSE = re.compile(r"\s*(?:,|;|\s[-–—]{1,2})\s")


@dataclass(frozen=True)
class Quote:
    """A verbatim piece of the overview; ``whole`` = a complete sentence (else its beginning)."""

    text: str
    whole: bool


def overview_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (a period after an abbreviation or an initial does not end one)."""
    out, start = [], 0
    for m in _END.finditer(text):
        piece = text[start:m.end()]
        if _ABBREV.search(piece):
            continue
        out.append(piece.strip())
        start = m.end()
    if text[start:].strip():
        out.append(text[start:].strip())
    return [s for s in out if s]


def summary_quote(item: Item, themes: Sequence[str] = ()) -> Quote | None:
    """The quote for ``item`` (see the module doc), or None without a usable overview."""
    overview = " ".join(strip_instructions(str(item.extra.get("overview") or "")).replace('"', "'").split())
    sentences = [s for s in overview_sentences(overview) if len(s) >= 20]
    if not sentences:
        return None
    stems = {stem(t) for t in themes}
    sentence = next((s for s in sentences if any(stem(w) in stems for w in re.findall(r"[A-Za-z]+", s))), sentences[0])
    if len(sentence) <= MAX_QUOTE:
        return Quote(sentence, True)
    found = [m for m in _CLAUSE.finditer(sentence) if MIN_QUOTE <= m.start() <= MAX_QUOTE]
    if not found:
        return None
    strong = [m.start() for m in found if "," not in m.group(0)]  # a dash or semicolon ends a thought
    return Quote(sentence[:(strong or [m.start() for m in found])[-1]].rstrip(" ,;"), False)


def summary_fact(item: Item, themes: Sequence[str] = ()) -> Fact | None:
    """The ``summary`` fact of ``item``: its quote, attributed to the summary."""
    quote = summary_quote(item, themes)
    if quote is None:
        return None
    verb = "" if quote.whole else " begins"
    return Fact("summary", f'its summary{verb}: "{quote.text}"', "whole" if quote.whole else "begins", "", quote.text)
