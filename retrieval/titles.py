"""Item titles: the one title normaliser (for joins and matching) and the one "Title (Year)" label.

Both are pure functions of strings, so every layer can use them (retrieval's film enrichment,
the agent's title matching, the front ends' lists and cards) without importing anything else.
"""

from __future__ import annotations

import re
import unicodedata

_YEAR_IN_PARENS = re.compile(r"\([0-9]{4}\)")
_TRAILING_ARTICLE = re.compile(r"^(.*), (the|a|an)$")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_title(text: str) -> str:
    """A title (or any text) as lower-case ASCII words separated by single spaces.

    Steps, in order: Unicode NFKD with the combining marks dropped (``"Amélie" -> "amelie"``,
    full-width letters become ASCII), lower case; every ``"(YYYY)"`` is removed; a trailing
    English article is moved to the front (``"Usual Suspects, The (1995)" -> "the usual
    suspects"``; only ``the``/``a``/``an``); ``&`` becomes ``and``; every run of anything but
    ``a-z0-9`` becomes one space (punctuation, and letters without an ASCII decomposition:
    ``"Søren" -> "s ren"``; so a curly apostrophe splits words exactly like a straight one);
    no leading or trailing space. Returns ``""`` when nothing is left.

    Used for join keys (film enrichment) and for matching what a user typed against catalog
    titles: both sides of a comparison must go through this same function.
    """
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    folded = _YEAR_IN_PARENS.sub(" ", folded)
    if match := _TRAILING_ARTICLE.match(folded.strip()):
        folded = f"{match.group(2)} {match.group(1)}"
    folded = folded.replace("&", " and ")
    return _NOT_ALNUM.sub(" ", folded).strip()


def display_title(title: str, year: int | None) -> str:
    """The label shown to people: ``"Title (Year)"``.

    ``year`` None gives just the title; so does a title that already contains ``"(Year)"``
    (MovieLens-1M ids such as ``"Heat (1995)"`` are never shown as ``"Heat (1995) (1995)"``).
    """
    if year is None or f"({year})" in title:
        return title
    return f"{title} ({year})"
