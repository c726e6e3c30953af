"""Genres and audiences in a message: genre words and plurals, required or (negated) excluded,
"or"-lists as a taste, mood words as soft wishes, audiences ("for my 6 year old") as Children's;
kind words ("heist") as retrieval hints."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.understanding.lexicon import ALL_GENRE_WORDS, COMPOUND_GENRE_WORDS, GENRE_WORDS, KIND_HINTS, \
    NARROW_GENRE_WORDS, SOFT_GENRE_WORDS
from agent.understanding.negation import AUDIENCE_FOR, Scope, is_negated
from agent.understanding.vocabulary import Vocabulary
from agent.understanding.years import NUMBER_WORDS

AUDIENCE_RE = re.compile(
    r"(?<![\w'])(?:" + AUDIENCE_FOR + r"(?:[\s-]+years?[\s-]+olds?)?|"
    r"(?:my|our|the|a)\s+(\d{1,2}|" + "|".join(NUMBER_WORDS) + r")[\s-]+years?[\s-]+olds?|"
    r"(?:whole|entire)\s+family|family[\s-]+(?:night|movie|movies|film|films|friendly|evening|fun|time|viewing|day|"
    r"outing|weekend|afternoon|gathering)|(?:with|for)\s+(?:the|my|our)\s+family|"
    r"(?:my|our)\s+(?:kids|children|little\s+ones|toddlers?|kiddos)|"
    r"(?:kid|kids|child|children)[\s-]+(?:friendly|safe|appropriate)|suitable\s+for\s+(?:kids|children)|"
    r"birthday\s+party)(?![\w])")


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    genre: str
    soft: bool = False       # a mood word: a wish, not a filter
    audience: bool = False   # "for kids", "family night": Children's wanted


def genre_mentions(low: str, vocab: Vocabulary) -> list[_Mention]:
    """Genre words (with plurals, compounds and catalog genre names) and audience phrases in
    ``low`` (already lower-cased and masked), in text order."""
    out: list[_Mention] = []
    taken: list[tuple[int, int]] = []
    words = sorted(set(ALL_GENRE_WORDS) | {g.lower() for g in vocab.genres}, key=len, reverse=True)
    for w in words:
        for m in re.finditer(r"(?<![\w'])" + re.escape(w) + r"(?:e?s)?(?![\w])(?!-(?:packed|ish|esque|like|y)\b)", low):
            if any(a <= m.start() < b or m.start() <= a < m.end() for a, b in taken):
                continue
            genres = COMPOUND_GENRE_WORDS.get(w) or ((vocab.genre(w),) if vocab.genre(w) else ())
            genres = tuple(g for g in genres if g in vocab.genres)
            if not genres:
                continue
            taken.append((m.start(), m.end()))
            out += [_Mention(m.start(), m.end(), g, soft=w in SOFT_GENRE_WORDS) for g in genres]
    out.sort(key=lambda x: x.start)
    # "romantic comedy", "romantic dramas": "romantic" names the genre when a genre noun follows
    for i, x in enumerate(out):
        if x.soft and low[x.start:x.end] == "romantic" and any(
                0 < y.start - x.end <= 2 and not y.soft for y in out[i + 1:i + 3]):
            out[i] = _Mention(x.start, x.end, x.genre)
    if "Children's" in vocab.genres:
        for m in AUDIENCE_RE.finditer(low):
            age = m.group(1)
            if age and (int(age) if age.isdigit() else NUMBER_WORDS.get(age, 99)) > 12:
                continue
            digits = re.search(r"(\d{1,2})[\s-]+years?[\s-]+old", m.group(0))
            if digits and int(digits.group(1)) > 12:
                continue
            out.append(_Mention(m.start(), m.end(), "Children's", audience=True))
        out.sort(key=lambda x: x.start)
    return out


@dataclass
class _Genres:
    wanted: list[str] = field(default_factory=list)    # required (hard)
    either: list[str] = field(default_factory=list)    # "a comedy or a romance": a taste
    excluded: list[str] = field(default_factory=list)


def read_genres(low: str, vocab: Vocabulary, scopes: Sequence[Scope]) -> _Genres:
    out = _Genres()
    mentions = genre_mentions(low, vocab)
    asked = {x.genre for x in mentions if not is_negated(x.start, scopes)}
    positive: list[_Mention] = []
    for x in mentions:
        if is_negated(x.start, scopes):
            narrow = re.sub(r"e?s$", "", low[x.start:x.end]) in NARROW_GENRE_WORDS
            if narrow and x.genre in asked:  # "scary, but not a slasher": still a horror film
                continue
            if x.genre not in out.excluded:
                out.excluded.append(x.genre)
        elif not x.soft:  # mood words stay wishes (liked attributes)
            positive.append(x)
    # genres joined by "or" ("a comedy or a romance", "either a western or a war movie") are a taste
    plain = [x for x in positive if not x.audience]
    either: set[int] = set()
    for a, b in zip(plain, plain[1:]):
        between = low[a.end:b.start]
        if a.genre != b.genre and len(between) <= 40 and re.search(r"\bor\b|/", between) and not re.search(r"[.;!?]", between):
            either |= {id(a), id(b)}
    for x in positive:
        target = out.either if id(x) in either else out.wanted
        if x.genre not in target and x.genre not in out.excluded:
            target.append(x.genre)
    out.either = [g for g in out.either if g not in out.wanted]
    return out


def wished_genres(attributes: Sequence[str]) -> tuple[str, ...]:
    """Genres the mood words among the liked ``attributes`` hint at ("funny" -> Comedy): wishes
    that raise such films in the ranking (agent.ranking.fusion.WISHED_GENRE_WEIGHT), never a filter."""
    return tuple(dict.fromkeys(GENRE_WORDS[a] for a in attributes if a in SOFT_GENRE_WORDS))


def kind_genres(text: str) -> tuple[str, ...]:
    """The genres the :data:`KIND_HINTS` words of ``text`` name ("heist" -> Crime, Thriller), in
    order, unique (catalog names; the caller keeps those its catalog has)."""
    words = [w.rstrip("s") if w.rstrip("s") in KIND_HINTS else w for w in re.findall(r"[a-z]+", text.lower())]
    return tuple(dict.fromkeys(g for w in words if w in KIND_HINTS for g in KIND_HINTS[w]))


def with_kind_hints(focus: str, vocab: Vocabulary) -> str:
    """``focus`` plus the catalog genres of its :data:`KIND_HINTS` words ("heist movies" ->
    "heist movies; crime, thriller"); unchanged when it names none."""
    have = {g.lower() for g in vocab.genres}
    hints = [g.lower() for g in kind_genres(focus)]
    hints = [g for g in hints if g in have and g not in focus.lower()]
    return f"{focus}; {', '.join(hints)}" if hints else focus
