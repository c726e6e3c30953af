"""Film metadata enrichment from bokeh-sampledata's ``movies.db`` (Wikidata-derived, CC0).

``bokeh_sampledata/_data/movies.db`` is SQLite with tables ``omdb`` and ``tomatoes``; ``omdb``
holds 17,472 films (1940-2014) with ``Title, Year, Director, Writer, "Cast", Language,
Country``. Items are joined on normalised title + year: the main title, the full title and each
parenthesised alternative title are tried, with and without a leading article; exact year
first, then year +- 1. Among several films with the same key the one with most IMDb votes wins.

Added ``Item.extra`` fields (lists of strings, only when non-empty): ``director``, ``writer``
(at most :data:`WRITER_LIMIT` names), ``cast`` (at most ``cast_limit`` names; NOTE the source
lists cast alphabetically, not by billing), ``country``, ``language``.
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path

from retrieval.items import Item
from retrieval.titles import normalise_title

INSTALL_HINT = "pip install bokeh-sampledata"
CAST_LIMIT = 8
WRITER_LIMIT = 4
_LEADING_ARTICLE = re.compile(r"^(the|a|an|il|la|le|les|l|el|los|las|das|der|die|de|un|une)\s+")


@dataclass(frozen=True)
class EnrichmentReport:
    """How many catalog items were matched to a film record (``rate`` in [0, 1])."""

    items: int
    matched: int
    matched_off_by_one_year: int

    @property
    def rate(self) -> float:
        return self.matched / self.items if self.items else 0.0

    def __str__(self) -> str:
        return (f"enriched {self.matched}/{self.items} items ({self.rate:.1%}; "
                f"{self.matched_off_by_one_year} matched with year +-1) from bokeh-sampledata movies.db")


def movies_db_path() -> Path | None:
    """Path of ``movies.db`` inside the installed bokeh-sampledata, or None if not installed."""
    spec = importlib.util.find_spec("bokeh_sampledata")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "_data" / "movies.db"
    return path if path.is_file() else None


def enrichment_available() -> bool:
    """True when bokeh-sampledata (with ``movies.db``) is installed."""
    return movies_db_path() is not None


def _keys(title: str) -> list[str]:
    """Join keys of a title: full, main (before ' ('), each alternative, each without leading article."""
    main = title.split(" (", 1)[0]
    alternatives = re.findall(r"\(([^()]*)\)", title)
    keys: list[str] = []
    for variant in (title, main, *alternatives):
        norm = normalise_title(variant)
        for key in (norm, _LEADING_ARTICLE.sub("", norm)):
            if key and key not in keys:
                keys.append(key)
    return keys


def _names(value: str | None, limit: int | None = None) -> list[str]:
    names = [n.strip() for n in (value or "").split(",") if n.strip() and n.strip() != "N/A"]
    return names[:limit] if limit else names


def load_film_index(db_path: Path, cast_limit: int = CAST_LIMIT) -> dict[tuple[str, int], dict[str, list[str]]]:
    """``(normalised title key, year) -> extra fields`` for every film in ``omdb``."""
    index: dict[tuple[str, int], tuple[int, dict[str, list[str]]]] = {}
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        rows = conn.execute('SELECT Title, Year, Director, Writer, "Cast", Country, Language, imdbVotes FROM omdb')
        for title, year, director, writer, cast, country, language, votes in rows:
            if not title or year is None:
                continue
            extra = {
                "director": _names(director),
                "writer": _names(writer, WRITER_LIMIT),
                "cast": _names(cast, cast_limit),
                "country": _names(country),
                "language": _names(language),
            }
            extra = {k: v for k, v in extra.items() if v}
            norm = normalise_title(title)
            for key in {norm, _LEADING_ARTICLE.sub("", norm)}:
                previous = index.get((key, int(year)))
                if previous is None or (votes or 0) > previous[0]:
                    index[(key, int(year))] = (votes or 0, extra)
    return {key: extra for key, (_, extra) in index.items()}


def enrich_items(items: list[Item], cast_limit: int = CAST_LIMIT) -> tuple[list[Item], EnrichmentReport | None]:
    """Return ``items`` with film metadata merged into ``extra`` where matched, and a match report.

    Items keep their order and ids; existing ``extra`` keys win. Without bokeh-sampledata the
    items are returned unchanged with a warning naming ``pip install bokeh-sampledata``.
    """
    db_path = movies_db_path()
    if db_path is None:
        warnings.warn(f"film enrichment skipped: bokeh-sampledata is not installed ({INSTALL_HINT})", stacklevel=2)
        return items, None
    index = load_film_index(db_path, cast_limit)
    out: list[Item] = []
    matched = off_by_one = 0
    for item in items:
        found = None
        if item.year is not None:
            keys = _keys(item.title)
            for delta in (0, -1, 1):
                found = next((index[(k, item.year + delta)] for k in keys if (k, item.year + delta) in index), None)
                if found is not None:
                    off_by_one += delta != 0
                    break
        if found:
            matched += 1
            item = Item.model_validate({**item.model_dump(), "extra": {**found, **item.extra}})
        out.append(item)
    return out, EnrichmentReport(items=len(items), matched=matched, matched_off_by_one_year=off_by_one)
