"""Catalog files (CSV, JSONL, Parquet) -> validated :class:`~retrieval.items.Item` lists.

Format (columns, renamable with :class:`ColumnMap`):

=========  ========  ===============================================================
column     required  meaning
=========  ========  ===============================================================
id         yes       stable unique item id (string; numbers are read as strings)
title      yes       display title
text       no        free description
year       no        integer year
genres     no        list (JSONL/Parquet) or ``|``-separated string (CSV)
any other  no        kept as an extra metadata field: string, number, bool or list of strings
=========  ========  ===============================================================

Every bad row is reported with file, row and field. ``on_error="reject"`` (default) raises
:class:`CatalogError` listing all problems and loads nothing; ``on_error="skip"`` drops the bad
rows and reports them in :attr:`CatalogLoad.skipped` - never silently.

Large catalogs are read as a stream: :func:`iter_catalog_batches` yields bounded
:class:`CatalogBatch` es (CSV/JSONL line by line, Parquet by record batch; duplicate ids are
found with an on-disk :class:`~retrieval.id_ledger.IdLedger`), and :func:`scan_catalog_file`
validates a whole file in one constant-memory pass (counts + the first errors) before indexing.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from retrieval.items import RESERVED_KEYS, Item

OnError = Literal["reject", "skip"]
_PARQUET_BATCH = 2048  # records decoded at a time from a Parquet file
SUPPORTED_SUFFIXES = (".csv", ".jsonl", ".parquet")


class ColumnMap(BaseModel):
    """Which file column feeds which item field; ``genre_sep`` splits CSV genre strings."""

    id: str = "id"
    title: str = "title"
    text: str = "text"
    year: str = "year"
    genres: str = "genres"
    genre_sep: str = "|"

    @classmethod
    def parse(cls, spec: str | None) -> "ColumnMap":
        """Parse ``"id=movieId,title=name"`` (the CLI's ``--columns``)."""
        if not spec:
            return cls()
        values: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, column = part.partition("=")
            if not sep or not column.strip():
                raise ValueError(f"bad column mapping {part!r}: expected FIELD=COLUMN, e.g. id=movieId")
            values[key.strip()] = column.strip()
        return cls(**values)


@dataclass(frozen=True)
class RowError:
    """One problem: ``row`` is 1-based (CSV: the physical line of the record, header = 1; JSONL: line; Parquet: record)."""

    file: str
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}, row {self.row}, field {self.field!r}: {self.message}"


class CatalogError(ValueError):
    """A catalog file is unusable; ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[RowError], hint: str = "", total: int | None = None) -> None:
        self.errors = list(errors)
        shown = "\n  ".join(str(e) for e in self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        hint = hint or "fix these rows, or load with on_error='skip' (CLI: --skip-bad-rows) to drop them"
        count = total if total is not None else len(self.errors)
        super().__init__(f"{count} bad row(s) in catalog:\n  {shown}{more}\n{hint}")


@dataclass
class CatalogBatch:
    """Up to ``batch_size`` good items of a stream, and the bad rows met while reading them."""

    items: list[Item]
    errors: list[RowError] = field(default_factory=list)


@dataclass
class CatalogScan:
    """One validation pass over a catalog file: ``items`` good rows, ``bad_rows`` rows with
    problems (``errors`` keeps the first ``max_errors`` problems; a row can have several)."""

    path: str
    items: int
    bad_rows: int
    errors: list[RowError]


@dataclass
class CatalogLoad:
    """Result of loading a catalog: the items, and the rows skipped (with reasons)."""

    items: list[Item]
    skipped: list[RowError] = field(default_factory=list)


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yield (row number, record or None, parse error or None) for each record of the file."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".jsonl"):
        check_utf8(path)
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: a BOM (Excel) is not part of 'id'
            reader = csv.DictReader(fh)
            start = 2
            while True:
                try:
                    record = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:  # e.g. a cell over csv's 131,072-character limit
                    yield start, None, f"unreadable CSV record: {exc}"
                    start = reader.line_num + 1
                    continue
                if None in record:  # more cells than header columns
                    yield start, None, f"{len(record[None])} cell(s) more than the header has"
                else:
                    yield start, record, None
                start = reader.line_num + 1
    elif suffix == ".jsonl":
        with path.open(encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, None, f"invalid JSON: {exc.msg}"
                    continue
                if not isinstance(record, dict):
                    yield number, None, "expected a JSON object"
                    continue
                yield number, record, None
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        number = 0
        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
                for record in batch.to_pylist():
                    number += 1
                    yield number, record, None
    else:
        raise CatalogError(
            [RowError(str(path), 0, "-", f"unsupported file type {suffix!r}")],
            hint=f"use one of {', '.join(SUPPORTED_SUFFIXES)}",
        )


def check_utf8(path: Path, limit: int = 20) -> None:
    """Raise :class:`CatalogError` naming the file and 1-based line of every (up to ``limit``)
    line that is not valid UTF-8; text catalogs must be UTF-8 (a leading BOM is allowed)."""
    errors: list[RowError] = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(RowError(str(path), number, "-", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                                                                  f"column {exc.start + 1})"))
                if len(errors) >= limit:
                    break
    if errors:
        raise CatalogError(errors, hint="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > NEW)")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value)
    )


def _to_item(record: dict[str, Any], cols: ColumnMap, csv_mode: bool, max_chars: int) -> tuple[Item | None, list[tuple[str, str]]]:
    """Convert one record; returns (item or None, [(field, message)])."""
    problems: list[tuple[str, str]] = []
    raw_id = record.get(cols.id)
    if _blank(raw_id):
        problems.append((cols.id, "missing id"))
    title = record.get(cols.title)
    if _blank(title):
        problems.append((cols.title, "missing title"))
    year: int | None = None
    raw_year = record.get(cols.year)
    if not _blank(raw_year):
        try:
            as_float = float(raw_year)
            if not as_float.is_integer() or isinstance(raw_year, bool):
                raise ValueError
            year = int(as_float)
        except (TypeError, ValueError):
            problems.append((cols.year, f"expected an integer year, got {raw_year!r}"))
    raw_genres = record.get(cols.genres)
    genres: list[str] = []
    if not _blank(raw_genres):
        if isinstance(raw_genres, str):
            genres = raw_genres.split(cols.genre_sep) if csv_mode or cols.genre_sep in raw_genres else [raw_genres]
        elif isinstance(raw_genres, (list, tuple)) and all(isinstance(g, str) for g in raw_genres):
            genres = list(raw_genres)
        else:
            problems.append((cols.genres, f"expected a list of strings, got {type(raw_genres).__name__}"))
    text = record.get(cols.text)
    text = "" if _blank(text) else text
    if not isinstance(text, str):
        problems.append((cols.text, f"expected a string, got {type(text).__name__}"))
        text = ""
    known = {cols.id, cols.title, cols.text, cols.year, cols.genres}
    extra: dict[str, Any] = {}
    for key, value in record.items():
        if key in known or _blank(value):
            continue
        name = str(key).strip()
        if name in RESERVED_KEYS:
            problems.append((name, f"column name {name!r} is reserved; rename it or map it with --columns"))
        elif isinstance(value, (str, bool, int, float)):
            extra[name] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            if value:
                extra[name] = list(value)
        else:
            problems.append((name, f"unsupported value type {type(value).__name__} (use string, number, bool or list of strings)"))
    for name, value in [(cols.title, title), (cols.text, text), *extra.items()]:
        size = len(value) if isinstance(value, str) else sum(map(len, value)) if isinstance(value, list) else 0
        if size > max_chars:
            problems.append((name, f"field is {size} characters; the limit is {max_chars} (RECCHAT_RETRIEVAL_MAX_FIELD_CHARS)"))
    if problems:
        return None, problems
    try:
        item = Item(id=str(raw_id), title=str(title), text=text, year=year, genres=genres, extra=extra)
    except ValidationError as exc:
        return None, [(".".join(map(str, err["loc"])) or "-", err["msg"]) for err in exc.errors()]
    return item, []


def iter_catalog_batches(
    path: str | Path,
    columns: ColumnMap | None = None,
    max_field_chars: int = 20_000,
    batch_size: int = 1000,
) -> Iterator[CatalogBatch]:
    """Stream a catalog file as batches of at most ``batch_size`` good items (memory bounded by
    the batch, not the file). Bad rows come with the batch during which they were read;
    duplicate ids: the first occurrence wins, later ones are errors. Raises FileNotFoundError,
    or :class:`CatalogError` for an unsupported suffix or a text file that is not UTF-8."""
    from retrieval.id_ledger import IdLedger

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"catalog file not found: {path}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    cols = columns or ColumnMap()
    csv_mode = path.suffix.lower() == ".csv"
    with IdLedger() as seen:
        batch = CatalogBatch([])
        rows: list[int] = []

        def flush() -> CatalogBatch:
            nonlocal batch, rows
            for position, first in seen.add([(item.id, row) for item, row in zip(batch.items, rows)]):
                item, row = batch.items[position], rows[position]
                batch.errors.append(RowError(str(path), row, cols.id, f"duplicate id {item.id!r} (first seen in row {first})"))
            dupes = {e.row for e in batch.errors if e.message.startswith("duplicate id")}
            done = CatalogBatch([it for it, row in zip(batch.items, rows) if row not in dupes],
                                sorted(batch.errors, key=lambda e: e.row))
            batch, rows = CatalogBatch([]), []
            return done

        for row, record, parse_error in _records(path):
            if record is None:
                batch.errors.append(RowError(str(path), row, "-", parse_error or "unreadable"))
                continue
            item, problems = _to_item(record, cols, csv_mode, max_field_chars)
            if item is None:
                batch.errors.extend(RowError(str(path), row, f, m) for f, m in problems)
                continue
            batch.items.append(item)
            rows.append(row)
            if len(batch.items) >= batch_size:
                yield flush()
        if batch.items or batch.errors:
            yield flush()


def scan_catalog_file(
    path: str | Path,
    columns: ColumnMap | None = None,
    max_field_chars: int = 20_000,
    max_errors: int = 1000,
) -> CatalogScan:
    """Validate a whole catalog file in one constant-memory pass (nothing is kept but counts
    and the first ``max_errors`` problems). Same exceptions as :func:`iter_catalog_batches`."""
    good = bad_count = 0
    errors: list[RowError] = []
    for batch in iter_catalog_batches(path, columns, max_field_chars):
        good += len(batch.items)
        bad_count += len({e.row for e in batch.errors})  # a row's errors all come in one batch
        room = max_errors - len(errors)
        if room > 0:
            errors.extend(batch.errors[:room])
    return CatalogScan(str(path), good, bad_count, errors)


def load_catalog_file(
    path: str | Path,
    columns: ColumnMap | None = None,
    on_error: OnError = "reject",
    max_field_chars: int = 20_000,
) -> CatalogLoad:
    """Load and validate a whole catalog file into memory (small catalogs; large ones: see
    :func:`iter_catalog_batches`). Raises :class:`CatalogError` (reject mode) or
    FileNotFoundError. Duplicate ids: the first occurrence wins, later ones are errors."""
    items: list[Item] = []
    errors: list[RowError] = []
    for batch in iter_catalog_batches(path, columns, max_field_chars):
        items.extend(batch.items)
        errors.extend(batch.errors)
    if errors and on_error == "reject":
        raise CatalogError(errors)
    if not items:
        raise CatalogError(errors or [RowError(str(path), 0, "-", "the catalog has no items")])
    return CatalogLoad(items=items, skipped=errors)


def write_catalog_jsonl(items: Sequence[Item], path: str | Path) -> Path:
    """Write items in the JSONL catalog format (readable by :func:`load_catalog_file`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for item in items:
            record = {"id": item.id, "title": item.title, "text": item.text, "year": item.year,
                      "genres": list(item.genres), **item.extra}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path
