"""Sentences from facts, and a list whose cards do not all read alike.

A card's reason is up to three sentences, each from one slot: the **wish** sentence (the
request's wishes the pick meets, :mod:`agent.reasons.wishes`), the **liked** sentence (the liked
film that matters and the lift or shared person, :mod:`agent.reasons.liked`), the **summary**
sentence (a quote of its overview, :mod:`agent.reasons.summary`); the **rating** sentence only
when nothing else is known (popularity alone is a last resort). Each slot has a few wordings,
all saying the same true facts; :func:`diversify` chooses, card by card in list order, the first
combination whose sentence patterns (:func:`pattern`) are not yet used by :data:`MAX_SHARED`
cards, so the wording varies with what is true of each pick and with the list, never at random.

Invariants: every sentence is built from fact strings (:meth:`Fact.cited`) plus fixed template
words; the output is deterministic; a list of n cards with at least three wordings per slot has
no pattern on more than ``max(MAX_SHARED, ceil(n / 3))`` cards.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from agent.reasons.facts import Fact
from agent.reasons.wishes import GENRE_NOUNS

#: most cards of one list that may share a sentence pattern
MAX_SHARED = 2
#: longest reason (characters) the summary quote is added to when other sentences are there
ROOM = 320
_GENRE_WORDS = sorted({w for n in GENRE_NOUNS.values() for w in n.split() if w != "film"} | {
    "action", "adventure", "crime", "fantasy", "horror", "sci-fi", "war", "noir", "children's"}, key=len, reverse=True)
_QUOTE = re.compile(r"[\"“][^\"”]*[\"”]")
_LABEL = re.compile(r"(?:[A-Z0-9*][^\s(]*\s+(?:[^\s(]+\s+){0,8}?)?(?:\([^)]*\)\s*)?\(\d{4}\)")
_NUMBER = re.compile(r"\d[\d,./%]*")
_CAPS = re.compile(r"(?:\b[A-Z][\w'’.-]*)(?:\s+(?:[A-Z][\w'’.-]*|of|the|de|von|van))*")
_GENRE = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in _GENRE_WORDS) + r")\b", re.IGNORECASE)


def pattern(sentence: str) -> str:
    """The sentence with its specifics replaced (quotes Q, "Title (Year)" T, numbers N,
    capitalised names P, genre words G), lower case: two sentences with the same pattern read alike."""
    s = _QUOTE.sub(" Q ", sentence)
    s = _LABEL.sub(" T ", s)
    s = _NUMBER.sub(" N ", s)
    s = _GENRE.sub(" G ", s)
    s = _CAPS.sub(lambda m: m.group(0) if m.group(0) in ("Q", "T", "N", "G") else " P ", s)
    return " ".join(s.lower().split())


def split_reason(reason: str) -> list[str]:
    """The sentences of a reason: a stop, "!" or "?" (or a closing quote right after one), outside
    quotes, followed by the end or by a space and a capital or digit."""
    out, start, quoted = [], 0, False
    for i, ch in enumerate(reason):
        if ch in "\"“”":
            quoted = not quoted
        ends = not quoted and (ch in ".!?" or (ch in "\"”" and i > 0 and reason[i - 1] in ".!?"))
        if ends and (i + 1 == len(reason) or (reason[i + 1] == " " and i + 2 < len(reason)
                                              and (reason[i + 2].isupper() or reason[i + 2].isdigit()))):
            out.append(reason[start:i + 1].strip())
            start = i + 1
    if reason[start:].strip():
        out.append(reason[start:].strip())
    return [s for s in out if s]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(parts: Sequence[str]) -> str:
    parts = [p for p in parts if p]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _stop(text: str) -> str:
    return text if text.rstrip("\"”'’").endswith((".", "!", "?")) else text + "."


def wish_sentences(wishes: Sequence[Fact]) -> list[str]:
    """Wordings of the wish sentence for up to three met wishes (strongest first)."""
    if not wishes:
        return []
    top = list(wishes[:3])
    keys = {w.key for w in top}
    proofs = [w.proof for w in top if not (w.key == "period" and "genre" in keys)]  # "a 1955 comedy" says the year
    asks = [w.ask for w in top]
    both = "both" if len(top) == 2 else "all" if len(top) > 2 else ""
    if "mood" in keys:  # a genre serving a mood was not asked for as such: no "as you asked" for it
        first = [_cap(_stop(top[0].text))] if len(top) == 1 else []
        return [*first, f"You asked for {_join(asks)}: {_join(proofs)}.",
                f"It fits your wish for {_join(asks)}: {_join(proofs)}."]
    return [
        f"{_cap(_join(proofs))}, as you asked.",
        f"You asked for {_join(asks)}: {_join(proofs)}.",
        f"It fits your wish for {_join(asks)}: {_join(proofs)}.",
        f"Just what you asked for{', on ' + both + ' counts' if both else ''}: {_join(proofs)}.",
    ]


def liked_sentences(fact: Fact | None) -> list[str]:
    """Wordings of the liked-film sentence (lift or shared person)."""
    if fact is None:
        return []
    return [_stop(_cap(t)) for t in (fact.text, fact.proof, *fact.alt) if t]


def summary_sentences(fact: Fact | None) -> list[str]:
    """Wordings of the summary sentence (the quote attributed to the summary)."""
    if fact is None:
        return []
    q = fact.proof
    if fact.key == "whole":
        return [_stop(f'Its summary: "{q}"'), _stop(f'The overview reads: "{q}"'),
                _stop(f'In the words of its summary: "{q}"')]
    return [f'Its summary begins: "{q}".', f'The overview opens: "{q}".', f'Its summary starts: "{q}".']


def rating_sentences(fact: Fact | None, label: str) -> list[str]:
    """Wordings of the rating sentence (a last resort)."""
    if fact is None:
        return []
    return [f"You may like {label}: {fact.text}.", f"If ratings matter to you, {fact.text}.",
            *(f"If ratings matter to you, {a}." for a in fact.alt)]


def candidates(label: str, facts: Sequence[Fact], limit: int = 48) -> list[list[str]]:
    """Every wording of a card's reason (lists of sentences), preferred first (see module doc)."""
    wishes = [f for f in facts if f.kind == "request"]
    liked = next((f for f in facts if f.kind == "behaviour"), None) or next((f for f in facts if f.kind == "person"), None)
    summary = next((f for f in facts if f.kind == "summary"), None)
    rating = next((f for f in facts if f.kind == "rating"), None)
    slots = [s for s in (wish_sentences(wishes), liked_sentences(liked)) if s]
    if summary is not None:
        slots.append(summary_sentences(summary))
    if not slots:
        slots.append(rating_sentences(rating, label))
    elif not wishes and liked is None and rating is not None:  # after the summary, said to the person
        alt = rating.alt[0] if rating.alt else rating.text
        slots.append([f"You may like it: {rating.text}.", f"If ratings matter to you, {rating.text}.",
                      f"If ratings matter to you, {alt}."])
    slots = [s for s in slots if s]
    if not slots:
        return []
    if len(slots) == 1 and summary is not None and not wishes and liked is None:  # said to the person
        q, begins = summary.proof, summary.key != "whole"
        slots = [[_stop(f'You can judge from its summary{" (its beginning)" if begins else ""}: "{q}"'),
                  _stop(f'If you want to know what it is about, its summary{" begins" if begins else " says"}: "{q}"')]]
    summary_last = summary is not None and bool(wishes or liked is not None)
    combos = sorted(itertools.product(*[range(len(s)) for s in slots]), key=lambda c: (sum(c), c))[:limit]
    out: list[list[str]] = []
    for combo in combos:
        sentences = [slots[k][i] for k, i in enumerate(combo)]
        if summary_last and len(sentences) >= 2 and len(" ".join(sentences)) > ROOM:
            sentences = sentences[:-1]  # a long reason keeps what ties the pick to the request
        if sentences not in out:
            out.append(sentences)
    return out


def diversify(options: Sequence[Sequence[Sequence[str]]], limit: int = MAX_SHARED) -> list[str]:
    """One reason per card from its wordings ``options`` (each a list of sentence lists, preferred
    first): the first whose patterns are used by fewer than ``limit`` earlier cards, else the one
    whose most used pattern is least used. A card without options gets ""."""
    used: dict[str, int] = {}
    out: list[str] = []
    for wordings in options:
        if not wordings:
            out.append("")
            continue
        def load(sentences: Sequence[str]) -> int:
            return max(used.get(pattern(s), 0) for s in sentences)
        chosen = next((w for w in wordings if load(w) < limit), None) or min(wordings, key=load)
        for p in {pattern(s) for s in chosen}:
            used[p] = used.get(p, 0) + 1
        out.append(" ".join(chosen))
    return out


def max_shared(reasons: Sequence[str]) -> int:
    """The most cards of ``reasons`` that share one sentence pattern (0 for no reason)."""
    counts: dict[str, int] = {}
    for reason in reasons:
        for p in {pattern(s) for s in split_reason(reason or "")}:
            counts[p] = counts.get(p, 0) + 1
    return max(counts.values(), default=0)
