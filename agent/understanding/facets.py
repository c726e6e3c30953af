"""Facts a person asks for in so many words, read exactly: length ("under 90 minutes", "short",
"over three hours"), certificate ("nothing R-rated", "PG for my 10 year old") and Oscars ("an
Oscar winner", "won several Oscars", "Oscar-nominated"). Each becomes a hard filter on a fact
field of :mod:`retrieval.enrichment` (``runtime_min``, ``certificate``, ``oscars_won``,
``oscar_nominations``); a film lacking the fact does not pass.

The phrase meanings are the stated rules of the free-form suite (``eval/freeform_suite.json``):
short <= 95 min, long >= 140, "under N" < N, "N max" / "no longer than N" <= N, "over N" > N;
several Oscars >= 3, a lot >= 5; a child's film G or PG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Range = tuple[int | None, int | None]

_NUM_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "an": 1, "a": 1}
_AMOUNT = r"(\d+(?:\.\d+)?|one|two|three|four|five|an|a)(\s+and\s+a\s+half)?"
_UNIT = r"(minutes?|mins?|hours?|hrs?|h)\b"
_LENGTH = re.compile(
    r"\b(?P<cue>under|less than|shorter than|below|at most|no longer than|not longer than|nothing longer than|"
    r"max(?:imum)?|up to|over|more than|longer than|at least|around|about|only have)\s+" + _AMOUNT + r"\s*" + _UNIT
    + r"(?P<half2>\s+and\s+a\s+half)?|\b" + _AMOUNT + r"\s*" + _UNIT + r"\s*(?P<post>max(?:imum)?|or less|or shorter|tops|or more|plus)\b")
_SHORT = re.compile(r"\b(short|quick one|quick film|quick movie)\b(?!\s+(?:story|stories|film festival))")
_LONG = re.compile(r"\b(long movie|long film|an epic|whole evening|epic length)\b")
_AGE = re.compile(r"\b(?:my\s+)?(\d{1,2})[- ]?(?:year|yr)s?[- ]old\b")
_TODDLER = re.compile(r"\b(toddler|preschooler|little ones?)\b")
_NOT_R = re.compile(r"\b(?:nothing|no|not)\s+(?:rated\s+)?r\b(?:[- ]rated)?|\bnothing above pg-13\b|"
                    r"\bpg-13 or (?:below|under|less|lower)\b|\bat most pg-13\b")
_PG_OR_G = re.compile(r"\b(?:rated\s+)?g or pg\b|\bpg or (?:below|under|less|lower|g)\b")
_RATED = re.compile(r"(?<![\w-])(g|pg|pg-13|r|nc-17)(?:[- ]rated)(?![\w-])|\brated\s+(g|pg-13|pg|r|nc-17)(?![\w-])|"
                    r"(?<![\w-])(pg-13|pg)(?![\w-])")
_OSCAR = re.compile(r"\b(?:oscars?|academy awards?)\b")
_WON_MANY = re.compile(r"\b(?:several|many|multiple|lots of|a lot of|numerous)\s+(?:oscars|academy awards)\b")
_NOMINATED = re.compile(r"\b(?:oscar|academy award)[- ]nominated\b|\bnominated for\b")
_WON = re.compile(r"\b(?:oscar|academy award)[- ]winn(?:er|ing)\b|\bwon\s+(?:an?|the)?\s*(?:oscar|academy award)|"
                  r"\baward[- ]winning\b|\bwinners?\s+of\s+(?:an?\s+)?(?:oscar|academy award)")
_AT_LEAST_NOMS = re.compile(r"\b(?:at least|more than|over)\s+(\d+)\s+(?:oscar\s+)?nominations\b")

#: Certificates allowed for "nothing R-rated" and for children (MPAA, with the old GP/M as PG).
UP_TO_PG13 = ("G", "PG", "GP", "M", "M/PG", "PG-13")
UP_TO_PG = ("G", "PG", "GP", "M", "M/PG")


@dataclass
class Facets:
    """What was read: inclusive ranges, allowed certificates, the spans read (start, end)."""

    ranges: dict[str, Range] = field(default_factory=dict)
    one_of: dict[str, tuple[str, ...]] = field(default_factory=dict)
    spans: list[tuple[int, int]] = field(default_factory=list)


def _minutes(amount: str, half: str | None, unit: str) -> float:
    value = float(_NUM_WORDS.get(amount, amount) if not amount.replace(".", "").isdigit() else amount)
    if half:
        value += 0.5
    return value * 60 if unit.startswith("h") else value


def read_facets(low: str) -> Facets:
    """Read ``low`` (the lower-cased message, negated spans NOT masked: "nothing longer than"
    is itself the phrase)."""
    out = Facets()
    m = _LENGTH.search(low)
    if m:
        cue = m.group("cue") or m.group("post")
        amount, half, unit = (m.group(2), m.group(3) or m.group("half2"), m.group(4)) if m.group("cue") else \
            (m.group(6), m.group(7), m.group(8))
        n = round(_minutes(amount, half, unit))
        if cue in ("under", "less than", "shorter than", "below"):
            out.ranges["runtime_min"] = (None, n - 1)
        elif cue in ("over", "more than", "longer than"):
            out.ranges["runtime_min"] = (n + 1, None)
        elif cue in ("at least", "or more", "plus"):
            out.ranges["runtime_min"] = (n, None)
        elif cue in ("around", "about"):
            out.ranges["runtime_min"] = (n - 10, n + 10)
        else:  # at most, no longer than, max, up to, only have, tops, or less
            out.ranges["runtime_min"] = (None, n)
        out.spans.append(m.span())
    elif m := _SHORT.search(low):
        out.ranges["runtime_min"] = (None, 95)
        out.spans.append(m.span())
    elif m := _LONG.search(low):
        out.ranges["runtime_min"] = (140, None)
        out.spans.append(m.span())
    certificate, audience = None, False  # an age or a toddler is also read as an audience: its span stays
    if m := _NOT_R.search(low):
        certificate = UP_TO_PG13
    elif m := _PG_OR_G.search(low):
        certificate = UP_TO_PG
    elif m := _TODDLER.search(low):
        certificate, audience = ("G",) if re.search(r"\bg[- ]rated\b", low) else UP_TO_PG, True
    elif m := _AGE.search(low):
        certificate, audience = UP_TO_PG if int(m.group(1)) < 13 else UP_TO_PG13 if int(m.group(1)) < 17 else None, True
    elif m := _RATED.search(low):
        rated = (m.group(1) or m.group(2) or m.group(3)).upper()
        certificate = ("PG", "GP", "M", "M/PG") if rated == "PG" else (rated,)
    if certificate and m:
        out.one_of["certificate"] = certificate
        if not audience:
            out.spans.append(m.span())
    if audience and (rated := re.search(r"\b(?:g|pg|pg-13)[- ]rated\b|(?<![\w-])(?:pg-13|pg)(?![\w-])", low)):
        out.spans.append(rated.span())
    if _OSCAR.search(low) or re.search(r"\baward[- ]winning\b", low):
        if m := _AT_LEAST_NOMS.search(low):
            out.ranges["oscar_nominations"] = (int(m.group(1)), None)
            out.spans.append(m.span())
        elif m := _WON_MANY.search(low):
            out.ranges["oscars_won"] = (5 if "lot" in m.group(0) else 3, None)
            out.spans.append(m.span())
        elif m := _WON.search(low):
            out.ranges["oscars_won"] = (1, None)
            out.spans.append(m.span())
        elif m := _NOMINATED.search(low):
            out.ranges["oscar_nominations"] = (1, None)
            out.spans.append(m.span())
        if re.search(r"\bwon none\b|\bwithout winning\b|\bnever won\b", low):
            out.ranges["oscars_won"] = (0, 0)
    return out
