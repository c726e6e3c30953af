"""Facts a person asks for in so many words, read exactly: length ("under 90 minutes", "short",
"over three hours"), certificate ("nothing R-rated", "PG for my 10 year old"), Oscars ("an
Oscar winner", "won several Oscars", "Oscar-nominated"), language and country ("a French film",
"a British comedy", "something from Hong Kong", "not in English") and acclaim ("the critics
loved", "a hidden gem", "one of the highest rated"). Each becomes a hard filter on a fact field
of :mod:`retrieval.enrichment` (``runtime_min``, ``certificate``, ``oscars_won``,
``oscar_nominations``, ``primary_language``, ``country``) or an acclaim rule
(:mod:`agent.ranking.acclaim`); a film lacking the fact does not pass.

The phrase meanings are the stated rules of the free-form suite (``eval/freeform_suite.json``):
short <= 95 min, long >= 140, "under N" < N, "N max" / "no longer than N" <= N, "over N" > N;
several Oscars >= 3, a lot >= 5; a child's film G or PG; "a French film" = in French (its
``primary_language``), "a British film" = made in the United Kingdom (among its ``country`` list).
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
_LONG = re.compile(r"\b(long\s+(?:[\w-]+\s+){0,2}?(?:movie|film|epic)s?|an epic|whole evening|epic length)\b")
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
_MANY_NOMS = re.compile(r"\bnominated\s+for\s+(?:several|many|multiple|lots of|a lot of|numerous)\s+(?:oscars|academy awards)\b|"
                        r"\b(?:several|many|multiple|lots of|a lot of|numerous)\s+(?:oscar\s+|academy award\s+)?nominations\b")
_AT_LEAST_NOMS = re.compile(r"\b(?:at least|more than|over)\s+(\d+)\s+(?:oscar\s+)?nominations\b")

#: Adjective or name -> the ``primary_language`` values it allows ("a French film", "in Spanish").
LANGUAGES: dict[str, tuple[str, ...]] = {
    "french": ("French",), "italian": ("Italian",), "german": ("German",), "spanish": ("Spanish",),
    "japanese": ("Japanese",), "chinese": ("Mandarin", "Cantonese", "Chinese", "Standard Chinese", "Putonghua"),
    "mandarin": ("Mandarin", "Standard Chinese", "Putonghua"), "cantonese": ("Cantonese",), "korean": ("Korean",),
    "russian": ("Russian",), "swedish": ("Swedish",), "danish": ("Danish",), "norwegian": ("Norwegian",),
    "dutch": ("Dutch",), "portuguese": ("Portuguese",), "persian": ("Persian",), "farsi": ("Persian",),
    "hindi": ("Hindi",), "arabic": ("Arabic",), "czech": ("Czech",), "polish": ("Polish",), "greek": ("Greek",),
    "hungarian": ("Hungarian",), "hebrew": ("Hebrew",), "turkish": ("Turkish",), "finnish": ("Finnish",)}
#: Adjective or name -> the production country ("a British comedy", "from Hong Kong").
COUNTRIES: dict[str, str] = {
    "british": "United Kingdom", "english-made": "United Kingdom", "uk": "United Kingdom", "u.k.": "United Kingdom",
    "united kingdom": "United Kingdom", "britain": "United Kingdom", "england": "United Kingdom",
    "hong kong": "Hong Kong", "australian": "Australia", "australia": "Australia", "canadian": "Canada",
    "canada": "Canada", "irish": "Ireland", "ireland": "Ireland", "new zealand": "New Zealand", "kiwi": "New Zealand",
    "scottish": "United Kingdom", "scotland": "United Kingdom", "mexican": "Mexico", "mexico": "Mexico",
    "indian": "India", "india": "India", "bollywood": "India", "american": "United States", "hollywood": "United States",
    "france": "France", "italy": "Italy", "germany": "Germany", "spain": "Spain", "japan": "Japan", "china": "People's Republic of China",
    "south african": "South Africa", "belgian": "Belgium", "swiss": "Switzerland"}
#: Country names said with "the" ("from the United Kingdom").
_WITH_THE = frozenset({"United Kingdom", "United States", "Netherlands", "Soviet Union", "Czech Republic",
                       "People's Republic of China", "Philippines"})


def country_phrase(country: str) -> str:
    """``"the United Kingdom"``, ``"France"``: a country as it reads after "from"."""
    return f"the {country}" if country in _WITH_THE else country


_LANGUAGE_WORDS = "|".join(sorted(map(re.escape, LANGUAGES), key=len, reverse=True))
_COUNTRY_WORDS = "|".join(sorted(map(re.escape, COUNTRIES), key=len, reverse=True))
_NOT_ENGLISH = re.compile(r"\b(?:not|nothing|no)\s+in\s+english\b|\bnon[- ]english\b|\bforeign(?:[- ]language)?\b|"
                          r"\bsubtitled\b|\bwith subtitles\b")
# "a French film", "in Spanish", "Spanish-language", "something Japanese" (an adjective before a film
# word, after "in", before "-language", or closing "something ...")
_LANGUAGE = re.compile(rf"\b(?:in\s+(?P<in>{_LANGUAGE_WORDS})\b|(?P<lang>{_LANGUAGE_WORDS})(?:[- ]language)?"
                       rf"(?=\s+(?:[\w'-]+\s+){{0,2}}?(?:films?|movies?|cinema|comed(?:y|ies)|dramas?|thrillers?|"
                       rf"classics?|horror|animation|anime|westerns?|romance|picture|flicks?)\b|[- ]language\b)|"
                       rf"\bsomething\s+(?P<some>{_LANGUAGE_WORDS})\b)")
_COUNTRY = re.compile(rf"\b(?:from|made in|set and made in|produced in)\s+(?:the\s+)?(?P<from>{_COUNTRY_WORDS})\b|"
                      rf"(?<![\w-])(?P<adj>{_COUNTRY_WORDS})(?=\s+(?:[\w'-]+\s+){{0,2}}?(?:films?|movies?|cinema|"
                      rf"comed(?:y|ies)|dramas?|thrillers?|classics?|horror|westerns?|romance|picture|flicks?|"
                      rf"production)\b)|\bsomething\s+(?P<some>{_COUNTRY_WORDS})\b")

#: Acclaim phrases -> the rule of :mod:`agent.ranking.acclaim` (the free-form suite's stated rules).
_UNDERRATED = re.compile(r"\b(?:underrated|under-rated|hidden gems?|little[- ]known|lesser[- ]known|obscure|"
                         r"overlooked|under the radar|(?:probably\s+)?never heard of|not (?:very )?well[- ]known|"
                         r"unknown gems?|forgotten (?:gems?|classics?)|undiscovered|off the beaten track|underseen|"
                         r"under-seen|slipped under)\b")
_CRITICS = re.compile(r"\b(?:critics?'?\s+(?:loved|love|liked|adored|praised|favou?rites?|picks?|darling)|"
                      r"critically[- ](?:acclaimed|praised|lauded)|(?<!un)acclaimed|rave reviews|great reviews|"
                      r"good reviews|well[- ]reviewed|(?:loved|praised) by (?:the )?critics|certified fresh|"
                      r"high(?:ly)? (?:on )?(?:rotten tomatoes|metacritic))\b")
_TOP_RATED = re.compile(r"\b(?:(?:the\s+)?(?:highest|best|top)[- ]rated|highly[- ]rated|all[- ]time greats?|"
                        r"best (?:films?|movies?) (?:ever|of all time)|greatest (?:films?|movies?)|of all time|"
                        r"masterpieces?|rated (?:very )?highly)\b")

#: Certificates allowed for "nothing R-rated" and for children (MPAA, with the old GP/M as PG).
UP_TO_PG13 = ("G", "PG", "GP", "M", "M/PG", "PG-13")
UP_TO_PG = ("G", "PG", "GP", "M", "M/PG")


@dataclass
class Facets:
    """What was read: inclusive ranges, allowed certificates, the spans read (start, end)."""

    ranges: dict[str, Range] = field(default_factory=dict)
    one_of: dict[str, tuple[str, ...]] = field(default_factory=dict)
    none_of: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    acclaim: str | None = None
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
        elif m := _MANY_NOMS.search(low):  # "nominated for lots of Oscars": nominations, not wins
            out.ranges["oscar_nominations"] = (5 if "lot" in m.group(0) else 3, None)
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
    _read_origin(low, out)
    _read_acclaim(low, out)
    return out


_NO_SUBTITLES = re.compile(r"\b(?:no|without|nothing\s+with|don'?t\s+want)\s+subtitles\b|\bnot\s+subtitled\b|"
                           r"\bin\s+english\b|\benglish[- ]language\b")


def _read_origin(low: str, out: Facets) -> None:
    """Language ("a French film", "not in English", "no subtitles" = in English) and country
    ("a British comedy")."""
    for m in _NOT_ENGLISH.finditer(low):
        out.none_of["primary_language"] = ("English",)
        out.spans.append(m.span())
    if "primary_language" not in out.none_of and (m := _NO_SUBTITLES.search(low)):
        out.one_of["primary_language"] = ("English",)
        out.spans.append(m.span())
    if m := _COUNTRY.search(low):
        out.fields["country"] = COUNTRIES[m.group("from") or m.group("adj") or m.group("some")]
        out.spans.append(m.span("from") if m.group("from") else m.span())
    elif m := _LANGUAGE.search(low):
        out.one_of["primary_language"] = LANGUAGES[m.group("in") or m.group("lang") or m.group("some")]
        out.spans.append(m.span())


def _read_acclaim(low: str, out: Facets) -> None:
    """One acclaim rule, obscurity first ("little-known but highly rated" = underrated); every
    acclaim phrase of the message is read (its span kept out of the retrieval text)."""
    for name, pattern in (("underrated", _UNDERRATED), ("critics", _CRITICS), ("top_rated", _TOP_RATED)):
        for m in pattern.finditer(low):
            out.acclaim = out.acclaim or name
            out.spans.append(m.span())
    if out.acclaim:  # "an underrated gem", "a forgotten classic": the noun belongs to the phrase
        out.spans += [m.span() for m in re.finditer(r"\b(?:gems?|classics?)\b", low)]
    if out.acclaim == "underrated":  # "... that's actually good": the quality half of the same wish
        out.spans += [m.span() for m in re.finditer(r"\b(?:(?:that'?s|but|yet)\s+)?(?:actually|really|still)\s+good\b", low)]
