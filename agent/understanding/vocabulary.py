"""What the catalog can be asked for: its genres, field values (director, language, country, cast)
and a fuzzy title index (:class:`Vocabulary`, built by :func:`vocabulary_from_mirror`)."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.understanding.lexicon import GENRE_WORDS
from agent.understanding.profile import ItemRef
from agent.understanding.text import year_in
from retrieval.titles import normalise_title


@dataclass(frozen=True)
class TitleIndex:
    """Normalised catalog titles for fuzzy matching. ``keys[i]`` is a normalised title (alternate
    titles in parentheses get their own key) of item ``ids[i]`` with display title ``titles[i]``."""

    keys: tuple[str, ...]
    ids: tuple[str, ...]
    titles: tuple[str, ...]
    years: tuple[int | None, ...]

    @classmethod
    def build(cls, rows: Sequence[tuple[str, str, int | None]]) -> "TitleIndex":
        keys, ids, titles, years = [], [], [], []
        for item_id, title, year in rows:
            for key in title_keys(title):
                keys.append(key), ids.append(item_id), titles.append(title), years.append(year)
        return cls(tuple(keys), tuple(ids), tuple(titles), tuple(years))

    def _ref(self, i: int, said: str, score: float) -> ItemRef:
        label = self.titles[i] + (f" ({self.years[i]})" if self.years[i] else "")
        return ItemRef(self.ids[i], label, said.strip(), round(min(score, 1.0) * 100, 1))

    @functools.cached_property
    def _by_key(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, k in enumerate(self.keys):
            out.setdefault(k, []).append(i)
        return out

    @functools.cached_property
    def _key_words(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(k.split()) for k in self.keys)

    @functools.cached_property
    def _parts(self) -> tuple[frozenset[str], ...]:
        """Each key's title parts around ":" and " - " ("Star Wars: Episode V - The Empire Strikes
        Back" -> "star wars", "the empire strikes back"): the series title and subtitles people
        use alone. Parts of fewer than two distinctive words other than the first are left out."""
        out = []
        for i, k in enumerate(self.keys):
            parts = [normalise_title(p) for p in re.split(r":|\s-\s", re.sub(r"\([^)]*\)", " ", self.titles[i]))]
            keep = {p for j, p in enumerate(parts) if p and p != k
                    and (j == 0 or len([w for w in p.split() if w not in TITLE_STOP]) >= 2)}
            out.append(frozenset(keep))
        return tuple(out)

    def exact(self, said: str) -> ItemRef | None:
        """The item whose normalised title is exactly ``said``'s (a year in ``said`` breaks ties;
        otherwise the first-listed item). None if none."""
        key = normalise_title(said)
        found = self._by_key.get(key) if len(key) >= 2 else None
        if not found:
            return None
        year = year_in(said)
        i = next((j for j in found if year and self.years[j] == year), found[0])
        return self._ref(i, said, 1.0)

    def match(self, said: str, cutoff: float = 0.82) -> ItemRef | None:
        """Best catalog item for ``said`` (exact normalised title first, then difflib ratio >=
        ``cutoff``; ties go to the first-listed item). None if nothing fits."""
        key = normalise_title(said)
        if len(key) < 2:
            return None
        ref = self.exact(said)
        if ref is not None:
            return ref
        best: tuple[float, int] | None = None
        if best is None:
            close = difflib.get_close_matches(key, self.keys, n=5, cutoff=cutoff)
            for c in close:
                i = self.keys.index(c)
                score = difflib.SequenceMatcher(None, key, c).ratio()
                if best is None or score > best[0]:
                    best = (score, i)
        if best is None:
            return None
        return self._ref(best[1], said, best[0])

    def match_words(self, said: str, min_cover: float = 0.6) -> ItemRef | None:
        """A title whose words contain ``said``'s words in order, covering at least ``min_cover``
        of the title's distinctive words ("Star Wars: A New Hope" -> "Star Wars: Episode IV - A New
        Hope"), or with a part before or after ":" / " - " that is exactly ``said`` ("Star Wars",
        "The Empire Strikes Back"). At least two distinctive words are needed; the closest cover
        wins, ties to the first-listed item."""
        words = normalise_title(said).split()
        if len([w for w in words if w not in TITLE_STOP]) < 2:
            return None
        joined, first = " ".join(words), words[0]
        best: tuple[float, int] | None = None
        for i, kw in enumerate(self._key_words):
            cover = 0.0
            if len(kw) >= len(words) and first in kw and _in_order(words, kw):
                distinct = [w for w in kw if w not in TITLE_STOP] or kw
                cover = sum(w in words for w in distinct) / len(distinct)
            if cover < min_cover:
                if joined not in self._parts[i]:
                    continue
                cover = 0.6
            if best is None or cover > best[0]:
                best = (cover, i)
        return None if best is None else self._ref(best[1], said, best[0] * 0.95)

    def find_in(self, text: str, min_len: int = 4) -> list[ItemRef]:
        """Catalog titles that occur verbatim (normalised, whole words) in ``text``; longest first."""
        norm = f" {normalise_title(text)} "
        found: dict[str, ItemRef] = {}
        for i, k in enumerate(self.keys):
            if len(k) >= min_len and f" {k} " in norm and self.ids[i] not in found:
                found[self.ids[i]] = self._ref(i, k, 1.0)
        return sorted(found.values(), key=lambda r: -len(r.said))


def _in_order(words: Sequence[str], seq: Sequence[str]) -> bool:
    it = iter(seq)
    return all(any(w == s for s in it) for w in words)


@dataclass(frozen=True)
class Vocabulary:
    """The catalog's vocabulary: genre names, field values (lowercase -> canonical) per list or
    string field, and the title index. Built once per catalog state by :func:`vocabulary_from_mirror`."""

    genres: tuple[str, ...]
    fields: Mapping[str, Mapping[str, str]]
    titles: TitleIndex
    genre_counts: Mapping[str, int] = field(default_factory=dict)
    people: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Normalised full name ("robert de niro") -> {role: canonical name} for the catalog's
    directors, writers and leading cast (the first :data:`LEAD_CAST` names of a film's cast)."""
    surnames: Mapping[str, str] = field(default_factory=dict)
    """Normalised surname ("hitchcock", "de niro") -> the :attr:`people` key of the one person it
    means in this catalog (:func:`surname_index`)."""

    def genre(self, word: str) -> str | None:
        """Catalog genre for a user word (synonyms included), or None."""
        w = word.strip().lower()
        by_lower = {g.lower(): g for g in self.genres}
        if w in by_lower:
            return by_lower[w]
        g = GENRE_WORDS.get(w) or GENRE_WORDS.get(w.rstrip("s")) or GENRE_WORDS.get(re.sub(r"es$", "", w))
        return g if g in self.genres else None

    @functools.cached_property
    def latest_year(self) -> int | None:
        """The catalog's latest film year (decides whether "the 20s" means the 1920s or 2020s)."""
        return max((y for y in self.titles.years if y), default=None)


def vocabulary_from_mirror(mirror: Any, field_names: Sequence[str] = ("director", "language", "country", "cast", "keywords")) -> Vocabulary:
    """The :class:`Vocabulary` of a :class:`retrieval.store.MetaMirror` (genres, chosen fields, titles)."""
    counts: dict[str, int] = {}
    fields: dict[str, dict[str, str]] = {f: {} for f in field_names}
    rows = []
    for item_id, meta in zip(mirror.ids, mirror.metas):
        for g in meta.get("genres") or ():
            counts[g] = counts.get(g, 0) + 1
        for f in field_names:
            v = meta.get(f)
            for s in (v if isinstance(v, list) else [v] if isinstance(v, str) else []):
                fields[f].setdefault(s.lower(), s)
        year = meta.get("year")
        rows.append((item_id, str(meta.get("title", item_id)), int(year) if isinstance(year, (int, float)) else None))
    genres = tuple(sorted(counts, key=lambda g: -counts[g]))
    people = people_index(mirror.metas)
    return Vocabulary(genres, {f: v for f, v in fields.items() if v}, TitleIndex.build(rows), counts,
                      people, surname_index(mirror.metas, people))


LEAD_CAST = 5
"""How many names of a film's cast (billing or prominence order) count as its leading cast."""


def people_index(metas: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The :attr:`Vocabulary.people` gazetteer of item metadata. Only names of two or more words
    that do not start with an article ("The Rock" reads as words), so a phrase of a message
    matches a person only when it is that person's full name."""
    people: dict[str, dict[str, str]] = {}
    for meta in metas:
        for role, limit in (("director", None), ("writer", None), ("cast", LEAD_CAST)):
            for name in listed(meta.get(role))[:limit]:
                key = normalise_title(re.sub(r"\([^)]*\)", " ", str(name)))
                words = key.split()
                if len(words) >= 2 and words[0] not in ("the", "a", "an"):
                    people.setdefault(key, {}).setdefault(role, str(name))
    return people


#: Surname particles kept with the surname ("de niro", "van sant", "von trier").
_PARTICLES = frozenset({"de", "da", "di", "del", "van", "von", "le", "la", "du", "mac"})
#: A surname alone names a person when that person has at least this many films (as a
#: director or in the leading cast) and this many times the films of anyone else of that surname.
SURNAME_MIN_FILMS, SURNAME_DOMINANCE = 4, 3


def surname(key: str) -> str:
    """The surname of a normalised full name ("robert de niro" -> "de niro")."""
    words = key.split()
    return " ".join(words[-2:]) if len(words) >= 3 and words[-2] in _PARTICLES else words[-1]


SIBLING_MIN_FILMS = 2
"""Films a surname's bearers must have directed together for "the X brothers" to name them."""


def listed(value: Any) -> list[Any]:
    """A metadata value as a list (a string is one name; anything else none)."""
    return value if isinstance(value, list) else [value] if isinstance(value, str) else []


def surname_index(metas: Sequence[Mapping[str, Any]], people: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Surname -> full-name key, only where the surname is unambiguous here: its most prolific
    bearer (films directed or led, see :data:`LEAD_CAST`) has :data:`SURNAME_MIN_FILMS` films and
    :data:`SURNAME_DOMINANCE` times anyone else's ("Hitchcock", "Kubrick", "De Niro"; not
    "Allen": Woody and Tim); plus "X brothers" / "X sisters" -> one of the directors sharing the
    surname X who directed :data:`SIBLING_MIN_FILMS` films together ("coen brothers")."""
    known = set(people)
    films: dict[str, int] = {}
    directed: dict[str, int] = {}
    together: dict[str, dict[str, int]] = {}  # surname -> its bearers' films directed with another bearer
    for meta in metas:
        keys = {role: {normalise_title(re.sub(r"\([^)]*\)", " ", str(n))) for n in listed(meta.get(role))[:limit]} & known
                for role, limit in (("director", None), ("cast", LEAD_CAST))}
        for key in keys["director"] | keys["cast"]:
            films[key] = films.get(key, 0) + 1
        for key in keys["director"]:
            directed[key] = directed.get(key, 0) + 1
            if sum(surname(k) == surname(key) for k in keys["director"]) >= 2:  # "Ethan Coen, Joel Coen"
                counts = together.setdefault(surname(key), {})
                counts[key] = counts.get(key, 0) + 1
    by_surname: dict[str, list[tuple[int, str]]] = {}
    for key, n in films.items():
        by_surname.setdefault(surname(key), []).append((n, key))
    out: dict[str, str] = {}
    for name, bearers in by_surname.items():
        bearers.sort(reverse=True)
        top, rest = bearers[0][0], bearers[1][0] if len(bearers) > 1 else 0
        if top >= SURNAME_MIN_FILMS and top >= SURNAME_DOMINANCE * rest and len(name) >= 4:
            out[name] = bearers[0][1]
    # "the Coen brothers": the bearer credited on most films (Joel Coen, alone on some)
    for name, counts in together.items():
        if max(counts.values()) >= SIBLING_MIN_FILMS:
            out[f"{name} brothers"] = out[f"{name} sisters"] = max(sorted(counts), key=lambda k: directed[k])
    return out


def title_keys(title: str) -> list[str]:
    """Normalised keys of a catalog title: the full title, the title without parentheses, and
    each parenthesised alternate title ("Seven (Se7en)" -> "seven se7en", "seven", "se7en")."""
    keys = [normalise_title(title)]
    base = re.sub(r"\([^)]*\)", " ", title)
    keys.append(normalise_title(base))
    keys += [normalise_title(a) for a in re.findall(r"\(([^)]*)\)", title) if not re.fullmatch(r"\d{4}", a.strip())]
    out: list[str] = []
    for k in keys:
        if k and k not in out:
            out.append(k)
    return out


TITLE_STOP = frozenset({"the", "a", "an", "of", "and", "in", "on", "to", "for", "with", "from", "by", "at", "is", "it",
                         "movie", "film", "part", "my", "me", "i"})
