"""Years, decades, periods and open bounds ("the 80s", "early 90s", "before 1980", "nothing after
1970"), negation-aware; :func:`parse_years` for one message."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.understanding.negation import Scope, directly_negated, negation_scopes
from agent.understanding.text import lower_same_length

_Y = r"(1[89]\d\d|20[0-3]\d)"
_DECADE_WORDS = {"twenties": 2, "thirties": 3, "forties": 4, "fifties": 5, "sixties": 6, "seventies": 7,
                 "eighties": 8, "nineties": 9}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12}
_DECADE = re.compile(
    r"(?<![\w'])(?:(early|mid|late)[\s-]*)?(?:(?:(1[89]|20)(\d)0|'?(\d)0)'?s|(" + "|".join(_DECADE_WORDS) + r"))(?![\w])")
_RANGE = re.compile(r"(?<!\d)" + _Y + r"\s*(?:-|\u2013|to|and|through|thru|until|till)\s*" + _Y + r"(?!\d)")
# prefix bounds: keyword then year -> (lower, upper) as a function of the year
_PREFIX_BOUNDS: tuple[tuple[str, Any], ...] = (
    (r"before|prior\s+to|earlier\s+than|older\s+than|pre", lambda y: (None, y - 1)),
    (r"after|later\s+than|newer\s+than|more\s+recent\s+than|post", lambda y: (y + 1, None)),
    (r"since|starting\s+(?:in|from)", lambda y: (y, None)),
    (r"until|till|up\s+(?:to|until|through)|through", lambda y: (None, y)),
)
_PREFIX = re.compile(r"(?<![\w'])(" + "|".join(f"(?:{p})" for p, _ in _PREFIX_BOUNDS) + r")[\s-]+(?:the\s+year\s+)?"
                     + _Y + r"(?!\d)")
_SUFFIX = re.compile(
    r"(?<!\d)" + _Y + r"(?:\s+(?:(or|and)\s+(earlier|before|older|prior|later|after|newer|more\s+recent|beyond|up|onwards?)"
    r"|(on(?:wards?)?|forwards?|at\s+the\s+latest|at\s+the\s+earliest))|(\+))(?![\w])")
_PERIODS: tuple[tuple[re.Pattern[str], int | None, int | None], ...] = (
    (re.compile(r"\bgolden[\s-]+age(?:\s+of\s+(?:hollywood|cinema|film|movies))?\b|\bclassic(?:al)?\s+hollywood\b"), 1930, 1959),
    (re.compile(r"\bsilent(?:[\s-]+(?:era|film|films|movie|movies|picture|pictures|cinema|comed(?:y|ies)|days|age|classics?))+\b"
                r"|\bsilents\b"), None, 1929),
    (re.compile(r"\b(?:(?:made|filmed|shot|released|produced)\s+)?during\s+(?:the\s+)?(?:world\s+war\s+(?:ii|2|two)|"
                r"second\s+world\s+war|ww\s?(?:ii|2))\b"), 1939, 1945),
    (re.compile(r"\b(?:(?:made|filmed|shot|released|produced)\s+)?during\s+(?:the\s+)?(?:world\s+war\s+(?:i|1|one)|"
                r"first\s+world\s+war|ww\s?(?:i|1)|great\s+war)\b"), 1914, 1918),
)
_SINGLE_YEAR = re.compile(r"(?<![\w'])(?:from|in|of|released\s+in|made\s+in)\s+" + _Y
                          + r"(?!\d)(?!\s*(?:-|\u2013|to\b|and\b|or\b|through\b|on\b|onwards?\b|\+))")
_OLDER = re.compile(r"\b(older|earlier|less recent|more classic|not so recent|not so new)\b")
_NEWER = re.compile(r"\b(newer|more recent|more modern|later|less old)\b")


@dataclass
class _Years:
    year_min: int | None = None
    year_max: int | None = None
    refine: Literal["older", "newer"] | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)  # the date phrases (kept out of focus)


def _complement(lo: int | None, hi: int | None) -> tuple[int | None, int | None] | None:
    """The years outside a one-sided bound; None for a two-sided one (not one range)."""
    if lo is not None and hi is None:
        return None, lo - 1
    if hi is not None and lo is None:
        return hi + 1, None
    return None


def _decade_bounds(m: re.Match[str], latest: int | None) -> tuple[int, int]:
    part, century, digit4, digit2, word = m.groups()
    if word:
        start = 1900 + 10 * _DECADE_WORDS[word]
    elif century:
        start = int(century + digit4 + "0")
    else:
        d = int(digit2)
        recent = 2000 + 10 * d
        start = recent if d == 0 or (d <= 3 and latest is not None and latest >= recent) else 1900 + 10 * d
    lo, hi = start, start + 9
    if part == "early":
        hi = start + 4
    elif part == "late":
        lo = start + 5
    elif part == "mid":
        lo, hi = start + 3, start + 7
    return lo, hi


def read_years(low: str, scopes: Sequence[Scope], latest: int | None = None) -> _Years:
    out = _Years()
    m = _RANGE.search(low)
    if m:
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        out.year_min, out.year_max = a, b
        start = m.start()
        between = re.search(r"(?:between|from)\s+$", low[:start])
        out.spans.append((between.start() if between else start, m.end()))
        return out
    bounds: list[tuple[int | None, int | None]] = []
    for m in _PREFIX.finditer(low):
        keyword, year = m.group(1), int(m.group(2))
        for pattern, rule in _PREFIX_BOUNDS:
            if re.fullmatch(pattern, keyword):
                bound = rule(year)
                break
        else:  # pragma: no cover - the alternation is built from the same patterns
            continue
        if directly_negated(low, m.start(), scopes):
            bound = _complement(*bound) or bound
        bounds.append(bound)
        out.spans.append((m.start(), m.end()))
    for m in _SUFFIX.finditer(low):
        year, word = int(m.group(1)), (m.group(3) or m.group(4) or m.group(5) or "")
        upper = re.match(r"earlier|before|older|prior|at\s+the\s+latest", word)
        bounds.append((None, year) if upper else (year, None))
        out.spans.append((m.start(), m.end()))
    ranges: list[tuple[int | None, int | None]] = []
    for m in _DECADE.finditer(low):
        if m.group(5) and re.search(r"\b(?:his|her|their|my|your|our|early|late)\s+$", low[:m.start()]) and not m.group(1):
            continue  # "in her twenties" is an age
        lo, hi = _decade_bounds(m, latest)
        out.spans.append((m.start(), m.end()))
        if directly_negated(low, m.start(), scopes):
            continue  # "nothing from the 80s": not one range; the rest still applies
        ranges.append((lo, hi))
    for pattern, lo, hi in _PERIODS:
        for m in pattern.finditer(low):
            out.spans.append((m.start(), m.end()))
            if directly_negated(low, m.start(), scopes):
                flipped = _complement(lo, hi)
                if flipped:
                    bounds.append(flipped)
            else:
                ranges.append((lo, hi))
    if ranges:  # several decades or periods: the span from the earliest to the latest ("the 80s or 90s")
        los = [r[0] for r in ranges]
        his = [r[1] for r in ranges]
        out.year_min = None if any(v is None for v in los) else min(v for v in los if v is not None)
        out.year_max = None if any(v is None for v in his) else max(v for v in his if v is not None)
    for lo, hi in bounds:  # bounds narrow ("the 90s, but nothing after 1995")
        if lo is not None:
            out.year_min = lo if out.year_min is None else max(out.year_min, lo)
        if hi is not None:
            out.year_max = hi if out.year_max is None else min(out.year_max, hi)
    if out.year_min is not None and out.year_max is not None and out.year_min > out.year_max:
        out.year_min = out.year_max = None  # contradictory: state nothing rather than an empty range
    if ranges or bounds:
        return out
    m = _SINGLE_YEAR.search(low)
    if m and not directly_negated(low, m.start(), scopes):
        out.year_min = out.year_max = int(m.group(1))
        out.spans.append((m.start(), m.end()))
        return out
    if _OLDER.search(low):
        out.refine = "older"
    elif _NEWER.search(low):
        out.refine = "newer"
    return out


def parse_years(text: str, latest: int | None = None) -> tuple[int | None, int | None, Literal["older", "newer"] | None]:
    """(year_min, year_max, refine) from decades ("90s", "1980s", "the eighties", "early 70s",
    "the 80s or 90s"), periods ("golden age of Hollywood", "silent era"), ranges ("between 1980
    and 1990", "1980-1990"), bounds ("before 1980" = up to 1979, "after 2000" = from 2001, "since
    1995", "1990 or later", "up to 1960"), negated bounds ("nothing after 1970" = up to 1970,
    "not older than 1990" = from 1990), one year ("from 1995"), and relative words ("older" /
    "newer"). ``latest``: the catalog's latest year ("the 20s" = the 2020s only when it has them)."""
    low = lower_same_length(text)
    years = read_years(low, negation_scopes(low), latest)
    return years.year_min, years.year_max, years.refine
