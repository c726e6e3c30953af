"""Titles a person names as references ("like Se7en", "I loved Heat", "The Matrix is my favourite"),
resolved to catalog items and masked so their words are never read as genres or years."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.understanding.lexicon import GENRE_RE
from agent.understanding.profile import ItemRef
from agent.understanding.vocabulary import Vocabulary

GENERIC_WORDS = frozenset({"a", "an", "the", "any", "more", "another", "other", "too", "much", "so", "really", "movie",
                      "movies", "film", "films", "flick", "flicks", "one", "ones", "stuff", "kind", "kinds", "of", "type",
                      "sort", "genre", "genres", "something", "anything", "that", "is", "it", "in", "with", "made",
                      "released", "please", "this", "these", "those", "them", "some", "things", "thing", "good",
                      "great", "old", "new", "watching", "watch", "to", "see", "tonight", "again", "else", "all",
                      "me", "you", "i", "we", "us", "what", "who", "which", "first", "second", "third", "fourth",
                      "fifth", "last", "next", "previous", "same", "isn't", "not", "no", "but", "and", "or", "mood",
                      "now", "today", "right", "starring", "featuring", "picture", "pictures"})
LIKE_CUE = re.compile(
    r"(?<![\w'])(?:like|similar\s+to|such\s+as|as\s+good\s+as|loved|love|enjoyed|liked|adored|adore|fan\s+of|"
    r"in\s+the\s+vein\s+of|along\s+the\s+lines\s+of|in\s+the\s+style\s+of|reminiscent\s+of|reminds\s+me\s+of|"
    r"same\s+vibe\s+as|the\s+vibe\s+of|the\s+feel\s+of|a\s+la)\s+")
_NOT_A_LIKE = re.compile(  # "I'd like a ...", "I feel like a cowboy movie", "would like to" (but "I love Heat")
    r"(?:\b(?:would|i'd|id|i|we|we'd|you'd|feel|feels|feeling|look|looks|sound|sounds|seem|seems)\s*)$")
_NOT_A_TITLE_NEXT = re.compile(r"(?:to|a|an|some|something|anything|movies?|films?|watching|seeing|it|that|this|one|more)(?![\w'])")


def wish_not_reference(low: str, m: re.Match[str]) -> bool:
    """True for "I'd like a ...", "I feel like something ...", "we'd love to ...": a wish, not "like <title>"."""
    return (m.group(0).startswith(("like", "love")) and bool(_NOT_A_LIKE.search(low[max(0, m.start() - 14):m.start()]))
            and bool(_NOT_A_TITLE_NEXT.match(low, m.end())))


_FAVOURITE = re.compile(
    r"(?:^|(?<=[.!?;,]\s)|(?<=\band\s))([^.!?;,]{1,70}?)\s+(?:is|was|'s|are|were)\s+(?:my\s+(?:all[\s-]time\s+|absolute\s+|"
    r"very\s+)?(?:favou?rite|fave)|one\s+of\s+my\s+favou?rites|(?:so\s+|really\s+)?(?:great|amazing|brilliant|"
    r"awesome|fantastic|excellent|incredible|the\s+best))\b")
_TITLE_CUT = re.compile(
    r"\s*(?:[,;!?]|\.(?:\s|$)|\s[-\u2013\u2014]+\s|(?<![\w'])(?:but|and|from|with|in\s+the|please|or|that|which|who|for|"
    r"because|except|without|not|is|was|are|if|so|since|as|made|released|set|only|just|something|anything|what|"
    r"should|i|i'm|i'd|maybe|though|too|again|tonight|plus)(?![\w']))", re.I)
MAX_TITLE_CUES = 6  # title look-ups per message and cue kind (bounds the time of a pathological message)
_PRONOUN = re.compile(r"^(?:it|that|this|them|those|these|one|ones|him|her|the\s+one|the\s+same)$")


def generic_only(text: str) -> bool:
    """True when ``text`` is only genre words, audience words and generic words ("a horror movie")."""
    rest = GENRE_RE.sub(" ", text.lower())
    rest = re.sub(r"\b(?:kids?|children|family|\d0'?s|\d{4}s?)\b", " ", rest)
    return not [w for w in re.findall(r"[a-z0-9']+", rest) if w not in GENERIC_WORDS]


def resolve_title(vocab: Vocabulary, region: str, strict: bool = False) -> tuple[ItemRef, int] | None:
    """The catalog item named at the start of ``region`` and how many characters its name takes:
    prefixes of ``region`` ending at a clause break or a function word, longest first, each tried
    as an exact title, then (the longest four) as a fuzzy title (>= 0.82; not when ``strict``) or
    as a title's words in order (:meth:`TitleIndex.match_words`)."""
    region = region[:90]
    cuts = [len(region)] + [m.start() for m in _TITLE_CUT.finditer(region) if m.start() > 0]
    cands: list[tuple[str, int]] = []
    for cut in sorted(set(cuts), reverse=True):
        cand = region[:cut].strip().strip("\"'").strip()
        if len(cand) < 2 or any(cand.lower() == c.lower() for c, _ in cands):
            continue
        if _PRONOUN.match(cand.lower()) or generic_only(cand):
            continue
        cands.append((cand, len(region[:cut].rstrip())))
    for cand, length in cands:  # exact titles first (cheap), longest first
        ref = vocab.titles.exact(cand)
        if ref is not None:
            return ref, length
    for cand, length in cands[:4]:  # then fuzzy (not when strict) / words in order, for the longest few
        ref = (None if strict else vocab.titles.match(cand)) or vocab.titles.match_words(cand)
        if ref is not None:
            return ref, length
    return None


@dataclass
class _Titles:
    liked: list[ItemRef] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # the titles' places in the message
    cues: list[tuple[int, int]] = field(default_factory=list)   # "like", "similar to", "is my favourite"


def read_liked_titles(text: str, low: str, vocab: Vocabulary) -> _Titles:
    out = _Titles()

    def add(ref: ItemRef, start: int, length: int) -> None:
        out.spans.append((start, start + length))
        if all(r.item_id != ref.item_id for r in out.liked):
            out.liked.append(ref)

    def read_from(start: int) -> None:
        for _ in range(3):  # "I loved Heat and Toy Story"
            found = resolve_title(vocab, text[start:])
            if found is None:
                return
            ref, length = found
            add(ref, start, length)
            more = re.match(r"\s*(?:,\s*(?:and\s+)?|and\s+|&\s+|or\s+)", low[start + length:])
            if more is None:
                return
            start += length + more.end()

    for m in list(LIKE_CUE.finditer(low))[:MAX_TITLE_CUES]:
        if any(a <= m.start() < b for a, b in out.spans):
            continue
        if wish_not_reference(low, m):
            continue
        out.cues.append((m.start(), m.end()))
        read_from(m.end())
    for m in list(_FAVOURITE.finditer(low))[:MAX_TITLE_CUES]:
        s = m.start(1) + (len(m.group(1)) - len(m.group(1).lstrip()))
        found = resolve_title(vocab, text[s:m.end(1)].strip())
        if found is not None:
            add(found[0], s, found[1])
            out.cues.append((m.end(1), m.end()))
    return out
