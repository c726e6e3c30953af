"""People of the catalog named in a message: "movies with Tom Hanks", "directed by Kathryn
Bigelow", "Tarantino's Reservoir Dogs" (full names, from :attr:`Vocabulary.people`), and "a
Hitchcock film", "De Niro and Pacino" (a capitalised surname that means one person in this
catalog, :attr:`Vocabulary.surnames`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from retrieval.titles import normalise_title

MAX_NAME_WORDS = 4
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_DIRECTED = re.compile(r"(?:directed by|director|a film by|films? by|movies? by|by)\s*$")
_WRITTEN = re.compile(r"(?:written by|writer|screenplay by|script by)\s*$")


@dataclass(frozen=True)
class PersonMention:
    """A full name found at ``start:end`` of the message, in ``role`` (cast, director, writer)."""

    name: str
    role: str
    start: int
    end: int


def find_people(low: str, people: Mapping[str, Mapping[str, str]], surnames: Mapping[str, str] | None = None,
                text: str | None = None) -> list[PersonMention]:
    """Every catalog person named in ``low`` (the lower-cased message), longest name first at each
    position. The role follows the words before the name ("directed by", "written by"), else the
    person's roles in the catalog in the order cast, director, writer. A surname alone counts
    only when ``text`` (the message, same length as ``low``) writes it capitalised."""
    if not people:
        return []
    words = [(m.start(), m.end(), normalise_title(re.sub(r"['’]s$", "", m.group()))) for m in _WORD.finditer(low)]
    found: list[PersonMention] = []
    i = 0
    while i < len(words):
        for n in range(min(MAX_NAME_WORDS, len(words) - i), 1, -1):
            key = " ".join(w for _, _, w in words[i:i + n])
            roles = people.get(key)
            if not roles:
                continue
            before = low[max(0, words[i][0] - 20):words[i][0]]
            wanted = "director" if _DIRECTED.search(before) else "writer" if _WRITTEN.search(before) else None
            role = wanted if wanted in roles else next(r for r in ("cast", "director", "writer") if r in roles)
            found.append(PersonMention(roles[role], role, words[i][0], words[i + n - 1][1]))
            i += n - 1
            break
        else:
            hit = _surname_at(words, i, low, people, surnames or {}, text)
            if hit is not None:
                found.append(hit[0])
                i += hit[1] - 1
        i += 1
    return found


def _in_other_name(words: list[tuple[int, int, str]], i: int, n: int, text: str,
                   people: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether words ``i:i+n`` are part of a longer capitalised name: the next word is capitalised
    and follows directly, or the word before is a first name of someone in the catalog (so "The
    Coen brothers" and "Maybe Hitchcock" still read as surnames)."""
    def capital_next_to(a: int, b: int) -> bool:
        return text[words[a][0]:words[a][0] + 1].isupper() and not text[words[min(a, b)][1]:words[max(a, b)][0]].strip()

    if i + n < len(words) and capital_next_to(i + n, i + n - 1):
        return True
    firsts = {key.split(" ", 1)[0] for key in people}
    return i > 0 and capital_next_to(i - 1, i) and words[i - 1][2] in firsts


def _surname_at(words: list[tuple[int, int, str]], i: int, low: str, people: Mapping[str, Mapping[str, str]],
                surnames: Mapping[str, str], text: str | None) -> tuple[PersonMention, int] | None:
    """The person a capitalised surname at word ``i`` names, and its length in words (two words
    first: "De Niro")."""
    if text is None or not surnames:
        return None
    for n in (2, 1):
        if i + n > len(words):
            continue
        key = " ".join(w for _, _, w in words[i:i + n])
        siblings = key.endswith((" brothers", " sisters"))  # "the Coen brothers": the directors
        if key not in surnames or not all(text[s:s + 1].isupper() for s, _, _ in words[i:i + (1 if siblings else n)]):
            continue
        if _in_other_name(words, i, n, text, people):
            return None  # "Kenneth Nelson" is not Craig T. Nelson: a full name this catalog lacks
        roles = people[surnames[key]]
        if siblings and "director" in roles:
            return PersonMention(roles["director"], "director", words[i][0], words[i + n - 1][1]), n
        before = low[max(0, words[i][0] - 20):words[i][0]]
        wanted = "director" if _DIRECTED.search(before) else "writer" if _WRITTEN.search(before) else None
        after = low[words[i + n - 1][1]:words[i + n - 1][1] + 12]
        possessive = low[words[i + n - 1][0]:words[i + n - 1][1]].endswith(("'s", "’s"))
        if wanted is None and possessive:
            wanted = "director"
        if wanted is None and re.match(r"(?:['’]s\b|\s+(?:film|movie|picture|flick|classic|thriller|western|comedy)s?\b)",
                                       after):
            wanted = "director"  # "a Hitchcock film", "Kubrick's": the maker, as people say it
        role = wanted if wanted in roles else next(r for r in ("cast", "director", "writer") if r in roles)
        return PersonMention(roles[role], role, words[i][0], words[i + n - 1][1]), n
    return None
