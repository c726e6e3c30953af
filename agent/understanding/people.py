"""People of the catalog named in a message: "movies with Tom Hanks", "directed by Kathryn
Bigelow", "Tarantino's Reservoir Dogs" (full names only, from :attr:`Vocabulary.people`)."""

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


def find_people(low: str, people: Mapping[str, Mapping[str, str]]) -> list[PersonMention]:
    """Every catalog person named in ``low`` (the lower-cased message), longest name first at each
    position. The role follows the words before the name ("directed by", "written by"), else the
    person's roles in the catalog in the order cast, director, writer."""
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
        i += 1
    return found
