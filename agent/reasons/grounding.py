"""Grounding check of explanation reasons against item metadata and the user's own words.

A *claim* is a checkable mention in a reason:

- ``year``: a 4-digit year 1880-2099; grounded if that number occurs in the evidence.
- ``decade``: "90s", "'90s", "1990s", "nineties" is not parsed; grounded if the item's year lies in
  that decade, or the evidence mentions the same decade (in any of those forms) or a year in it.
- ``genre``: a word of the genre vocabulary (the catalog's genres; plural forms such as
  "comedies"/"thrillers" too); grounded if the same genre is in the evidence text.
- ``name``: a capitalised span (people, titles, places, awards: "David Fincher", "Se7en",
  "Oscar"), or a quoted span; grounded if, normalised (case, accents, punctuation, possessive
  's dropped), it occurs as a word sequence in the evidence. A single capitalised word that
  starts a sentence is not a claim (it is usually an ordinary word), and leading function words
  ("The", "This", "A", ...) are stripped from spans.

Evidence = the item's metadata (title, year, genres, description, extra fields such as director
or cast) + the user's evidence (their messages, liked/seen and history items). Assistant turns
are not evidence.

Policy: a sentence containing an ungrounded claim is DROPPED from the shown reason; the reason is
flagged ``grounded=False`` and the claims are reported. If no sentence survives, no reason is
shown. The check is conservative about names (anything capitalised mid-sentence must be found).
"""

from __future__ import annotations

import re
import unicodedata
from itertools import takewhile
from collections.abc import Iterable
from dataclasses import dataclass, field

from retrieval.items import Item

MOVIELENS_GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
)

_FUNCTION_WORDS = frozenset(
    "the a an this that these those it its it's if as with for since both here there you your you'll you're "
    "i we our they their like and or but also just fans fan while when where what which who whose because "
    "given based perfect great ideal its another more most".split()
)
_CONNECTORS = frozenset("of the and de la le du von van der den del da di & in on at to a an".split())
_YEAR = re.compile(r"(?<![\d.])(1[89]\d\d|20\d\d)(?!\d)(?!'?s\b)")
_DECADE = re.compile(r"(?<![\w])(?:'|’)?((?:1[89]|20)?\d)0'?s\b", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“”]([^\"“”]{2,80})[\"“”]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"“A-Z0-9'])")
_WORD = re.compile(r"[\w'’\-&.:]+|[^\w\s]")


@dataclass(frozen=True)
class Claim:
    """One checkable mention: ``kind`` is year/decade/genre/name; ``text`` as written."""

    kind: str
    text: str
    grounded: bool


@dataclass(frozen=True)
class GroundingReport:
    """Result of checking one reason. ``kept`` is the reason without ungrounded sentences
    (None if nothing is left); ``grounded`` is True iff every claim is grounded."""

    reason: str
    kept: str | None
    claims: tuple[Claim, ...] = field(default=())

    @property
    def grounded(self) -> bool:
        return all(c.grounded for c in self.claims)

    @property
    def ungrounded(self) -> tuple[str, ...]:
        return tuple(c.text for c in self.claims if not c.grounded)


def normalise(text: str) -> str:
    """Casefolded, accent-free, punctuation -> spaces, possessive 's dropped, single-spaced."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"['’]s\b", "", text)
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


#: adjectives that claim a genre as much as its name does ("an animated film", "a romantic comedy")
GENRE_ADJECTIVE_FORMS = {"Animation": ("animated",), "Romance": ("romantic",)}


class GroundingChecker:
    """Checks reasons against evidence. ``genres`` is the catalog's genre vocabulary."""

    def __init__(self, genres: Iterable[str] = MOVIELENS_GENRES) -> None:
        vocab = {g for g in genres if g and g.strip()}
        self._genre_forms: list[tuple[str, re.Pattern[str]]] = []
        for genre in sorted(vocab, key=len, reverse=True):
            forms = {genre}
            low = genre.lower()
            forms.add(low + "s")
            if low.endswith("y"):
                forms.add(low[:-1] + "ies")
            forms.update(GENRE_ADJECTIVE_FORMS.get(genre, ()))
            if "-" in low:  # "Film-Noir" written as people write it: "a film noir"
                forms.add(low.replace("-", " "))
            alts = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
            self._genre_forms.append((genre, re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", re.IGNORECASE)))
        self._genre_words = {normalise(w) for g in vocab for w in (g, g + "s")}

    def item_evidence(self, item: Item) -> str:
        """The metadata text a reason about ``item`` may cite."""
        return item.document()

    def check(self, reason: str, item: Item, user_evidence: str = "") -> GroundingReport:
        """Extract the claims of ``reason`` and check them against ``item`` + ``user_evidence``."""
        evidence = self.item_evidence(item) + "\n" + user_evidence
        norm_ev = f" {normalise(evidence)} "
        ev_genres = {g for g, pat in self._genre_forms if pat.search(evidence)}
        ev_decades = self._decades(evidence) | ({item.year // 10 * 10} if item.year else set())
        kept_sentences: list[str] = []
        claims: list[Claim] = []
        for sentence in split_sentences(reason):
            found = self._claims(sentence, norm_ev, ev_genres, ev_decades)
            claims.extend(found)
            if all(c.grounded for c in found):
                kept_sentences.append(sentence)
        kept = " ".join(kept_sentences).strip() or None
        return GroundingReport(reason=reason, kept=kept, claims=tuple(claims))

    # --- claim extraction -------------------------------------------------------------------
    def _claims(self, sentence: str, norm_ev: str, ev_genres: set[str], ev_decades: set[int]) -> list[Claim]:
        out: list[Claim] = []
        for m in _YEAR.finditer(sentence):
            out.append(Claim("year", m.group(1), f" {m.group(1)} " in norm_ev))
        for m in _DECADE.finditer(sentence):
            decade = _decade_value(m.group(1))
            if decade is not None:
                out.append(Claim("decade", m.group(0), decade in ev_decades or decade % 100 in {d % 100 for d in ev_decades}))
        for genre, pat in self._genre_forms:
            m = pat.search(sentence)
            if m:
                out.append(Claim("genre", m.group(0), genre in ev_genres))
        seen = {c.text for c in out}
        for span, variants in self._names(sentence):
            if span in seen:
                continue
            seen.add(span)
            missing = [_missing(v, norm_ev) for v in variants]
            if any(not m for m in missing):
                out.append(Claim("name", span, True))
            else:  # report the unfound parts of the shortest reading
                out.extend(Claim("name", part, False) for part in missing[-1])
        return out

    def _names(self, sentence: str) -> list[tuple[str, tuple[str, ...]]]:
        """Capitalised/quoted spans as (shown text, accepted variants). A span that starts the
        sentence may also be accepted without its first word ("Starring Brad Pitt")."""
        out: list[tuple[str, tuple[str, ...]]] = [(q, (q,)) for q in (m.group(1).strip() for m in _QUOTED.finditer(sentence)) if q]
        groups: list[tuple[list[str], bool]] = []
        current: list[str] = []
        current_start = False
        at_start = True
        for tok in _WORD.findall(_QUOTED.sub(" , ", sentence)):
            if not re.search(r"\w", tok):
                if current:
                    groups.append((current, current_start))
                    current = []
                continue
            word = tok.strip(".:-'’")
            if not word:
                continue
            capital = word[:1].isupper() or (word[:1].isdigit() and any(ch.isalpha() for ch in word))
            if capital and not _is_year_like(word):
                parts = word.split("-")
                head = [parts[0]] + list(takewhile(lambda x: x[:1].isupper() or x[:1].isdigit(), parts[1:]))
                if not current:
                    current_start = at_start
                current.append("-".join(head))
                if len(head) < len(parts) or tok.rstrip().endswith((":", ";")):
                    # "Oscar-winning", "Hitchcock-style", "a film by Martin Scorsese: Robert De Niro ...":
                    # the name ends here
                    groups.append((current, current_start))
                    current = []
            elif current and word.lower() in _CONNECTORS:
                current.append(word)
            elif current:
                groups.append((current, current_start))
                current = []
            at_start = False
        if current:
            groups.append((current, current_start))
        for words, starts_sentence in groups:
            while words and words[-1].lower() in _CONNECTORS:
                words = words[:-1]
            while words and words[0].lower() in _FUNCTION_WORDS:
                words, starts_sentence = words[1:], False
            if not words or all(normalise(w) in self._genre_words or w.lower() in _CONNECTORS for w in words):
                continue
            if starts_sentence and len(words) == 1:
                continue  # a capitalised first word is usually an ordinary word
            span = " ".join(words)
            variants = (span, " ".join(words[1:])) if starts_sentence else (span,)
            out.append((span, variants))
        return [(s, v) for s, v in out if normalise(s)]

    @staticmethod
    def _decades(text: str) -> set[int]:
        out = {int(y) // 10 * 10 for y in re.findall(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)", text)}
        for m in _DECADE.finditer(text):
            d = _decade_value(m.group(1))
            if d is not None:
                out.add(d)
        return out


def _missing(span: str, norm_ev: str) -> list[str]:
    """Parts of ``span`` not in the normalised evidence: [] if the whole span occurs, else the
    capitalised runs (split at connector words: "Brad Pitt and Morgan Freeman") that do not."""
    if f" {normalise(span)} " in norm_ev:
        return []
    runs: list[list[str]] = [[]]
    for word in span.split():
        if word.lower() in _CONNECTORS:
            runs.append([])
        else:
            runs[-1].append(word)
    parts = [" ".join(r) for r in runs if r]
    if len(parts) <= 1:
        return [span]
    return [p for p in parts if f" {normalise(p)} " not in norm_ev]


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (split after . ! ? followed by space and a capital/quote/digit)."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _is_year_like(word: str) -> bool:
    return bool(re.fullmatch(r"\d{4}s?|'?\d0s", word))


def _decade_value(digits: str) -> int | None:
    """"9" -> 1990 (two-digit decades read as 19xx, "0"/"1"/"2" as 20xx), "199" -> 1990."""
    if len(digits) == 1:
        d = int(digits)
        return 2000 + d * 10 if d <= 2 else 1900 + d * 10
    if len(digits) == 3:
        return int(digits) * 10
    return None
