"""The interest profile: what the agent believes the person likes, as an explicit, editable value.

Invariants: every ``ItemRef.item_id`` is a catalog id (resolved by fuzzy title match, the match
shown in ``said`` / ``match_score``); genres in :class:`Constraints` are catalog genre names;
``year_min <= year_max`` when both are set. What the catalog cannot express lives in ``soft``
(free text used only as a retrieval/rerank signal, never as a filter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.understanding.facets import country_phrase
from agent.understanding.moods import mood_reading
from retrieval.retriever import Filters

Scalar = str | int | float | bool

#: Years a constraint may name (inclusive); outside them a number is not read as a year.
YEAR_LO, YEAR_HI = 1880, 2030


@dataclass(frozen=True)
class ItemRef:
    """A catalog item the person mentioned. ``said`` is their words; ``match_score`` 0..100 is
    the fuzzy title similarity (100 = exact, or chosen from a shown list)."""

    item_id: str
    title: str
    said: str = ""
    match_score: float = 100.0

    def shown(self) -> str:
        if self.said and self.match_score < 100:
            return f"{self.title} (you said \"{self.said}\", {self.match_score:.0f}% match)"
        return self.title


@dataclass
class Constraints:
    """Hard constraints: inclusive years, genres all required / at least one of ``genres_any`` /
    none allowed, extra catalog fields."""

    year_min: int | None = None
    year_max: int | None = None
    genres: list[str] = field(default_factory=list)
    exclude_genres: list[str] = field(default_factory=list)
    fields: dict[str, Scalar | list[str]] = field(default_factory=dict)  # a list: every value required
    genres_any: list[str] = field(default_factory=list)
    ranges: dict[str, list[int | None]] = field(default_factory=dict)  # field -> [min, max], inclusive
    one_of: dict[str, list[str]] = field(default_factory=dict)  # field -> allowed values
    none_of: dict[str, list[str]] = field(default_factory=dict)  # field -> excluded values
    acclaim: str | None = None  # agent.ranking.acclaim rule name: "critics", "underrated", "top_rated"

    def to_filters(self) -> Filters:
        return Filters(year_min=self.year_min, year_max=self.year_max, genres=tuple(self.genres),
                       exclude_genres=tuple(self.exclude_genres), fields=dict(self.fields),
                       genres_any=tuple(self.genres_any),
                       ranges={k: (v[0], v[1]) for k, v in self.ranges.items()},
                       one_of={k: tuple(v) for k, v in self.one_of.items()},
                       none_of={k: tuple(v) for k, v in self.none_of.items()})

    def describe(self) -> list[str]:
        out: list[str] = []
        if self.year_min is not None and self.year_max is not None:
            out.append(f"from {self.year_min} to {self.year_max}")
        elif self.year_min is not None:
            out.append(f"from {self.year_min} on")
        elif self.year_max is not None:
            out.append(f"up to {self.year_max}")
        if self.genres:
            out.append("genre " + " and ".join(self.genres))
        if self.genres_any:
            out.append("genre " + " or ".join(self.genres_any))
        if self.exclude_genres:
            out.append("no " + ", no ".join(self.exclude_genres))
        out += [f"from {country_phrase(str(v))}" if k == "country" else f"{_FIELD_WORDS[k]} {_all(v)}" if k in _FIELD_WORDS
                else f"{k} = {_all(v)}" for k, v in self.fields.items()]
        for key, (low, high) in self.ranges.items():
            what = _RANGE_WORDS.get(key, key.replace("_", " "))
            out.append(f"{what} {low}" if low == high else f"{what} {low} to {high}" if low is not None and high is not None
                       else f"{what} at least {low}" if low is not None else f"{what} at most {high}")
        out += [f"{_FIELD_WORDS.get(key, key.replace('_', ' '))} {' or '.join(values)}"
                for key, values in self.one_of.items()]
        out += [f"not {_FIELD_WORDS.get(key, key.replace('_', ' '))} {' or '.join(values)}"
                for key, values in self.none_of.items()]
        if self.acclaim:
            out.append(ACCLAIM_WORDS.get(self.acclaim, self.acclaim))
        return out

    def wishes(self) -> list[tuple[str, str]]:
        """The fact wishes beyond genres and years, as (key, words) pairs: the key names one
        wish (``"fields:cast"``, ``"ranges:runtime_min"``, ``"one_of:certificate"``,
        ``"none_of:primary_language"``, ``"acclaim"``) for :meth:`keep_wishes`."""
        one = Constraints
        out = [(f"fields:{k}", one(fields={k: v}).describe()[0]) for k, v in self.fields.items()]
        out += [(f"ranges:{k}", one(ranges={k: v}).describe()[0]) for k, v in self.ranges.items()]
        out += [(f"one_of:{k}", one(one_of={k: v}).describe()[0]) for k, v in self.one_of.items()]
        out += [(f"none_of:{k}", one(none_of={k: v}).describe()[0]) for k, v in self.none_of.items()]
        return out + ([("acclaim", one(acclaim=self.acclaim).describe()[0])] if self.acclaim else [])

    def keep_wishes(self, keys: set[str]) -> None:
        """Drop every wish of :meth:`wishes` whose key is not in ``keys``."""
        for kind in ("fields", "ranges", "one_of", "none_of"):
            setattr(self, kind, {k: v for k, v in getattr(self, kind).items() if f"{kind}:{k}" in keys})
        if "acclaim" not in keys:
            self.acclaim = None

    def is_empty(self) -> bool:
        return not (self.genres or self.ranges or self.one_of or self.none_of or self.acclaim or self.genres_any
                    or self.exclude_genres or self.fields or self.year_min is not None or self.year_max is not None)


def _leans(towards: Sequence[str], away: Sequence[str]) -> str:
    """ "towards drama and away from comedy and war" (genres in lower case; either side may be empty)."""
    parts = ([f"towards {_join([g.lower() for g in towards])}"] if towards else []) + \
            ([f"away from {_join([g.lower() for g in away])}"] if away else [])
    return " and ".join(parts)


def _all(value: Any) -> str:
    """A field's wanted value in words: "Robert De Niro and Al Pacino" for a list (all required)."""
    return " and ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


_RANGE_WORDS = {"runtime_min": "running minutes", "oscars_won": "Oscars won", "oscar_nominations": "Oscar nominations"}
_FIELD_WORDS = {"cast": "with", "director": "directed by", "writer": "written by", "language": "in",
                "primary_language": "in", "country": "from", "certificate": "certificate"}
#: How each acclaim rule (agent.ranking.acclaim.ACCLAIM_RULES) reads in "What I think you like".
ACCLAIM_WORDS = {"critics": "loved by critics", "underrated": "little-known but well rated",
                 "top_rated": "among the best rated"}


@dataclass
class InterestProfile:
    """Liked/disliked items and attributes (attributes in the person's words), hard constraints,
    soft text the catalog cannot express, and the latest free-text intent."""

    liked_items: list[ItemRef] = field(default_factory=list)
    disliked_items: list[ItemRef] = field(default_factory=list)
    liked_attributes: list[str] = field(default_factory=list)
    disliked_attributes: list[str] = field(default_factory=list)
    constraints: Constraints = field(default_factory=Constraints)
    soft: list[str] = field(default_factory=list)
    intent: str = ""
    focus: str = ""
    # the LLM's reading of the current wish (agent.understanding.wish): preferences, not filters
    soft_genres: list[str] = field(default_factory=list)
    avoid_genres: list[str] = field(default_factory=list)
    about: str = ""
    # moods and occasions of the current ask ("a good cry"; agent.understanding.moods.Mood names):
    # preferences, read by stated rules
    moods: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ use
    def to_filters(self) -> Filters:
        """The hard constraints as retrieval :class:`Filters`."""
        return self.constraints.to_filters()

    def is_empty(self) -> bool:
        c = self.constraints
        return not (self.liked_items or self.disliked_items or self.liked_attributes or self.disliked_attributes
                    or self.soft or self.intent or self.about or self.soft_genres or self.moods or not c.is_empty())

    def query_text(self) -> str:
        """Retrieval query text built from the profile (likes first; dislikes are not embedded,
        they act through filters, exclusion and the reranker's context)."""
        parts = [self.focus] if self.focus else []
        parts += self.liked_attributes + self.soft + [self.about, mood_reading(self.moods, None).about]
        parts += self.constraints.genres + self.constraints.genres_any
        return ". ".join(dict.fromkeys(p for p in parts if p))

    def summary(self) -> str:
        """"What I think you like", in plain words (one short paragraph)."""
        if self.is_empty():
            return "I don't know your taste yet. Tell me a film you liked, a genre or an era."
        lines: list[str] = []
        if self.liked_items or self.liked_attributes:
            likes = [r.shown() for r in self.liked_items] + self.liked_attributes
            lines.append("You like " + _join(likes) + ".")
        if self.disliked_items or self.disliked_attributes:
            lines.append("You don't like " + _join([r.shown() for r in self.disliked_items] + self.disliked_attributes) + ".")
        rules = self.constraints.describe()
        if rules:
            lines.append("I only show films " + _join(rules) + ".")
        if self.soft:
            lines.append("I also keep in mind: " + _join([f'"{s}"' for s in self.soft]) + ".")
        if self.moods:
            c = self.constraints
            mood = mood_reading(self.moods, None, [*c.genres, *c.genres_any])
            said = _join([f'"{m}"' for m in self.moods])
            lines.append(f"For {said} I lean {_leans(mood.towards, mood.away)}." if mood.towards or mood.away
                         else f"You asked for {said}.")
        if self.soft_genres or self.avoid_genres:
            lines.append(f"From how you put it, I lean {_leans(self.soft_genres, self.avoid_genres)}.")
        if self.intent:
            lines.append(f'Right now you asked for: "{self.intent}".')
        return " ".join(lines)

    # ------------------------------------------------------------------ edit
    def to_form(self) -> dict[str, Any]:
        """An editable form (plain JSON types); :meth:`apply_form` takes the same keys back."""
        c = self.constraints
        return {
            "liked_items": [r.item_id for r in self.liked_items],
            "disliked_items": [r.item_id for r in self.disliked_items],
            "liked_attributes": list(self.liked_attributes),
            "disliked_attributes": list(self.disliked_attributes),
            "year_min": c.year_min, "year_max": c.year_max,
            "genres": list(c.genres), "exclude_genres": list(c.exclude_genres),
            "fields": dict(c.fields), "soft": list(self.soft), "intent": self.intent, "moods": list(self.moods),
            "wishes": [key for key, _ in c.wishes()],
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "InterestProfile":
        if not data:
            return cls()
        return cls(
            liked_items=[ItemRef(**r) for r in data.get("liked_items", [])],
            disliked_items=[ItemRef(**r) for r in data.get("disliked_items", [])],
            liked_attributes=list(data.get("liked_attributes", [])),
            disliked_attributes=list(data.get("disliked_attributes", [])),
            constraints=Constraints(**data.get("constraints", {})),
            soft=list(data.get("soft", [])),
            intent=str(data.get("intent", "")),
            focus=str(data.get("focus", "")),
            soft_genres=list(data.get("soft_genres", [])),
            avoid_genres=list(data.get("avoid_genres", [])),
            about=str(data.get("about", "")),
            moods=list(data.get("moods", [])),
        )

    # helpers used by the agent --------------------------------------------
    def like_item(self, ref: ItemRef) -> None:
        self.disliked_items = [r for r in self.disliked_items if r.item_id != ref.item_id]
        if all(r.item_id != ref.item_id for r in self.liked_items):
            self.liked_items.append(ref)

    def dislike_item(self, ref: ItemRef) -> None:
        self.liked_items = [r for r in self.liked_items if r.item_id != ref.item_id]
        if all(r.item_id != ref.item_id for r in self.disliked_items):
            self.disliked_items.append(ref)


def add_unique(values: list[str], new: list[str], limit: int = 12) -> list[str]:
    """``values`` + the case-insensitively new ``new`` ones, keeping the last ``limit``."""
    seen = {v.lower() for v in values}
    out = list(values)
    for v in new:
        if v and v.lower() not in seen:
            out.append(v)
            seen.add(v.lower())
    return out[-limit:]


def _join(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
