"""How a turn changes the interest profile: pure functions, no model and no index.

- :func:`apply_extraction` folds what one message said (an :class:`Extraction`) into the profile.
  Rules: a new genre list replaces the old one; exclusions accumulate; a stated year range
  replaces the old one; "older"/"newer" move the bound past the median year of the last list;
  "more like the second one" adds that shown item as a liked item; a recommend-intent message
  becomes the profile's intent.
- :func:`edited_profile` validates the person's own corrections (the profile form) against the
  catalog and returns the new profile (ValueError names what is wrong).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any

from agent.profile import YEAR_HI, YEAR_LO, InterestProfile, ItemRef, add_unique
from agent.understand import Extraction, Vocabulary
from retrieval.items import Item

#: ``ids -> {id: Item}`` for the ids that are in the catalog.
ItemLookup = Callable[[list[str]], Mapping[str, Item]]

_LABEL_YEAR = re.compile(r"\((\d{4})\)\s*$")


def label_year(label: str) -> int | None:
    """The year of a "Title (Year)" label, or None."""
    m = _LABEL_YEAR.search(label)
    return int(m.group(1)) if m else None


def apply_extraction(profile: InterestProfile, titles: MutableMapping[str, str], ex: Extraction, message: str,
                     shown: Sequence[ItemRef]) -> None:
    """Fold ``ex`` (read from ``message``) into ``profile`` in place; hard constraints persist
    across turns. ``titles`` (id -> "Title (Year)") learns the items the message named; ``shown``
    is the last list, in order (for "older", "newer" and "the second one")."""
    p, c = profile, profile.constraints
    for r in ex.liked_items:
        p.like_item(r)
        titles[r.item_id] = r.title
    for r in ex.disliked_items:
        p.dislike_item(r)
        titles[r.item_id] = r.title
    disliked_now = {d.lower() for d in ex.disliked_attributes}
    p.liked_attributes = [a for a in add_unique(p.liked_attributes, ex.liked_attributes) if a.lower() not in disliked_now]
    p.disliked_attributes = add_unique(p.disliked_attributes, ex.disliked_attributes)
    p.soft = add_unique(p.soft, ex.soft)
    if ex.genres:
        c.genres = list(ex.genres)
        c.exclude_genres = [g for g in c.exclude_genres if g not in ex.genres]
    c.exclude_genres += [g for g in dict.fromkeys(ex.exclude_genres) if g not in c.exclude_genres]
    c.genres = [g for g in c.genres if g not in c.exclude_genres]
    if ex.year_min is not None or ex.year_max is not None:
        c.year_min, c.year_max = ex.year_min, ex.year_max
    c.fields.update(ex.fields)
    if ex.refine and shown:
        _shift_years(profile, ex.refine, (label_year(titles.get(r.item_id, "")) for r in shown))
    if ex.refers_to and ex.intent == "refine" and shown:
        r = shown[ex.refers_to - 1]
        p.like_item(ItemRef(r.item_id, r.title, f"more like #{ex.refers_to}", 100.0))
    if ex.intent == "recommend" and message:
        p.intent = message[:300]
        p.focus = ex.focus[:300]


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
