"""A simulated person with a hidden target film, for the conversational protocol.

Adapted from the "attribute" mode of iEvaLM (Wang et al., EMNLP 2023: the simulated user talks
about the target's attributes, never names it) with the lessons of "How Reliable is Your
Simulator?" (arXiv 2403.16416): the target must not leak through the simulator's words, so
every message goes through :func:`leaks` and a sentence that would leak is never said.

The person is rule-based and deterministic for a seed:

- opening: one or two of the target's genres and its decade, in one of
  :data:`OPENING_TEMPLATES` (``new`` start: preceded by one or two of the person's own recent,
  highly rated films, chosen from their history without looking at the target);
- every later turn (while the target is not among the top ``k`` shown): one reaction to the
  list (rule out a shown film, ask for older/newer films relative to the list's median year,
  or exclude a genre of the shown films that the target lacks), then one more true attribute
  (a narrower year range, another of its genres, its director, a cast member).

Only true facts of the target are revealed; the constraints the person stated are kept as
:class:`eval.constraints.HardConstraints` (director and cast wishes are preferences, not hard
constraints).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz

from eval.constraints import HardConstraints
from retrieval.items import Item
from retrieval.titles import normalise_title

Start = Literal["known", "new"]

#: Words a person uses for each MovieLens genre (the first is the plainest).
GENRE_PHRASES: dict[str, tuple[str, ...]] = {
    "Action": ("action",), "Adventure": ("adventure",), "Animation": ("animated", "animation"),
    "Children's": ("children's", "kids"), "Comedy": ("comedy",), "Crime": ("crime",),
    "Documentary": ("documentary",), "Drama": ("drama",), "Fantasy": ("fantasy",), "Film-Noir": ("film noir",),
    "Horror": ("horror",), "Musical": ("musical",), "Mystery": ("mystery",), "Romance": ("romance", "romantic"),
    "Sci-Fi": ("sci-fi", "science fiction"), "Thriller": ("thriller",), "War": ("war",), "Western": ("western",),
}

#: Opening phrasings: ``{g}`` a genre phrase, ``{d}`` a decade phrase ("90s", "1990s").
OPENING_TEMPLATES: tuple[str, ...] = (
    "I'm looking for a {g} movie from the {d}.",
    "Any good {g} films from the {d}?",
    "Recommend me a {g} film from the {d}, please.",
    "I feel like watching a {g} movie made in the {d}.",
    "Can you suggest a {d} {g} film?",
    "What's a great {g} movie from the {d}?",
    "I want to watch a {g} film tonight, something from the {d}.",
    "Show me {g} films released in the {d}.",
    "In the mood for a {g} movie from the {d}.",
    "Looking for {d} {g} movies.",
    "Got any {g} picks from the {d}?",
    "A {g} film from the {d}, please.",
    "I'd love a {g} movie that came out in the {d}.",
    "Find me a good {g} film from the {d}.",
    "Give me a {g} flick from the {d}.",
    "Any {d} {g} movies worth watching?",
    "Please recommend some {g} movies from the {d}.",
)
OWN_FILMS_TEMPLATES: tuple[str, ...] = (
    "I really liked {f}. ", "I loved {f}. ", "Recently I enjoyed {f}. ", "{f} was great. ",
)


def decade_phrase(year: int, rng: random.Random) -> str:
    """``1994`` -> "90s" / "1990s" / "'90s" (decades before 1930 always in full: "1920s")."""
    decade = year // 10 * 10
    if decade < 1930 or decade >= 2000:
        return f"{decade}s"
    return rng.choice((f"{decade % 100}s", f"{decade}s", f"'{decade % 100}s"))


def genre_phrase(genres: Sequence[str], rng: random.Random) -> str:
    """"crime thriller", "comedy and drama", "sci-fi"..."""
    words = [rng.choice(GENRE_PHRASES.get(g, (g.lower(),))) for g in genres]
    if len(words) == 1:
        return words[0]
    return rng.choice((f"{words[0]} {words[1]}", f"{words[0]} and {words[1]}"))


def title_variants(title: str) -> list[str]:
    """Normalised forms of a catalog title that a message must not contain: the whole title and
    each part in parentheses ("Seven (Se7en) (1995)" -> "seven se7en", "seven", "se7en")."""
    base = re.sub(r"\s*\(\d{4}\)\s*$", "", title)
    parts = [base, re.sub(r"\([^)]*\)", " ", base)] + re.findall(r"\(([^)]*)\)", base)
    forms = [normalise_title(p) for p in parts]
    forms += [re.sub(r"^(the|a|an) ", "", f) for f in forms]  # "the usual suspects" -> "usual suspects"
    return [v for v in dict.fromkeys(forms) if v]


def leaks(message: str, title: str, threshold: float = 90.0) -> bool:
    """True when ``message`` names ``title`` or a close variant: a normalised variant occurs as
    whole words, or (variants of 8+ characters) rapidfuzz's partial ratio reaches ``threshold``."""
    text = f" {normalise_title(message)} "
    for variant in title_variants(title):
        if f" {variant} " in text:
            return True
        if len(variant) >= 8 and fuzz.partial_ratio(variant, text) >= threshold:
            return True
    return False


@dataclass
class SimulatedPerson:
    """One person with a hidden ``target`` (see the module doc). ``own_films`` are titles of the
    person's own liked films (used by the ``new`` start). Deterministic for (target, seed)."""

    target: Item
    start: Start = "known"
    own_films: Sequence[str] = ()
    seed: str | int = 0
    k: int = 5
    stated: HardConstraints = field(default_factory=HardConstraints)
    messages: list[str] = field(default_factory=list)
    revealed: list[str] = field(default_factory=list)
    leaks_avoided: int = 0
    leaked: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:{self.target.id}:{self.start}")
        genres = list(self.target.genres)
        self.rng.shuffle(genres)
        self._genres_left = genres
        self._reveals = self._reveal_plan()

    # ------------------------------------------------------------------ turns
    def opening(self) -> str:
        """The first message: genre(s) + decade (+ own films for the ``new`` start)."""
        n = 2 if len(self._genres_left) >= 2 and self.rng.random() < 0.5 else 1
        named, self._genres_left = self._genres_left[:n], self._genres_left[n:]
        parts: list[str] = []
        if self.start == "new" and self.own_films:
            films = [f for f in self.own_films if not leaks(f, self.target.title)][:2]
            self.leaks_avoided += len(self.own_films[:2]) - len(films)
            if films:
                parts.append(self.rng.choice(OWN_FILMS_TEMPLATES).format(f=" and ".join(films)))
        g = genre_phrase(named, self.rng) if named else "good"
        if self.target.year:
            d = decade_phrase(self.target.year, self.rng)
            templates = self.rng.sample(OPENING_TEMPLATES, len(OPENING_TEMPLATES))
            sentence = next((t.format(g=g, d=d) for t in templates if not leaks(t.format(g=g, d=d), self.target.title)),
                            templates[0].format(g=g, d=d))
            decade = self.target.year // 10 * 10
            self.stated = self.stated.merged(year_min=decade, year_max=decade + 9)
        else:
            sentence = f"I'm looking for a {g} movie."
        self.stated = self.stated.merged(genres_all=list(self.stated.genres_all) + named)
        self.revealed += [f"genre {g}" for g in named] + ([f"decade {self.target.year // 10 * 10}s"] if self.target.year else [])
        return self._say(" ".join(parts) + sentence)

    def react(self, shown: Sequence[Item]) -> str:
        """The next message after a list that did not hold the target in its top ``k``."""
        reaction = self._reaction(list(shown[: self.k]))
        reveal = self._next_reveal()
        return self._say(" ".join(s for s in (reaction, reveal) if s) or "Something else, please.")

    def found(self, shown: Sequence[Item], k: int | None = None) -> bool:
        return any(i.id == self.target.id for i in shown[: k or self.k])

    # ------------------------------------------------------------------ internals
    def _say(self, message: str) -> str:
        """Record and return ``message``; a leak (every piece was checked, so only a title made
        of template words could cause one) is counted in ``leaked`` and fails the run."""
        message = message.strip()
        self.leaked += leaks(message, self.target.title)
        self.messages.append(message)
        return message

    def _reaction(self, shown: list[Item]) -> str:
        options: list[str] = []
        others = [i for i in shown if i.id != self.target.id]
        lacking = Counter(g for i in others for g in i.genres if g not in self.target.genres
                          and g not in self.stated.exclude_genres)
        if lacking:
            options.append("exclude")
        years = sorted(i.year for i in others if i.year)
        if years and self.target.year and abs(self.target.year - years[len(years) // 2]) >= 3:
            options.append("older_newer")
        if others:
            options.append("not_this")
        if not options:
            return ""
        choice = self.rng.choice(options)
        if choice == "exclude":
            genre = lacking.most_common(1)[0][0]
            self.stated = self.stated.merged(exclude_genres=list(self.stated.exclude_genres) + [genre])
            word = GENRE_PHRASES.get(genre, (genre.lower(),))[0]
            return self.rng.choice((f"No {word}, please.", f"Nothing {word}.", f"I don't want {word} films."))
        if choice == "older_newer":
            median = years[len(years) // 2]
            return "Something older." if self.target.year < median else "Something newer."
        pick = others[0]
        sentence = f"Not {_plain_title(pick.title)}."
        if leaks(sentence, self.target.title):
            self.leaks_avoided += 1
            return ""
        self.stated = self.stated.merged(exclude_items=list(self.stated.exclude_items) + [pick.id])
        return sentence

    def _reveal_plan(self) -> list[str]:
        kinds = ["years", "genre", "director", "cast"]
        self.rng.shuffle(kinds)
        return kinds

    def _next_reveal(self) -> str:
        while self._reveals:
            kind = self._reveals.pop(0)
            sentence = self._reveal(kind)
            if sentence and not leaks(sentence, self.target.title):
                return sentence
            if sentence:
                self.leaks_avoided += 1
        return ""

    def _reveal(self, kind: str) -> str:
        t = self.target
        if kind == "years" and t.year:
            lo, hi = t.year - self.rng.randint(0, 2), t.year + self.rng.randint(0, 2)
            self.stated = self.stated.merged(year_min=lo, year_max=hi)
            self.revealed.append(f"years {lo}-{hi}")
            return f"It should be from between {lo} and {hi}." if lo != hi else f"It should be from {lo}."
        if kind == "genre" and self._genres_left:
            genre = self._genres_left.pop(0)
            self.stated = self.stated.merged(genres_all=list(self.stated.genres_all) + [genre])
            self.revealed.append(f"genre {genre}")
            word = self.rng.choice(GENRE_PHRASES.get(genre, (genre.lower(),)))
            return self.rng.choice((f"It should also be a {word} film.", f"Ideally it's a {word} movie too."))
        names = _names(t.extra.get(kind))
        if names:
            name = self.rng.choice(names)
            self.revealed.append(f"{kind} {name}")
            if kind == "director":
                return self.rng.choice((f"Ideally directed by {name}.", f"Something by {name}, maybe."))
            return self.rng.choice((f"Maybe with {name} in it.", f"I'd like {name} in the cast."))
        return ""


def _plain_title(title: str) -> str:
    return re.sub(r"\s*\(\d{4}\)\s*$", "", title)


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    return []
