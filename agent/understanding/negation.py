"""Negation scope: a cue ("not", "no", "without", "anything but", ...) negates the words after it up
to the end of its clause (punctuation, a dash, "but", "just", "for <audience>", ...)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.understanding.lexicon import GENRE_RE

_NEG_CUE = re.compile(
    r"(?<![\w'])(?:no\s+more|not|no|non(?=-)|never|none(?:\s+of)?|nothing|without|except(?:\s+for)?|excluding|"
    r"avoid|skip(?:ping)?|minus|hate[sd]?|dislike[sd]?|can'?t\s+stand|cannot\s+stand|sick\s+of|tired\s+of|spare\s+me|"
    r"(?:do|does|did|would|could)(?:\s+not|n'?t)\s+(?:like|want|need|enjoy|care\s+for|fancy|love)|"
    r"dont\s+(?:like|want|need|enjoy|care\s+for|fancy)|"
    r"(?:is|are|was|were)(?:\s+not|n'?t)|isnt|arent|ain'?t|"
    r"(?:anything|everything)\s+(?:but|except|other\s+than|besides)|other\s+than|rather\s+than|instead\s+of|"
    r"less|fewer)(?![\w'])")
# cue words that do not negate what follows: "not sure", "no preference", "no more than"
_NEG_CANCEL = re.compile(
    r"\s*(?:sure|bad|a\s+problem|problem|worries|matter|preference|particular|specific|idea|rush|doubt|kidding|"
    r"only|just|necessarily|much\s+of\s+a|limits?|than|in\s+particular|fan\s+of\s+(?:long|subtitles))(?![\w'])")
AUDIENCE_FOR = (r"for\s+(?:the\s+|my\s+|our\s+|a\s+|little\s+|young\s+|small\s+)*(?:kids?|children|child|kiddos?|"
                 r"toddlers?|little\s+ones|grandkids|grandchildren|family|\d{1,2}(?=[\s-]+years?[\s-]+old))")
_SCOPE_END_HARD = re.compile(r"[,.;:!?()\[\]\"]|\s[-\u2013\u2014]+\s|\s[-\u2013\u2014]+$")
_SCOPE_END_WORD = re.compile(
    r"(?<![\w'])(?:but|just|only|instead|rather|though|although|however|because|unless|while|whereas|so\s+that|"
    r"as\s+long\s+as|i\s+want|i'd\s+like|i\s+would\s+like|i\s+prefer|i'd\s+prefer|give\s+me|show\s+me|preferably|"
    r"ideally|maybe|perhaps|please|something|anything|"
    r"and\s+(?:a|an|some|something|i|it|it's|maybe|also|preferably|ideally|from|with|set|make)|" + AUDIENCE_FOR +
    r")(?![\w'])")


@dataclass(frozen=True)
class Scope:
    cue: int    # where the negation cue starts
    start: int  # what it negates: low[start:end]
    end: int


def negation_scopes(low: str) -> list[Scope]:
    """Negated stretches of ``low``: from each cue to the end of its clause."""
    out: list[Scope] = []
    for m in _NEG_CUE.finditer(low):
        rest = low[m.end():]
        if _NEG_CANCEL.match(rest):
            continue
        end = len(rest)
        if m.group(0) == "non":  # "non-horror thriller": only the hyphenated word
            word = re.match(r"-[\w'-]+", rest)
            if word:
                out.append(Scope(m.start(), m.end(), m.end() + word.end()))
            continue
        hard = _SCOPE_END_HARD.search(rest)
        if hard:
            end = hard.start()
        for w in _SCOPE_END_WORD.finditer(rest[:end]):
            if rest[:w.start()].strip():
                end = w.start()
                break
        if rest[:end].strip():
            out.append(Scope(m.start(), m.end(), m.end() + end))
    return out


def is_negated(pos: int, scopes: Sequence[Scope]) -> bool:
    return any(s.start <= pos < s.end for s in scopes)


def directly_negated(low: str, pos: int, scopes: Sequence[Scope], max_words: int = 3) -> bool:
    """True when a cue negates ``pos`` closely: at most ``max_words`` words between the cue and
    ``pos`` ("nothing made after 1970", "I don't want anything older than 1990") and no genre
    word among them ("no horror after 1980" negates the horror, not the year)."""
    for s in scopes:
        if s.start <= pos < s.end or pos == s.start:
            between = low[s.start:pos]
            if len(re.findall(r"[\w'-]+", between)) <= max_words and not GENRE_RE.search(between):
                return True
    return False
