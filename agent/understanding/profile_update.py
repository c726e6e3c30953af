"""How a turn changes the interest profile: pure functions, no model and no index.

- :func:`apply_extraction` folds what one message said (an :class:`Extraction`) into the profile;
  its docstring states when a message keeps or drops the constraints of earlier requests.
- :func:`edited_profile` validates the person's own corrections (the profile form) against the
  catalog and returns the new profile (ValueError names what is wrong).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any

from agent.understanding.extraction import Extraction
from agent.understanding.lexicon import SOFT_GENRE_WORDS
from agent.understanding.profile import YEAR_HI, YEAR_LO, Constraints, InterestProfile, ItemRef, add_unique
from agent.understanding.vocabulary import Vocabulary
from retrieval.items import Item

#: ``ids -> {id: Item}`` for the ids that are in the catalog.
ItemLookup = Callable[[list[str]], Mapping[str, Item]]

_LABEL_YEAR = re.compile(r"\((\d{4})\)\s*$")


def label_year(label: str) -> int | None:
    """The year of a "Title (Year)" label, or None."""
    m = _LABEL_YEAR.search(label)
    return int(m.group(1)) if m else None


def apply_extraction(profile: InterestProfile, titles: MutableMapping[str, str], ex: Extraction, message: str,
                     shown: Sequence[ItemRef]) -> list[str]:
    """Fold ``ex`` (read from ``message``) into ``profile`` in place. Returns the earlier
    constraints that a new request dropped without stating a replacement of the same kind, in
    words (``Constraints.describe`` form, e.g. ``["from 1990 to 1999", "no Horror"]``; empty for
    a follow-up, whose changes the person stated), so the reply can say what no longer holds.
    ``titles`` (id -> "Title (Year)") learns the items the message named; ``shown`` is the last
    list, in order (for "older", "newer" and "the second one").

    **Keep or drop** (the hard constraints: genres, years, excluded genres, catalog fields):

    * A **new request** - intent "recommend", not a follow-up (``ex.follow_up`` False: no "also",
      "it should", "what about", "make it", "instead", ...), and stating what it wants on its own
      (``ex.states_request()``: genres, an audience, a period or a liked reference) - starts
      over: its genres, years, exclusions and fields replace the old ones, and any old one it
      does not restate is dropped. "a funny animated movie for kids" after "a 90s thriller, not
      horror" keeps neither the 90s nor "no Horror".
    * Anything else is a **follow-up** and keeps every standing constraint, changing only what
      it states: a genre list replaces the genres (and lifts their exclusions), exclusions
      accumulate ("no comedy please"), a two-sided year range replaces the years, a one-sided
      bound replaces its side and keeps the other where the range stays non-empty ("also
      nothing before 1995" after the 90s = 1995-1999), "older"/"newer" move a bound past the
      median year of the last list (:func:`_shift_years`), fields are added.

    Taste is never dropped: liked and disliked items and attributes accumulate across requests
    (a disliked attribute removes the same liked one), except mood words that wish for a genre
    ("funny", "scary", ...: :data:`agent.understanding.lexicon.SOFT_GENRE_WORDS`): like a genre list, a new
    one replaces the standing ones ("something scary instead" after "something funny"). "more
    like the second one" likes that shown item; a recommend-intent message becomes the profile's
    intent and focus. A question about a shown pick changes nothing ("can my 8 year old watch
    it?" is not a request for children's films)."""
    if ex.intent == "question" and shown:
        return []  # a question about a shown pick ("is Tom Hanks in it?") asks, it does not change the request
    p, c = profile, profile.constraints
    dropped: list[str] = []
    if ex.intent == "recommend" and not ex.follow_up and ex.states_request():  # a new request: start over
        years_stated = ex.year_min is not None or ex.year_max is not None
        dropped = Constraints(  # what no longer holds and was not replaced by something stated
            year_min=None if years_stated else c.year_min, year_max=None if years_stated else c.year_max,
            genres=[] if ex.genres else list(c.genres), genres_any=[] if ex.genres_any else list(c.genres_any),
            exclude_genres=[g for g in c.exclude_genres if g not in ex.exclude_genres],
            fields={k: v for k, v in c.fields.items() if k not in ex.fields},
            ranges={k: v for k, v in c.ranges.items() if k not in ex.ranges},
            one_of={k: v for k, v in c.one_of.items() if k not in ex.one_of},
            none_of={k: v for k, v in c.none_of.items() if k not in ex.none_of},
            acclaim=None if ex.acclaim else c.acclaim).describe()
        c.genres, c.genres_any, c.exclude_genres, c.fields, c.ranges, c.one_of = [], [], [], {}, {}, {}
        c.none_of, c.acclaim = {}, None
        # a mood word ("funny", "feel-good") wished for the last request, not a lasting taste
        p.liked_attributes = [a for a in p.liked_attributes if a not in SOFT_GENRE_WORDS]
        c.year_min = c.year_max = None
    for r in ex.liked_items:
        p.like_item(r)
        titles[r.item_id] = r.title
    for r in ex.disliked_items:
        p.dislike_item(r)
        titles[r.item_id] = r.title
    disliked_now = {d.lower() for d in ex.disliked_attributes}
    if any(a in SOFT_GENRE_WORDS for a in ex.liked_attributes):
        p.liked_attributes = [a for a in p.liked_attributes if a not in SOFT_GENRE_WORDS]
    p.liked_attributes = [a for a in add_unique(p.liked_attributes, ex.liked_attributes) if a.lower() not in disliked_now]
    p.disliked_attributes = add_unique(p.disliked_attributes, ex.disliked_attributes)
    p.soft = add_unique(p.soft, ex.soft)
    c.ranges.update({k: list(v) for k, v in ex.ranges.items()})
    c.one_of.update({k: list(v) for k, v in ex.one_of.items()})
    c.none_of.update({k: list(v) for k, v in ex.none_of.items()})
    c.acclaim = ex.acclaim or c.acclaim
    if ex.moods and ex.follow_up:  # "and nothing violent" after "a date night film": the moods add up
        p.moods = add_unique(p.moods, ex.moods)
    elif ex.moods or (ex.intent == "recommend" and not ex.follow_up and ex.states_request()):
        p.moods = list(ex.moods)  # a new ask: its moods (none: the last ask's are dropped)
    if ex.about or ex.soft_genres or ex.avoid_genres or (ex.intent == "recommend" and not ex.follow_up):
        # the wish reading describes the current ask: a new reading (or a new ask) replaces it
        p.soft_genres, p.avoid_genres, p.about = list(ex.soft_genres), list(ex.avoid_genres), ex.about
    if ex.genres:
        c.genres = list(dict.fromkeys(ex.genres))
        c.exclude_genres = [g for g in c.exclude_genres if g not in ex.genres]
    c.exclude_genres += [g for g in dict.fromkeys(ex.exclude_genres) if g not in c.exclude_genres]
    c.genres = [g for g in c.genres if g not in c.exclude_genres]
    if ex.genres_any:
        c.genres_any = list(dict.fromkeys(ex.genres_any))
    c.genres_any = [g for g in c.genres_any if g not in c.exclude_genres]
    if len(c.genres_any) < 2 or set(c.genres_any) & set(c.genres):
        c.genres_any = []  # "either" of one option, or one already required: nothing left to choose
    if ex.year_min is not None and ex.year_max is not None:
        c.year_min, c.year_max = ex.year_min, ex.year_max
    elif ex.year_min is not None:  # one side: keep the other where the range stays non-empty
        c.year_min = ex.year_min
        if c.year_max is not None and c.year_max < ex.year_min:
            c.year_max = None
    elif ex.year_max is not None:
        c.year_max = ex.year_max
        if c.year_min is not None and c.year_min > ex.year_max:
            c.year_min = None
    c.fields.update(ex.fields)
    if ex.refine and shown:
        _shift_years(profile, ex.refine, (label_year(titles.get(r.item_id, "")) for r in shown))
    if ex.refers_to and ex.intent == "refine" and shown:
        r = shown[ex.refers_to - 1]
        p.like_item(ItemRef(r.item_id, r.title, f"more like #{ex.refers_to}", 100.0))
    if ex.intent == "recommend" and message:
        p.intent = message[:300]
        p.focus = ex.focus[:300]
    return dropped


def _shift_years(profile: InterestProfile, direction: str, years: Iterable[int | None]) -> None:
    """"older": films before the median year of the last list; "newer": after it. A bound on
    the other side that would empty the range moves to keep a 10-year window."""
    known = sorted(y for y in years if y)
    if not known:
        return
    c = profile.constraints
    mid = known[len(known) // 2]
    if direction == "older":
        c.year_max = mid - 1
        if c.year_min is not None and c.year_min > c.year_max:
            c.year_min = c.year_max - 9
    else:
        c.year_min = mid + 1
        if c.year_max is not None and c.year_max < c.year_min:
            c.year_max = c.year_min + 9


def edited_profile(profile: InterestProfile, edits: Mapping[str, Any], vocab: Vocabulary,
                   lookup: ItemLookup) -> InterestProfile:
    """A copy of ``profile`` with the person's corrections (keys of ``profile.to_form()``;
    absent keys are kept). Unknown genres, items not in the catalog, years outside
    ``YEAR_LO..YEAR_HI`` or ``year_min > year_max`` raise ValueError."""
    new = InterestProfile.from_dict(profile.to_dict())
    c = new.constraints
    for key in ("genres", "exclude_genres"):
        if key in edits:
            setattr(c, key, list(dict.fromkeys(_canonical_genre(vocab, g) for g in edits[key] or [])))
    for key in ("year_min", "year_max"):
        if key in edits:
            setattr(c, key, _year_or_none(key, edits[key]))
    if c.year_min is not None and c.year_max is not None and c.year_min > c.year_max:
        raise ValueError("year_min is after year_max")
    if "fields" in edits:
        c.fields = {str(k): v for k, v in (edits["fields"] or {}).items() if v not in (None, "")}
    if "wishes" in edits:  # the fact wishes the person kept (a removed one is dropped; none can be added here)
        c.keep_wishes({str(k) for k in edits["wishes"] or []})
    for key in ("liked_items", "disliked_items"):
        if key in edits:
            ids = [str(i) for i in edits[key] or []]
            found = lookup(ids)
            missing = [i for i in ids if i not in found]
            if missing:
                raise ValueError(f"not in the catalog: {missing}")
            old = {r.item_id: r for r in getattr(profile, key)}
            setattr(new, key, [old.get(i) or ItemRef(i, found[i].label, "", 100.0)
                               for i in ids])
    for key in ("liked_attributes", "disliked_attributes", "soft"):
        if key in edits:
            setattr(new, key, [str(v).strip()[:80] for v in edits[key] or [] if str(v).strip()])
    if "moods" in edits:  # the moods the person kept (a removed one no longer leans the ranking)
        kept = {str(m) for m in edits["moods"] or []}
        new.moods = [m for m in new.moods if m in kept]
    if "intent" in edits:
        new.intent = str(edits["intent"] or "")[:300]
    c.genres = [g for g in c.genres if g not in c.exclude_genres]
    return new


def _canonical_genre(vocab: Vocabulary, genre: object) -> str:
    canon = vocab.genre(str(genre))
    if canon is None:
        raise ValueError(f"unknown genre {genre!r}; the catalog has: {', '.join(vocab.genres)}")
    return canon


def _year_or_none(key: str, value: object) -> int | None:
    if value in (None, ""):
        return None
    try:
        year = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a year, got {value!r}") from None
    if not YEAR_LO <= year <= YEAR_HI:
        raise ValueError(f"{key} must be a year between {YEAR_LO} and {YEAR_HI}, got {value!r}")
    return year
