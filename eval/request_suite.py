"""The constraint request suite: single requests with machine-checkable hard constraints.

The yardstick for "the chat honours what people ask" (``recchat eval --protocol requests``):
every request is one message a person types, with the :class:`~eval.constraints.HardConstraints`
every shown pick must keep. Two parts:

* :func:`generated_requests` - built from the catalog's genre vocabulary (genres, decades, year
  ranges, exclusions and their combinations), seeded and deterministic;
* :data:`HAND_WRITTEN` - phrasings people really use (negations and their scope, audiences,
  periods, "like X", "like X but not Y", "only ...", the failures quoted in the issues), each
  with its exact expected constraints. A fixed third (:attr:`SuiteRequest.held_out`) is kept out
  of every tuning and reported separately.

Semantics chosen for the expected constraints (and documented once, here):

* **Genres.** One named genre, or two joined into one kind of film ("a crime thriller", "both a
  comedy and a drama") -> ``genres_all``; "a comedy or a romance, either is fine" ->
  ``genres_any``. Mood words ("tense", "funny", "dark") are wishes, never hard constraints:
  "a funny animated movie for kids" does not require Comedy.
* **Decades** are inclusive: "the 80s" = 1980-1989; "early 90s" = 1990-1994, "late 70s" =
  1975-1979. **Open ranges**: "before 1980" = year_max 1979 and "after 1995" = year_min 1996
  (strict); "no later than 1960", "up to 1960", "nothing (made) after 1970" = year_max 1960/1970
  and "1990 or later", "since 1990", "nothing before 1965", "not older than 1990" = year_min
  (inclusive).
* **Audiences** ("for my 6 year old", "family night", "something the kids can watch") =
  ``genres_any=("Children's",)``: the MovieLens "Children's" genre is wanted. Animation alone
  does NOT count as fit for children: MovieLens-1M's animated films without the Children's
  genre include South Park, Heavy Metal, Akira, Perfect Blue and Ghost in the Shell. "kids
  movie, but not animated" = Children's required (``genres_all``) and Animation excluded;
  "a funny animated movie for kids" = Animation required, Children's wanted.
* **Periods**: "golden age of Hollywood" = 1930-1959; "silent era" = year_max 1929; "made
  during World War II" = 1939-1945; "the 80s or 90s" = 1980-1999.
* **"Like X"**: ``reference_titles`` holds X's MovieLens-1M title string (e.g. ``"Seven
  (Se7en) (1995)"``), which in recchat's MovieLens catalogs is also the item id; X must never
  be shown, so ``expected.exclude_items`` holds the same strings. For another catalog the caller
  resolves X's ids (:func:`resolve_reference_ids`) and passes them in
  :attr:`RequestOutcome.reference_ids`; :func:`run_suite` excludes both. X's genres are not a
  hard constraint ("like Se7en" does not demand Crime).

Kinds (``SuiteRequest.kind``, for the report): ``genre`` (one genre), ``genres_all`` (two, both
required), ``genres_any`` (two, either), ``decade`` / ``year_range`` / ``exclusion`` (that
constraint, alone or with one genre), ``combined`` (three or more constraints of different
sorts), and for the hand-written part also ``negation_scope``, ``audience``, ``period``,
``like_x``, ``like_x_but_not_y``, ``only``.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.constraints import HardConstraints, SatisfactionCount
from retrieval.items import Item
from retrieval.retriever import Filters
from retrieval.titles import normalise_title

KINDS: tuple[str, ...] = ("genre", "genres_all", "genres_any", "decade", "year_range", "exclusion", "combined",
                          "negation_scope", "audience", "period", "like_x", "like_x_but_not_y", "only")
"""Every request kind, in report order."""

HELD_OUT_EVERY = 3
"""Within each kind of the hand-written set, every third request (file order, 3rd, 6th, ...) is held out."""

MAX_EXAMPLES = 30
"""Violation examples kept in :func:`run_suite`'s results."""


@dataclass(frozen=True)
class SuiteRequest:
    """One request of the suite: what a person types and what every shown pick must satisfy."""

    id: str
    text: str
    kind: str
    expected: HardConstraints
    reference_titles: tuple[str, ...] = ()
    """"Like X": X's catalog title (MovieLens-1M form, "Seven (Se7en) (1995)"); never shown."""
    hand_written: bool = False
    held_out: bool = False
    """Kept out of every tuning; reported separately."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "kind": self.kind, "expected": self.expected.to_dict(),
                "reference_titles": list(self.reference_titles), "hand_written": self.hand_written,
                "held_out": self.held_out}


# --------------------------------------------------------------------------- vocabulary

#: How each MovieLens genre is named in a request: (singular noun phrases, plural noun phrase).
#: Other catalogs' genres get "a <genre> film" / "<genre> films".
GENRE_NAMES: dict[str, tuple[tuple[str, ...], str]] = {
    "Action": (("an action movie", "an action film"), "action movies"),
    "Adventure": (("an adventure film", "an adventure movie"), "adventure films"),
    "Animation": (("an animated film", "an animated movie"), "animated films"),
    "Children's": (("a children's film", "a kids' movie"), "children's films"),
    "Comedy": (("a comedy", "a comedy film"), "comedies"),
    "Crime": (("a crime film", "a crime movie"), "crime films"),
    "Documentary": (("a documentary", "a documentary film"), "documentaries"),
    "Drama": (("a drama", "a drama film"), "dramas"),
    "Fantasy": (("a fantasy film", "a fantasy movie"), "fantasy films"),
    "Film-Noir": (("a film noir", "a noir film"), "noir films"),
    "Horror": (("a horror movie", "a horror film"), "horror movies"),
    "Musical": (("a musical",), "musicals"),
    "Mystery": (("a mystery", "a mystery film"), "mysteries"),
    "Romance": (("a romance", "a romance film"), "romances"),
    "Sci-Fi": (("a sci-fi movie", "a science fiction film"), "sci-fi movies"),
    "Thriller": (("a thriller",), "thrillers"),
    "War": (("a war movie", "a war film"), "war films"),
    "Western": (("a western",), "westerns"),
}

#: Decades in which a MovieLens genre is well represented (film history; for MovieLens-1M each
#: has at least ~10 films, checked by the suite's tests when the data are cached). A genre +
#: period request is generated only where the period overlaps these decades.
GENRE_DECADES: dict[str, tuple[int, ...]] = {
    "Action": (1960, 1970, 1980, 1990),
    "Adventure": (1950, 1960, 1970, 1980, 1990),
    "Animation": (1940, 1980, 1990),
    "Children's": (1940, 1960, 1970, 1980, 1990),
    "Comedy": (1920, 1930, 1940, 1950, 1960, 1970, 1980, 1990, 2000),
    "Crime": (1970, 1980, 1990),
    "Documentary": (1990,),
    "Drama": (1920, 1930, 1940, 1950, 1960, 1970, 1980, 1990, 2000),
    "Fantasy": (1980, 1990),
    "Film-Noir": (1940,),
    "Horror": (1940, 1950, 1960, 1970, 1980, 1990),
    "Musical": (1930, 1940, 1950, 1960, 1980, 1990),
    "Mystery": (1980, 1990),
    "Romance": (1930, 1940, 1950, 1980, 1990, 2000),
    "Sci-Fi": (1950, 1970, 1980, 1990),
    "Thriller": (1940, 1950, 1960, 1970, 1980, 1990, 2000),
    "War": (1940, 1950, 1960, 1970, 1980, 1990),
    "Western": (1960, 1970, 1990),
}

#: Genre pairs that often go together in one film, with the compound people use for both at
#: once ("" = none; the text then says "both"). Only these are asked for as ``genres_all``.
COMMON_PAIRS: dict[tuple[str, str], str] = {
    ("Comedy", "Romance"): "a romantic comedy",
    ("Comedy", "Drama"): "a comedy-drama",
    ("Drama", "Romance"): "a romantic drama",
    ("Action", "Thriller"): "an action thriller",
    ("Action", "Adventure"): "an action-adventure film",
    ("Drama", "Thriller"): "",
    ("Action", "Sci-Fi"): "a sci-fi action movie",
    ("Action", "Drama"): "",
    ("Children's", "Comedy"): "a kids' comedy",
    ("Crime", "Drama"): "a crime drama",
    ("Animation", "Children's"): "an animated children's film",
    ("Adventure", "Children's"): "a children's adventure film",
    ("Drama", "War"): "a war drama",
    ("Sci-Fi", "Thriller"): "a sci-fi thriller",
    ("Adventure", "Sci-Fi"): "a sci-fi adventure",
    ("Action", "Comedy"): "an action comedy",
    ("Horror", "Thriller"): "a horror thriller",
    ("Crime", "Thriller"): "a crime thriller",
    ("Horror", "Sci-Fi"): "a sci-fi horror film",
    ("Action", "Crime"): "",
    ("Mystery", "Thriller"): "a mystery thriller",
    ("Action", "War"): "",
    ("Adventure", "Comedy"): "",
    ("Comedy", "Horror"): "a horror comedy",
    ("Comedy", "Musical"): "a musical comedy",
    ("Children's", "Fantasy"): "",
    ("Children's", "Musical"): "a children's musical",
    ("Comedy", "Crime"): "a crime comedy",
    ("Adventure", "Fantasy"): "a fantasy adventure",
}

#: Genres with many films in most periods: the pool for "either" pairs and exclusions alone.
BROAD_GENRES: tuple[str, ...] = ("Action", "Adventure", "Comedy", "Crime", "Drama", "Horror", "Romance", "Sci-Fi",
                                 "Thriller", "War", "Western", "Mystery", "Musical", "Children's", "Animation")

_DECADE_WORDS = {1920: "twenties", 1930: "thirties", 1940: "forties", 1950: "fifties", 1960: "sixties",
                 1970: "seventies", 1980: "eighties", 1990: "nineties"}


def _singular(genre: str, rng: random.Random) -> str:
    names = GENRE_NAMES.get(genre)
    if names:
        return rng.choice(names[0])
    return f"{'an' if genre[:1].lower() in 'aeiou' else 'a'} {genre.lower()} film"


def _plural(genre: str) -> str:
    names = GENRE_NAMES.get(genre)
    return names[1] if names else f"{genre.lower()} films"


def _bare(phrase: str) -> str:
    """'an action movie' -> 'action movie'."""
    return re.sub(r"^(a|an) ", "", phrase)


def _pluralize(phrase: str) -> str:
    """'horror comedy' -> 'horror comedies', 'crime thriller' -> 'crime thrillers'."""
    return phrase[:-1] + "ies" if phrase.endswith("y") else phrase + "s"


_MASS = {"Action": "action", "Horror": "horror", "Romance": "romance", "Comedy": "comedy", "Sci-Fi": "sci-fi"}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _decade_name(decade: int, rng: random.Random) -> str:
    """'the 80s' / 'the 1980s' / 'the eighties' (the 2000s have no short form)."""
    forms = [f"the {decade}s"]
    if decade < 2000:
        forms += [f"the {decade % 100:02d}s", f"the '{decade % 100:02d}s"]
        if decade in _DECADE_WORDS:
            forms.append(f"the {_DECADE_WORDS[decade]}")
    return rng.choice(forms)


def _decade_adj(decade: int, rng: random.Random) -> str:
    """'80s' / '1980s' as in '80s horror movies'."""
    return rng.choice([f"{decade}s", f"{decade % 100:02d}s"] if 1950 <= decade < 2000 else [f"{decade}s"])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _plausible(genre: str, year_min: int | None, year_max: int | None) -> bool:
    """True when [year_min, year_max] overlaps the genre's well-represented decades by >= 5 years
    (open ends clamped to 1920-2000); unknown genres are never combined with a period."""
    decades = GENRE_DECADES.get(genre)
    if not decades:
        return False
    lo, hi = max(year_min or 1920, 1920), min(year_max or 2000, 2000)
    years = sum(1 for d in decades for y in range(d, d + 10) if lo <= y <= hi)
    return years >= min(5, hi - lo + 1)


# --------------------------------------------------------------------------- year phrases

@dataclass(frozen=True)
class _Period:
    slug: str
    year_min: int | None
    year_max: int | None
    kind: str  # "decade" or "year_range"
    phrase: Callable[[random.Random], str]  # "from the 80s", "made before 1960", ...


def _decade_period(decade: int) -> _Period:
    def phrase(rng: random.Random) -> str:
        name = _decade_name(decade, rng)
        return rng.choice([f"from {name}", f"made in {name}", f"released in {name}"])
    return _Period(f"{decade}s", decade, decade + 9, "decade", phrase)


def _range_periods() -> list[_Period]:
    out: list[_Period] = []
    for lo, hi in ((1950, 1965), (1960, 1975), (1965, 1975), (1970, 1980), (1975, 1985), (1980, 1990), (1985, 1995),
                   (1990, 1995), (1992, 1998), (1995, 2000), (1940, 1960), (1980, 1995)):
        out.append(_Period(f"{lo}-{hi}", lo, hi, "year_range", lambda rng, lo=lo, hi=hi: rng.choice(
            [f"made between {lo} and {hi}", f"from {lo} to {hi}", f"released between {lo} and {hi}",
             f"from somewhere in {lo}-{hi}"])))
    for year in (1950, 1960, 1970, 1980, 1990):
        out.append(_Period(f"before{year}", None, year - 1, "year_range", lambda rng, y=year: rng.choice(
            [f"made before {y}", f"from before {y}", f"released before {y}", f"older than {y}"])))
    for year in (1960, 1970, 1975):
        out.append(_Period(f"upto{year}", None, year, "year_range", lambda rng, y=year: rng.choice(
            [f"made no later than {y}", f"from {y} or earlier", f"up to {y} at the latest"])))
    for year in (1980, 1985, 1990, 1995):
        out.append(_Period(f"after{year}", year + 1, None, "year_range", lambda rng, y=year: rng.choice(
            [f"made after {y}", f"released after {y}", f"from after {y}", f"newer than {y}"])))
    for year in (1970, 1980, 1990):
        out.append(_Period(f"since{year}", year, None, "year_range", lambda rng, y=year: rng.choice(
            [f"from {y} or later", f"made since {y}", f"released in {y} or later"])))
    return out


def _exclusion_phrase(genre: str, rng: random.Random) -> str:
    plural = _plural(genre)
    return rng.choice([f"no {plural}", f"but not {_singular(genre, rng)}", f"nothing that is {_singular(genre, rng)}",
                       f"and please no {plural}", f"I don't want {plural}", f"skip the {plural}",
                       f"without any {_MASS[genre]}" if genre in _MASS else f"no {plural}"])


# --------------------------------------------------------------------------- generated requests

def generated_requests(genres: Sequence[str], seed: int = 0) -> list[SuiteRequest]:
    """At least 150 requests (for MovieLens' 18 genres) built from ``genres``, deterministic for
    ``seed``. Kinds: ``genre`` (every genre once), ``genres_all`` (common pairs), ``genres_any``,
    ``decade``, ``year_range``, ``exclusion`` (each alone and with one genre) and ``combined``.
    Genre + period combinations are generated only where the genre is well represented in the
    period (:data:`GENRE_DECADES`), so e.g. no "film noir from the 2000s"; genres unknown to
    that table (another catalog's) appear alone, in "either" pairs and in exclusions only.
    Two genres with a decade use only the 1990s (most of MovieLens). For MovieLens-1M every
    request has at least 5 films that fit (tests check seed 0; seeds 0-59 were checked when the
    tables were written: over 99% of requests have 10 or more).
    Ids name the constraints (``gen-decade-horror-1980s``), so the same constraint keeps its id
    across seeds; the wording varies with the seed."""
    rng = random.Random(seed)
    vocab = list(dict.fromkeys(g for g in genres if g))
    known = [g for g in vocab if g in GENRE_DECADES]
    broad = [g for g in BROAD_GENRES if g in vocab] or vocab
    out: list[SuiteRequest] = []

    def add(kind: str, slug: str, text: str, **constraints: Any) -> None:
        out.append(SuiteRequest(f"gen-{kind}-{slug}", _cap(text), kind, HardConstraints().merged(**constraints)))

    # one genre: every genre of the vocabulary
    for g in vocab:
        noun = _singular(g, rng)
        text = rng.choice([f"{noun}, please", f"I'm in the mood for {noun}", f"recommend me {noun}",
                           f"can you suggest {noun}?", f"looking for {noun} tonight", f"show me some {_plural(g)}",
                           f"what's {noun} I should watch?", f"I want to watch {noun}"])
        add("genre", _slug(g), text, genres_all=(g,))

    # two genres, both required: common pairs
    pairs = [p for p in COMMON_PAIRS if p[0] in vocab and p[1] in vocab]
    for a, b in rng.sample(pairs, min(16, len(pairs))):
        compound = COMMON_PAIRS[(a, b)]
        na, nb = _singular(a, rng), _singular(b, rng)
        forms = [f"something that is both {na} and {nb}", f"{na} that is also {nb}",
                 f"I want {na} and {nb} in one - it has to be both"]
        if compound:
            forms += [f"{compound}, please", f"any good {_pluralize(_bare(compound))}?", f"I'd like to see {compound}"]
        add("genres_all", f"{_slug(a)}-{_slug(b)}", rng.choice(forms), genres_all=(a, b))

    # two genres, either one
    any_pairs = sorted(itertools.combinations(sorted(broad), 2))
    for a, b in rng.sample(any_pairs, min(12, len(any_pairs))):
        na, nb = _singular(a, rng), _singular(b, rng)
        text = rng.choice([f"{na} or {nb}, either is fine", f"either {na} or {nb}",
                           f"I'd take {na} or {nb}, I don't mind which", f"{na} or maybe {nb} - whichever",
                           f"give me {na} or {nb}; one of the two is enough"])
        add("genres_any", f"{_slug(a)}-or-{_slug(b)}", text, genres_any=(a, b))

    # decades and year ranges, alone and with one genre
    decades = [_decade_period(d) for d in (1920, 1930, 1940, 1950, 1960, 1970, 1980, 1990, 2000)]
    ranges = _range_periods()
    for period in decades + rng.sample(ranges, min(10, len(ranges))):
        text = rng.choice([f"a movie {period.phrase(rng)}", f"something {period.phrase(rng)}, please",
                           f"which films {period.phrase(rng)} are worth watching?",
                           f"recommend a film {period.phrase(rng)}",
                           f"any good films {period.phrase(rng)}?"])
        add(period.kind, period.slug, text, year_min=period.year_min, year_max=period.year_max)
    for periods, n in ((decades, 28), (ranges, 24)):
        combos = [(g, p) for g in known for p in periods if _plausible(g, p.year_min, p.year_max)]
        for g, p in rng.sample(combos, min(n, len(combos))):
            noun = _singular(g, rng)
            forms = [f"{noun} {p.phrase(rng)}", f"I'd like {noun} {p.phrase(rng)}, please",
                     f"find me {noun} {p.phrase(rng)}"]
            if p.kind == "decade":
                forms.append(f"any good {_decade_adj(p.year_min or 0, rng)} {_plural(g)}?")
            add(p.kind, f"{_slug(g)}-{p.slug}", rng.choice(forms), genres_all=(g,), year_min=p.year_min,
                year_max=p.year_max)

    # exclusions, alone and with one genre (B often comes with A, so the exclusion matters)
    for g in rng.sample(broad, min(8, len(broad))):
        plural = _plural(g)
        text = rng.choice([f"anything but {plural}", f"a good movie, but no {plural}", f"no {plural} tonight",
                           f"I want a film - just not {_singular(g, rng)}", f"recommend something, I hate {plural}",
                           f"something to watch, absolutely no {plural}"])
        add("exclusion", f"no{_slug(g)}", text, exclude_genres=(g,))
    directed = [(a, b) for p in COMMON_PAIRS for a, b in (p, p[::-1])
                if a in vocab and b in vocab and a in broad and a not in ("Animation", "Children's")]
    for a, b in rng.sample(directed, min(20, len(directed))):
        add("exclusion", f"{_slug(a)}-no{_slug(b)}", f"{_singular(a, rng)}, {_exclusion_phrase(b, rng)}",
            genres_all=(a,), exclude_genres=(b,))

    # combined: three or more constraints of different sorts
    shapes: dict[str, list[tuple[str, str, _Period]]] = {"pair_decade": [], "any_decade": [], "genre_decade_excl": [],
                                                         "genre_range_excl": []}
    for (a, b) in sorted(COMMON_PAIRS):  # two genres AND a decade: only the well-filled 1990s
        if a in vocab and b in vocab and _plausible(a, 1990, 1999) and _plausible(b, 1990, 1999):
            shapes["pair_decade"].append((a, b, _decade_period(1990)))
    for a, b in any_pairs:
        for d in (1980, 1990):
            if _plausible(a, d, d + 9) and _plausible(b, d, d + 9):
                shapes["any_decade"].append((a, b, _decade_period(d)))
    for a, b in directed:
        for d in (1970, 1980, 1990):
            if _plausible(a, d, d + 9):
                shapes["genre_decade_excl"].append((a, b, _decade_period(d)))
        for p in ranges:
            if _plausible(a, p.year_min, p.year_max):
                shapes["genre_range_excl"].append((a, b, p))
    for shape, pool in shapes.items():
        for index in sorted(rng.sample(range(len(pool)), min(7, len(pool)))):
            a, b, p = pool[index]
            if shape == "pair_decade":
                compound = COMMON_PAIRS[(a, b)] or f"{_singular(a, rng)} that is also {_singular(b, rng)}"
                text = rng.choice([f"{compound} {p.phrase(rng)}", f"I want {compound} {p.phrase(rng)}",
                                   f"{compound} - both genres - {p.phrase(rng)}"])
                add("combined", f"{_slug(a)}-{_slug(b)}-{p.slug}", text, genres_all=(a, b), year_min=p.year_min,
                    year_max=p.year_max)
            elif shape == "any_decade":
                text = f"{_singular(a, rng)} or {_singular(b, rng)} {p.phrase(rng)}, either genre is fine"
                add("combined", f"{_slug(a)}-or-{_slug(b)}-{p.slug}", text, genres_any=(a, b), year_min=p.year_min,
                    year_max=p.year_max)
            else:
                text = rng.choice([f"{_singular(a, rng)} {p.phrase(rng)}, {_exclusion_phrase(b, rng)}",
                                   f"looking for {_singular(a, rng)} {p.phrase(rng)} - {_exclusion_phrase(b, rng)}"])
                add("combined", f"{_slug(a)}-{p.slug}-no{_slug(b)}", text, genres_all=(a,), exclude_genres=(b,),
                    year_min=p.year_min, year_max=p.year_max)

    seen: dict[str, int] = {}
    unique = []
    for r in out:  # ids are unique by construction; a clash (odd vocabularies) gets a suffix
        n = seen[r.id] = seen.get(r.id, 0) + 1
        unique.append(r if n == 1 else SuiteRequest(f"{r.id}-{n}", r.text, r.kind, r.expected))
    return unique


# --------------------------------------------------------------------------- hand-written requests

SE7EN, ALIEN, TOY_STORY, FARGO, HEAT = ("Seven (Se7en) (1995)", "Alien (1979)", "Toy Story (1995)", "Fargo (1996)",
                                        "Heat (1995)")
PULP_FICTION, JURASSIC_PARK, CLUELESS, DIE_HARD = ("Pulp Fiction (1994)", "Jurassic Park (1993)", "Clueless (1995)",
                                                   "Die Hard (1988)")
STAR_WARS, MATRIX = "Star Wars: Episode IV - A New Hope (1977)", "Matrix, The (1999)"

# (text, kind, constraints, reference titles). Keep each kind's count a multiple of
# HELD_OUT_EVERY (a third of every kind is held out) and only add to the END of a kind's block:
# inserting shifts which requests are held out.
_G = HardConstraints
_HAND: tuple[tuple[str, str, HardConstraints, tuple[str, ...]], ...] = (
    # negations and their scope
    ("A war movie, but nothing made after 1970", "negation_scope", _G(genres_all=("War",), year_max=1970), ()),
    ("nothing made after 1970, please", "negation_scope", _G(year_max=1970), ()),
    ("absolutely no comedy", "negation_scope", _G(exclude_genres=("Comedy",)), ()),
    ("a thriller, but not a horror movie", "negation_scope",
     _G(genres_all=("Thriller",), exclude_genres=("Horror",)), ()),
    ("war films, nothing after 1970", "negation_scope", _G(genres_all=("War",), year_max=1970), ()),
    ("not animated, and no musicals either", "negation_scope", _G(exclude_genres=("Animation", "Musical")), ()),
    ("I don't want anything older than 1990", "negation_scope", _G(year_min=1990), ()),
    ("any drama is fine as long as it isn't a romance", "negation_scope",
     _G(genres_all=("Drama",), exclude_genres=("Romance",)), ()),
    ("a western - not one of the old ones, nothing before 1965", "negation_scope",
     _G(genres_all=("Western",), year_min=1965), ()),
    ("no sci-fi and no fantasy, just a good drama", "negation_scope",
     _G(genres_all=("Drama",), exclude_genres=("Sci-Fi", "Fantasy")), ()),
    ("a crime movie that is not a thriller", "negation_scope",
     _G(genres_all=("Crime",), exclude_genres=("Thriller",)), ()),
    ("nothing with singing in it - no musicals", "negation_scope", _G(exclude_genres=("Musical",)), ()),
    # exclusions as people say them
    ("anything except horror", "exclusion", _G(exclude_genres=("Horror",)), ()),
    ("no romance please, I'm not in the mood", "exclusion", _G(exclude_genres=("Romance",)), ()),
    ("something good for tonight - I hate musicals", "exclusion", _G(exclude_genres=("Musical",)), ()),
    ("a comedy without any romance in it", "exclusion", _G(genres_all=("Comedy",), exclude_genres=("Romance",)), ()),
    ("an action film, skip the war ones", "exclusion", _G(genres_all=("Action",), exclude_genres=("War",)), ()),
    ("sci-fi but no horror, I scare easily", "exclusion", _G(genres_all=("Sci-Fi",), exclude_genres=("Horror",)), ()),
    # audiences: the Children's genre is wanted (Animation alone does not count, see module doc)
    ("something for my 6 year old", "audience", _G(genres_any=("Children's",)), ()),
    ("family night - what should we watch?", "audience", _G(genres_any=("Children's",)), ()),
    ("something the kids can watch", "audience", _G(genres_any=("Children's",)), ()),
    ("Kids movie, but not animated", "audience", _G(genres_all=("Children's",), exclude_genres=("Animation",)), ()),
    ("a funny animated movie for kids", "audience", _G(genres_all=("Animation",), genres_any=("Children's",)), ()),
    ("a movie for the whole family, nothing animated", "audience",
     _G(genres_any=("Children's",), exclude_genres=("Animation",)), ()),
    ("my kids love cartoons, what's a good one?", "audience",
     _G(genres_all=("Animation",), genres_any=("Children's",)), ()),
    ("something to put on at a children's birthday party", "audience", _G(genres_any=("Children's",)), ()),
    ("a family film from the 90s", "audience", _G(genres_any=("Children's",), year_min=1990, year_max=1999), ()),
    # periods
    ("a film from the golden age of Hollywood", "period", _G(year_min=1930, year_max=1959), ()),
    ("something from the 80s or 90s", "period", _G(year_min=1980, year_max=1999), ()),
    ("a silent era classic", "period", _G(year_max=1929), ()),
    ("a comedy from the silent era", "period", _G(genres_all=("Comedy",), year_max=1929), ()),
    ("a golden-age Hollywood musical", "period", _G(genres_all=("Musical",), year_min=1930, year_max=1959), ()),
    ("a film made during World War II", "period", _G(year_min=1939, year_max=1945), ()),
    ("early 90s, any genre", "period", _G(year_min=1990, year_max=1994), ()),
    ("a late 70s thriller", "period", _G(genres_all=("Thriller",), year_min=1975, year_max=1979), ()),
    ("a crime film from the seventies or eighties", "period",
     _G(genres_all=("Crime",), year_min=1970, year_max=1989), ()),
    # like X: X is a reference, never shown; its genres are no constraint
    ("something like Se7en", "like_x", _G(), (SE7EN,)),
    ("more movies like Toy Story", "like_x", _G(), (TOY_STORY,)),
    ("I loved Fargo, what else would I like?", "like_x", _G(), (FARGO,)),
    ("anything similar to Heat", "like_x", _G(), (HEAT,)),
    ("films in the vein of Pulp Fiction", "like_x", _G(), (PULP_FICTION,)),
    ("something like Jurassic Park, but older - from before 1990", "like_x", _G(year_max=1989), (JURASSIC_PARK,)),
    ("something like Clueless from the 90s", "like_x", _G(year_min=1990, year_max=1999), (CLUELESS,)),
    ("if I liked Die Hard, what should I watch next?", "like_x", _G(), (DIE_HARD,)),
    ("something like the original Star Wars from 1977", "like_x", _G(), (STAR_WARS,)),
    # like X but not Y
    ("something tense like Se7en, but not horror, from the 90s", "like_x_but_not_y",
     _G(year_min=1990, year_max=1999, exclude_genres=("Horror",)), (SE7EN,)),
    ("like Alien but not horror", "like_x_but_not_y", _G(exclude_genres=("Horror",)), (ALIEN,)),
    ("like Toy Story but not animated", "like_x_but_not_y", _G(exclude_genres=("Animation",)), (TOY_STORY,)),
    ("like Pulp Fiction, but not another crime movie", "like_x_but_not_y", _G(exclude_genres=("Crime",)),
     (PULP_FICTION,)),
    ("similar to Jurassic Park, but no sci-fi", "like_x_but_not_y", _G(exclude_genres=("Sci-Fi",)), (JURASSIC_PARK,)),
    ("like Clueless but without the romance", "like_x_but_not_y", _G(exclude_genres=("Romance",)), (CLUELESS,)),
    ("The Matrix is my favourite - something like it that isn't an action film", "like_x_but_not_y",
     _G(exclude_genres=("Action",)), (MATRIX,)),
    ("I loved Star Wars: A New Hope - something like it that isn't science fiction", "like_x_but_not_y",
     _G(exclude_genres=("Sci-Fi",)), (STAR_WARS,)),
    ("like Heat, but no thrillers", "like_x_but_not_y", _G(exclude_genres=("Thriller",)), (HEAT,)),
    # only ...
    ("only documentaries", "only", _G(genres_all=("Documentary",)), ()),
    ("I only want movies from the 1980s.", "only", _G(year_min=1980, year_max=1989), ()),
    ("only westerns, please", "only", _G(genres_all=("Western",)), ()),
    ("just show me comedies, nothing else", "only", _G(genres_all=("Comedy",)), ()),
    ("only films made before 1950", "only", _G(year_max=1949), ()),
    ("only animated films from the 90s", "only", _G(genres_all=("Animation",), year_min=1990, year_max=1999), ()),
    # one genre, colloquially
    ("a good whodunit", "genre", _G(genres_all=("Mystery",)), ()),
    ("I feel like a cowboy movie", "genre", _G(genres_all=("Western",)), ()),
    ("a sci-fi flick for tonight", "genre", _G(genres_all=("Sci-Fi",)), ()),
    ("I'm in the mood for a cartoon", "genre", _G(genres_all=("Animation",)), ()),
    ("a gangster film", "genre", _G(genres_all=("Crime",)), ()),
    ("a classic film noir", "genre", _G(genres_all=("Film-Noir",)), ()),
    # two genres, both / either
    ("a rom-com", "genres_all", _G(genres_all=("Comedy", "Romance")), ()),
    ("a crime thriller", "genres_all", _G(genres_all=("Crime", "Thriller")), ()),
    ("an animated musical", "genres_all", _G(genres_all=("Animation", "Musical")), ()),
    ("a comedy or a romance, I don't mind which", "genres_any", _G(genres_any=("Comedy", "Romance")), ()),
    ("either a western or a war movie", "genres_any", _G(genres_any=("Western", "War")), ()),
    ("a thriller or a mystery, whichever", "genres_any", _G(genres_any=("Thriller", "Mystery")), ()),
    # decades
    ("something from the 70s", "decade", _G(year_min=1970, year_max=1979), ()),
    ("a 1960s film", "decade", _G(year_min=1960, year_max=1969), ()),
    ("movies from the nineties", "decade", _G(year_min=1990, year_max=1999), ()),
    ("a horror movie from the eighties", "decade", _G(genres_all=("Horror",), year_min=1980, year_max=1989), ()),
    ("'50s sci-fi", "decade", _G(genres_all=("Sci-Fi",), year_min=1950, year_max=1959), ()),
    ("what was good in the 1940s?", "decade", _G(year_min=1940, year_max=1949), ()),
    # year ranges
    ("Science fiction from before 1980", "year_range", _G(genres_all=("Sci-Fi",), year_max=1979), ()),
    ("a comedy made between 1975 and 1985", "year_range", _G(genres_all=("Comedy",), year_min=1975, year_max=1985), ()),
    ("anything released after 1995", "year_range", _G(year_min=1996), ()),
    ("a thriller from 1990 or later", "year_range", _G(genres_all=("Thriller",), year_min=1990), ()),
    ("films made no later than 1960", "year_range", _G(year_max=1960), ()),
    ("a drama from 1985 to 1990", "year_range", _G(genres_all=("Drama",), year_min=1985, year_max=1990), ()),
    # combined
    ("a tense 90s thriller, not horror", "combined",
     _G(genres_all=("Thriller",), year_min=1990, year_max=1999, exclude_genres=("Horror",)), ()),
    ("a crime thriller from the 90s, nothing with comedy", "combined",
     _G(genres_all=("Crime", "Thriller"), year_min=1990, year_max=1999, exclude_genres=("Comedy",)), ()),
    ("an 80s action movie, but no sci-fi", "combined",
     _G(genres_all=("Action",), year_min=1980, year_max=1989, exclude_genres=("Sci-Fi",)), ()),
    ("romantic comedy made after 1985, not a musical", "combined",
     _G(genres_all=("Comedy", "Romance"), year_min=1986, exclude_genres=("Musical",)), ()),
    ("a war drama from before 1970", "combined", _G(genres_all=("Drama", "War"), year_max=1969), ()),
    ("old horror, before 1970, no comedy", "combined",
     _G(genres_all=("Horror",), year_max=1969, exclude_genres=("Comedy",)), ()),
    ("an adventure the whole family can watch, from the 80s or 90s", "combined",
     _G(genres_all=("Adventure",), genres_any=("Children's",), year_min=1980, year_max=1999), ()),
    ("a sci-fi action film from 1980 to 1995 that isn't horror", "combined",
     _G(genres_all=("Action", "Sci-Fi"), year_min=1980, year_max=1995, exclude_genres=("Horror",)), ()),
    ("a drama from the 70s, no war films and no romance", "combined",
     _G(genres_all=("Drama",), year_min=1970, year_max=1979, exclude_genres=("War", "Romance")), ()),
)


def _hand_written() -> tuple[SuiteRequest, ...]:
    out, per_kind = [], {}
    for text, kind, expected, refs in _HAND:
        n = per_kind[kind] = per_kind.get(kind, 0) + 1
        expected = expected.merged(exclude_items=(*expected.exclude_items, *refs)) if refs else expected
        out.append(SuiteRequest(f"hand-{kind}-{n:02d}", text, kind, expected, tuple(refs), hand_written=True,
                                held_out=n % HELD_OUT_EVERY == 0))
    return tuple(out)


HAND_WRITTEN: tuple[SuiteRequest, ...] = _hand_written()
"""The hand-written requests in file order; ids ``hand-<kind>-<n>``; within each kind every
third (3rd, 6th, ...) is held out. "Like X" requests carry X in ``reference_titles`` and in
``expected.exclude_items``."""


def request_suite(genres: Sequence[str], seed: int = 0) -> list[SuiteRequest]:
    """The whole suite: :func:`generated_requests` then :data:`HAND_WRITTEN` (ids unique; >= 200
    requests for MovieLens' genres). The hand-written part is MovieLens-specific and the same
    for every seed and vocabulary."""
    suite = [*generated_requests(genres, seed), *HAND_WRITTEN]
    ids = [r.id for r in suite]
    if len(set(ids)) != len(ids):  # pragma: no cover - guarded by construction
        raise ValueError("request ids are not unique")
    return suite


def resolve_reference_ids(requests: Iterable[SuiteRequest], items: Iterable[Item]) -> dict[str, tuple[str, ...]]:
    """Request id -> the catalog ids of its "like X" references, matched by item id, then by the
    "Title (Year)" label, then by normalised title and year. Raises ValueError naming any title
    the catalog lacks (the suite would otherwise silently not check that X is not shown)."""
    by_key: dict[str, str] = {}
    for item in items:
        for key in (item.id, item.label, f"{normalise_title(item.title)}|{item.year}"):
            by_key.setdefault(key, item.id)
    out, missing = {}, []
    for request in requests:
        ids = []
        for title in request.reference_titles:
            year = re.search(r"\((\d{4})\)\s*$", title)
            found = by_key.get(title) or by_key.get(
                f"{normalise_title(title)}|{int(year.group(1)) if year else None}")
            if found is None:
                missing.append(title)
            else:
                ids.append(found)
        out[request.id] = tuple(ids)
    if missing:
        raise ValueError(f"reference titles not in the catalog: {sorted(set(missing))}")
    return out


# --------------------------------------------------------------------------- parse check

def parse_matches(parsed: Filters | None, expected: HardConstraints) -> bool | None:
    """Does the agent's parsed hard filter state what was asked? None when ``parsed`` is None
    (a path that parses nothing: no figure either way). True exactly when all of:

    * ``year_min`` and ``year_max`` equal the expected ones (None = no bound);
    * ``set(exclude_genres)`` equals the expected set;
    * ``fields`` is empty (no suite request names a director, cast member, ...: a field
      constraint there was invented);
    * with R = set(parsed.genres) (every one required), A = set(expected.genres_all) and
      Y = set(expected.genres_any) - A: A is a subset of R and R - A is a subset of Y, and
      - Y empty: R == A;
      - one genre in Y ("something the kids can watch"): R - A == Y (the filter can state it
        exactly, so it must);
      - two or more in Y ("a comedy or a romance"): ``parsed.genres_any`` is exactly Y and R == A
        (the filter states "either"); a parser without it (``genres_any`` empty) may leave it
        to the ranking or narrow to one of the options, but requiring two turns "or" into "and".

    The "like X" exclusion (``exclude_items``) is not a matter of parsing and is not compared.
    """
    if parsed is None:
        return None
    if parsed.year_min != expected.year_min or parsed.year_max != expected.year_max:
        return False
    if set(parsed.exclude_genres) != set(expected.exclude_genres) or parsed.fields:
        return False
    required, all_ = set(parsed.genres), set(expected.genres_all)
    any_ = set(expected.genres_any) - all_
    extra = required - all_
    if not all_ <= required or not extra <= any_:
        return False
    if len(any_) == 1:
        return extra == any_ and set(parsed.genres_any) <= any_
    if parsed.genres_any:
        return set(parsed.genres_any) == any_ and not extra
    return len(extra) <= 1


# --------------------------------------------------------------------------- running the suite

@dataclass
class RequestOutcome:
    """What one path returned for one request (built by the caller's ``respond``)."""

    shown: list[Item]
    """Every shown pick, in order, including any exploration pick."""
    parsed: Filters | None
    """The hard filter the path applied (None: a path that parses nothing)."""
    seconds: float
    popularity_percentiles: list[float] = field(default_factory=list)
    """0-100 per shown pick, 100 = the most rated item of the catalog (computed by the caller)."""
    reference_ids: tuple[str, ...] = ()
    """Catalog ids of the request's "like X" references (:func:`resolve_reference_ids`); they are
    excluded on top of ``expected.exclude_items``."""


class _Group:
    """Running figures of one slice of the suite (overall, a kind, held out or not, ...)."""

    def __init__(self) -> None:
        self.count = SatisfactionCount()  # non-empty lists only: an empty list satisfies nothing
        self.requests = self.empty = self.parse_known = self.parse_ok = 0
        self.percentiles: list[float] = []
        self.seconds: list[float] = []

    def add(self, constraints: HardConstraints, outcome: RequestOutcome, parse_ok: bool | None) -> None:
        self.requests += 1
        if outcome.shown:
            self.count.add(constraints, outcome.shown, keep=0)
        else:
            self.empty += 1
        if parse_ok is not None:
            self.parse_known += 1
            self.parse_ok += parse_ok
        self.percentiles += [float(p) for p in outcome.popularity_percentiles]
        self.seconds.append(float(outcome.seconds))

    def summary(self) -> dict[str, Any]:
        c = self.count
        return {
            "requests": self.requests,
            "picks": c.picks,
            "picks_ok": c.picks_ok,
            "pick_satisfaction": c.pick_share,
            "requests_fully_satisfied": c.lists_ok / self.requests if self.requests else None,
            "requests_fully_satisfied_nonempty": c.list_share,
            "parse_accuracy": self.parse_ok / self.parse_known if self.parse_known else None,
            "parsed_requests": self.parse_known,
            "median_popularity_percentile": statistics.median(self.percentiles) if self.percentiles else None,
            "empty_lists": self.empty,
            "median_seconds": statistics.median(self.seconds) if self.seconds else None,
        }


def run_suite(requests: Sequence[SuiteRequest], respond: Callable[[SuiteRequest], RequestOutcome],
              progress: bool = True) -> dict[str, Any]:
    """Ask every request through ``respond`` and check every shown pick against its expected
    constraints plus the outcome's ``reference_ids``. Returns a JSON-able dict:

    * ``overall``, ``by_kind`` (kind -> figures), ``by_split`` (``held_out`` / ``not_held_out``)
      and ``by_source`` (``generated`` / ``hand_written``), each with: requests, picks,
      ``pick_satisfaction`` (share of shown picks keeping every constraint),
      ``requests_fully_satisfied`` (share of requests with a non-empty list whose every pick
      keeps every constraint; an empty list counts as not satisfied),
      ``requests_fully_satisfied_nonempty`` (the same among non-empty lists), ``parse_accuracy``
      (share of :func:`parse_matches` True among requests where it is not None),
      ``median_popularity_percentile`` of the picks, ``empty_lists``, ``median_seconds``;
    * ``examples``: up to :data:`MAX_EXAMPLES` violations ("id 'text': pick (year) reasons");
    * ``rows``: per request id, kind, held_out, hand_written, ok, parse_ok, n_shown, n_ok,
      violations, seconds.
    """
    from tqdm.auto import tqdm

    groups: dict[str, _Group] = {}

    def group(name: str) -> _Group:
        return groups.setdefault(name, _Group())

    examples = SatisfactionCount()
    rows = []
    for request in tqdm(requests, desc="requests", unit="request", disable=not progress):
        outcome = respond(request)
        constraints = request.expected
        if outcome.reference_ids:
            constraints = constraints.merged(exclude_items=(*constraints.exclude_items, *outcome.reference_ids))
        parse_ok = parse_matches(outcome.parsed, request.expected)
        for name in ("overall", f"kind:{request.kind}", "split:" + ("held_out" if request.held_out else "not_held_out"),
                     "source:" + ("hand_written" if request.hand_written else "generated")):
            group(name).add(constraints, outcome, parse_ok)
        if outcome.shown:
            examples.add(constraints, outcome.shown, label=f"{request.id} {request.text!r}", keep=MAX_EXAMPLES)
        violations = [f"{it.label}: {', '.join(v)}" for it in outcome.shown if (v := constraints.violations(it))]
        rows.append({"id": request.id, "kind": request.kind, "held_out": request.held_out,
                     "hand_written": request.hand_written, "ok": bool(outcome.shown) and not violations,
                     "parse_ok": parse_ok, "n_shown": len(outcome.shown),
                     "n_ok": len(outcome.shown) - len(violations), "violations": violations,
                     "seconds": float(outcome.seconds)})

    def section(prefix: str) -> dict[str, Any]:
        names = [n for n in groups if n.startswith(prefix)]
        order = {k: i for i, k in enumerate(KINDS)}
        names.sort(key=lambda n: (order.get(n[len(prefix):], len(order)), n))
        return {n[len(prefix):]: groups[n].summary() for n in names}

    return {
        "overall": group("overall").summary(),
        "by_kind": section("kind:"),
        "by_split": section("split:"),
        "by_source": section("source:"),
        "examples": examples.examples,
        "rows": rows,
    }


# --------------------------------------------------------------------------- plot

def plot_by_kind(results: Mapping[str, Any], path: Path) -> None:
    """Bar chart of pick satisfaction (%) by request kind, written to ``path`` (PNG). ``results``
    is one :func:`run_suite` result or ``{pipeline name: result}``: one bar per pipeline in each
    kind's group; the held-out third and the overall figure are drawn as the last two groups."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs: dict[str, Mapping[str, Any]] = {"results": results} if "by_kind" in results else dict(results)
    order = {k: i for i, k in enumerate(KINDS)}
    kinds = sorted({k for r in runs.values() for k in r["by_kind"]}, key=lambda k: (order.get(k, len(order)), k))
    groups = [*kinds, "held out", "overall"]

    def value(run: Mapping[str, Any], name: str) -> float:
        figures = (run["by_split"].get("held_out") if name == "held out" else run["overall"] if name == "overall"
                   else run["by_kind"].get(name)) or {}
        share = figures.get("pick_satisfaction")
        return float("nan") if share is None else 100 * share

    width = 0.8 / max(len(runs), 1)
    fig, ax = plt.subplots(figsize=(min(16.0, max(8.0, 0.45 * len(groups) * max(1, len(runs)) + 3)), 4.8))
    for i, (name, run) in enumerate(runs.items()):
        xs = [g + (i - (len(runs) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, [value(run, g) for g in groups], width=width, label=name)
    ax.axhline(98, color="grey", linestyle="--", linewidth=1, label="target 98%")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=35, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("shown picks satisfying every constraint (%)")
    ax.set_title("Constraint suite: pick satisfaction by request kind")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def suite_to_jsonl(requests: Iterable[SuiteRequest]) -> str:
    """The requests as JSON lines (for a results folder: what exactly was asked)."""
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in requests)
