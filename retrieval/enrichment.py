"""Film facts for catalog items, joined from the packaged sources of :mod:`retrieval.fact_sources`.

Matching (per source): an item's keys are its normalised title, its main title (before " ("),
each parenthesised alternative title, each also without a leading article; a record's keys are
its title and alternative titles the same way. The exact year is tried first, then year +- 1
(both sides at once). A match needs exactly ONE record of the source at the first year step that
has any: two different records (a remake, two films sharing a title) make the item *ambiguous*
and it gets nothing from that source. An item without a year gets nothing.

Records without a year (the CMU plot summaries) match on the title alone, and only when it is
safe by a stated rule (:func:`title_only_fits`): no other catalog item and no other record of
the source shares a key, the record's genres share one with the item's (a non-Drama one when the
item has any), and its hints do not contradict the item (a short or silent film for a film of
1930 or later, black-and-white for 1968 or later, "world cinema" for an English-language film).
Checked on the 162 such matches that also have a TMDB overview: 135 pass, 4 of them are another
film of the same title (docs/assets.md).

Merging: each fact comes from the first source in :data:`FIELD_PRIORITY` (else
:data:`retrieval.fact_sources.SOURCES` order) that has it; the item's own ``extra`` wins over all.

``Item.extra`` names (only when known): ``director``, ``writer`` (at most 4), ``cast`` (the FULL
cast: billing order from TMDB 5000 where matched, else bokeh's alphabetical list re-ordered by
prominence: first the number of TMDB 5000 films (any, matched or not) that bill the person in
the first :data:`LEAD_BILLING` places, then the summed rating counts of the person's catalog
films, then the name),
``country``, ``language``, ``original_language`` (ISO 639-1 code), ``runtime_min`` (int, minutes),
``certificate`` (MPAA: G, PG, PG-13, R, NC-17 and the older GP, M, M/PG, X), ``oscars_won`` and
``oscar_nominations`` (ints, from the OMDb awards text), ``awards`` (that text), ``metacritic``
(0-100), ``rt_meter`` (Rotten Tomatoes meter, 0-100), ``imdb_rating`` (1-10) and ``imdb_votes``
(ggplot2movies, IMDb as of 2005), ``overview``, ``tagline``, ``keywords`` (TMDB), and the derived
``primary_language`` (:func:`primary_language`: what "a French film" and "not in English" filter on).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from retrieval.assets import AssetError
from retrieval.fact_sources import SOURCES, FilmRecord, read_source
from retrieval.items import Item
from retrieval.titles import normalise_title

INSTALL_HINT = "pip install bokeh-sampledata==2026.1"
_LEADING_ARTICLE = re.compile(r"^(the|a|an|il|la|le|les|l|el|los|las|das|der|die|de|un|une)\s+")

FIELD_PRIORITY: dict[str, tuple[str, ...]] = {
    "cast": ("tmdb5000", "bokeh"),
    "director": ("bokeh", "tmdb5000"),
    "writer": ("bokeh", "tmdb5000"),
    "overview": ("tmdb5000", "movienight", "wikilead", "cmuplots"),
    "certificate": ("bokeh", "ggplot2movies"),
    "runtime_min": ("bokeh", "tmdb5000", "ggplot2movies"),
}
"""Which source a fact is taken from first, where several hold it."""

BILLED_SOURCES = ("tmdb5000",)
"""Sources whose cast lists are in billing order."""
LEAD_BILLING = 3
"""A person billed in the first this-many places of a billed source's film counts as a lead there."""

#: ISO 639-1 codes of the sources' ``original_language`` -> the language names of ``language``
#: (TMDB writes "cn" for Cantonese, "zh" for Mandarin; "xx" = no language).
LANGUAGE_NAMES = {"en": "English", "fr": "French", "de": "German", "it": "Italian", "ja": "Japanese",
                  "es": "Spanish", "cn": "Cantonese", "zh": "Mandarin", "nl": "Dutch", "fa": "Persian",
                  "pt": "Portuguese", "da": "Danish", "ru": "Russian", "ko": "Korean", "sv": "Swedish",
                  "hi": "Hindi", "no": "Norwegian", "pl": "Polish", "cs": "Czech", "hu": "Hungarian",
                  "he": "Hebrew", "ar": "Arabic", "el": "Greek", "tr": "Turkish", "fi": "Finnish", "th": "Thai"}


#: Production country -> its main language, to pick a film's language from a list of several
#: ("German, Italian" for Life Is Beautiful, made in Italy: Italian).
COUNTRY_LANGUAGES = {"France": "French", "Belgium": "French", "Italy": "Italian", "Germany": "German",
                     "West Germany": "German", "East Germany": "German", "Austria": "German", "Spain": "Spanish",
                     "Mexico": "Spanish", "Argentina": "Spanish", "Japan": "Japanese", "Hong Kong": "Cantonese",
                     "People's Republic of China": "Mandarin", "Taiwan": "Mandarin", "Sweden": "Swedish",
                     "Denmark": "Danish", "Norway": "Norwegian", "Russia": "Russian", "Soviet Union": "Russian",
                     "Iran": "Persian", "Brazil": "Portuguese", "Portugal": "Portuguese", "South Korea": "Korean",
                     "India": "Hindi", "Netherlands": "Dutch", "Poland": "Polish", "Czech Republic": "Czech",
                     "Hungary": "Hungarian", "Greece": "Greek", "Israel": "Hebrew", "Finland": "Finnish"}


def primary_language(facts: Mapping[str, object]) -> str | None:
    """The language a film is *in*, by a stated rule (the free-form suite's): its original
    language where a source gives one; else, from its list of spoken languages, English when
    English is among them, else the first listed language that is the main language of one of
    its production countries, else the first listed (OMDb lists the main language first); None
    when neither is known or the code has no name here."""
    code = facts.get("original_language")
    if isinstance(code, str) and code:
        return LANGUAGE_NAMES.get(code.lower())
    spoken = facts.get("language")
    if isinstance(spoken, list) and spoken:
        if "English" in spoken:
            return "English"
        countries = facts.get("country")
        local = {COUNTRY_LANGUAGES.get(c) for c in countries} if isinstance(countries, list) else set()
        return next((str(lang) for lang in spoken if lang in local), str(spoken[0]))
    return None


COVERED_FACTS = ("cast", "director", "runtime_min", "certificate", "oscar_nominations", "metacritic", "rt_meter",
                 "imdb_rating", "overview", "tagline", "keywords")
"""The facts whose coverage :class:`EnrichmentReport` lists."""


@dataclass(frozen=True)
class Coverage:
    """How many items (and what share of the rating weight, in [0, 1]) have something."""

    films: int
    rating_share: float


@dataclass
class EnrichmentReport:
    """What enrichment matched: per source (with ambiguous and year +- 1 counts) and per fact."""

    items: int
    matched: int = 0
    sources: dict[str, Coverage] = field(default_factory=dict)
    ambiguous: dict[str, int] = field(default_factory=dict)
    off_by_one_year: dict[str, int] = field(default_factory=dict)
    facts: dict[str, Coverage] = field(default_factory=dict)
    missing_sources: dict[str, str] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.matched / self.items if self.items else 0.0

    def lines(self) -> list[str]:
        """Human-readable coverage, one line per source and one for the facts."""
        out = [f"facts for {self.matched:,} of {self.items:,} items ({self.rate:.1%})"]
        for name, cov in self.sources.items():
            out.append(f"  {name} ({SOURCES[name].requirement}): {cov.films:,} films, {cov.rating_share:.1%} of ratings"
                       f" ({self.off_by_one_year.get(name, 0)} with year +-1, {self.ambiguous.get(name, 0)} ambiguous"
                       " left out)")
        for name, why in self.missing_sources.items():
            out.append(f"  {name}: not used ({why})")
        out.append("  per fact: " + ", ".join(f"{k} {c.films:,} ({c.rating_share:.0%} of ratings)"
                                             for k, c in self.facts.items()))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    @classmethod
    def from_json(cls, data: dict) -> "EnrichmentReport":
        return cls(items=data["items"], matched=data["matched"],
                   sources={k: Coverage(**v) for k, v in data["sources"].items()}, ambiguous=data["ambiguous"],
                   off_by_one_year=data["off_by_one_year"], facts={k: Coverage(**v) for k, v in data["facts"].items()},
                   missing_sources=data["missing_sources"])

    def to_json(self) -> dict:
        return {"items": self.items, "matched": self.matched,
                "sources": {k: vars(v) for k, v in self.sources.items()}, "ambiguous": self.ambiguous,
                "off_by_one_year": self.off_by_one_year, "facts": {k: vars(v) for k, v in self.facts.items()},
                "missing_sources": self.missing_sources}


def title_keys(title: str, alternatives: Sequence[str] = ()) -> list[str]:
    """Join keys of a title: full, main (before ' ('), each parenthesised or given alternative,
    each also without a leading article."""
    main = title.split(" (", 1)[0]
    variants = (title, main, *re.findall(r"\(([^()]*)\)", title), *alternatives)
    keys: list[str] = []
    for variant in variants:
        norm = normalise_title(variant)
        for key in (norm, _LEADING_ARTICLE.sub("", norm)):
            if key and key not in keys:
                keys.append(key)
    return keys


def title_only_fits(genres: Sequence[str], year: int | None, language: str | None, record: FilmRecord) -> bool:
    """Whether a record without a year plausibly is the catalog film of ``genres`` (catalog
    names), ``year`` and ``language`` (its primary language, None when unknown): see the
    module doc."""
    shared = record.genres & set(genres)
    if not shared or (set(genres) - {"Drama"} and not shared - {"Drama"}):
        return False
    if year is not None and year >= 1930 and record.hints & {"short", "silent"}:
        return False
    if year is not None and year >= 1968 and "black-and-white" in record.hints:
        return False
    return not (language == "English" and "foreign" in record.hints)


class FilmIndex:
    """Records of one source by ``(key, year)`` and, for records without a year, by key;
    :meth:`match` and :meth:`match_title` apply the ambiguity rule."""

    def __init__(self, records: Sequence[FilmRecord]) -> None:
        self.records = list(records)
        self._by_key: dict[tuple[str, int], set[int]] = defaultdict(set)
        self._yearless: dict[str, set[int]] = defaultdict(set)
        for i, record in enumerate(self.records):
            for key in title_keys(record.title, record.alt_titles):
                if record.year is None:
                    self._yearless[key].add(i)
                else:
                    self._by_key[(key, record.year)].add(i)

    def match_title(self, title: str) -> FilmRecord | None:
        """The one record without a year that shares a key with ``title``; None when none or
        several do."""
        found = {i for k in title_keys(title) for i in self._yearless.get(k, ())}
        return self.records[found.pop()] if len(found) == 1 else None

    def match(self, title: str, year: int | None) -> tuple[FilmRecord | None, str]:
        """(record, how): how is ``exact``, ``near`` (year +- 1), ``ambiguous`` or ``none``."""
        if year is None:
            return None, "none"
        keys = title_keys(title)
        for deltas, how in (((0,), "exact"), ((-1, 1), "near")):
            found = {i for d in deltas for k in keys for i in self._by_key.get((k, year + d), ())}
            ids = {self.records[i].source_id for i in found}
            if len(ids) == 1:
                return self.records[min(found)], how
            if len(ids) > 1:
                return None, "ambiguous"
        return None, "none"


def _earlier_language(found: Mapping[str, Mapping[str, FilmRecord]], item_id: str) -> str | None:
    """The item's primary language from the sources matched so far (the first source wins)."""
    facts: dict[str, object] = {}
    for matches in found.values():
        if item_id in matches:
            facts = {**matches[item_id].facts, **facts}
    return primary_language(facts)


def enrich_items(
    items: list[Item],
    weights: Mapping[str, float] | None = None,
    sources: Sequence[str] = tuple(SOURCES),
    records: Mapping[str, Sequence[FilmRecord]] | None = None,
) -> tuple[list[Item], EnrichmentReport]:
    """Return ``items`` with facts merged into ``extra`` where matched, and a coverage report.

    ``weights`` (item id -> rating count) give the ratings shares and the cast prominence order
    (every item weighs 1 without them). ``records`` supplies source records directly (tests);
    otherwise each source is read (fetched once). A source that cannot be had is skipped with a
    warning saying how to get it. Items keep their order and ids; existing ``extra`` keys win.
    """
    weight = {i.id: float((weights or {}).get(i.id, 0.0 if weights else 1.0)) for i in items}
    total = sum(weight.values()) or 1.0
    report = EnrichmentReport(items=len(items))
    found: dict[str, dict[str, FilmRecord]] = {}
    leads: dict[str, int] = defaultdict(int)
    shared_keys = Counter(key for item in items for key in title_keys(item.title))
    for name in sources:
        try:
            index = FilmIndex(records[name] if records is not None else read_source(name))
        except AssetError as exc:
            hint = INSTALL_HINT if name == "bokeh" else f"recchat pull ({exc})"
            warnings.warn(f"film facts from {name} skipped: {hint}", stacklevel=2)
            report.missing_sources[name] = str(exc).splitlines()[0]
            continue
        matches: dict[str, FilmRecord] = {}
        for item in items:
            record, how = index.match(item.title, item.year)
            if record is None and how == "none" and (record := index.match_title(item.title)) is not None:
                unique = all(shared_keys[k] == 1 for k in title_keys(item.title))
                language = _earlier_language(found, item.id) if unique and "foreign" in record.hints else None
                if not (unique and title_only_fits(item.genres, item.year, language, record)):
                    record = None
            if record is not None:
                matches[item.id] = record
                report.off_by_one_year[name] = report.off_by_one_year.get(name, 0) + (how == "near")
            elif how == "ambiguous":
                report.ambiguous[name] = report.ambiguous.get(name, 0) + 1
        found[name] = matches
        report.sources[name] = Coverage(len(matches), sum(weight[i] for i in matches) / total)
        if name in BILLED_SOURCES:
            for record in index.records:
                for person in record.facts.get("cast", [])[:LEAD_BILLING]:  # type: ignore[index]
                    leads[person] += 1

    rated: dict[str, float] = defaultdict(float)
    for item_id, record in found.get("bokeh", {}).items():
        for person in record.facts.get("cast", []):  # type: ignore[union-attr]
            rated[person] += weight[item_id]

    out: list[Item] = []
    for item in items:
        matched = {name: found[name][item.id] for name in found if item.id in found[name]}
        facts: dict[str, object] = {}
        origin: dict[str, str] = {}
        for key in sorted({k for record in matched.values() for k in record.facts}):
            first = FIELD_PRIORITY.get(key, ())
            for name in (*first, *(n for n in SOURCES if n not in first)):
                if name in matched and key in matched[name].facts:
                    facts[key], origin[key] = matched[name].facts[key], name
                    break
        if (language := primary_language({**facts, **item.extra})) and "primary_language" not in item.extra:
            facts["primary_language"] = language
        if origin.get("cast") == "bokeh":
            facts["cast"] = sorted(facts["cast"], key=lambda n: (-leads[n], -rated[n], n))  # type: ignore[arg-type]
        if facts:
            report.matched += 1
            item = Item.model_validate({**item.model_dump(), "extra": {**facts, **item.extra}})
        out.append(item)
    for key in COVERED_FACTS:
        having = [i.id for i in out if key in i.extra]
        report.facts[key] = Coverage(len(having), sum(weight[i] for i in having) / total)
    return out, report
