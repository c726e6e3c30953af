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

Files as people have them: :func:`detect_catalog_format` reads a text catalog as UTF-8 (a BOM
is allowed; a UTF-16/32 BOM is followed) and, when it is not valid UTF-8, as cp1252, else
latin-1; a CSV's delimiter (``,`` ``;`` tab ``|``) is detected from the header and first rows.
What was detected is said in :attr:`CatalogFormat.notes`; ``encoding=`` / ``delimiter=`` (CLI:
``--encoding`` / ``--delimiter``) override it. One detection serves every pass over a file.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from retrieval.items import RESERVED_KEYS, Item

OnError = Literal["reject", "skip"]
_PARQUET_BATCH = 2048  # records decoded at a time from a Parquet file
SUPPORTED_SUFFIXES = (".csv", ".jsonl", ".parquet")
DELIMITERS = (",", ";", "\t", "|")  # detected in a CSV, in this order of preference
# Tried, in order, for a text file that is not UTF-8 (the first decodes Windows' Western text,
# the second every byte). A fixed chain, not charset-normalizer (installed through requests): on
# short Western samples it guessed cp1006 for "Amélie", cp1250 ("São" -> "Săo") and big5.
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
_SNIFF_CHARS = 64 * 1024  # text read from the head of a CSV to detect its delimiter
_SNIFF_ROWS = 50
_DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}


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

    def __init__(self, errors: Sequence[RowError], hint: str = "", total: int | None = None,
                 summary: str = "") -> None:
        self.errors = list(errors)
        shown = "\n  ".join(str(e) for e in self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        hint = hint or "fix these rows, or load with on_error='skip' (CLI: --skip-bad-rows) to drop them"
        count = total if total is not None else len(self.errors)
        summary = summary or f"{count} bad row(s) in catalog"
        super().__init__(f"{summary}:\n  {shown}{more}\n{hint}")


@dataclass(frozen=True)
class CatalogFormat:
    """How a catalog file is read: ``encoding`` (text files; a Python codec name) and ``delimiter``
    (CSV), ``None`` where they do not apply; ``notes`` say what was detected that a person should
    know (a delimiter other than ``,``, an encoding other than UTF-8), one line each."""

    path: str
    encoding: str | None = None
    delimiter: str | None = None
    notes: tuple[str, ...] = ()


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
    format: CatalogFormat | None = None


@dataclass
class CatalogLoad:
    """Result of loading a catalog: the items, and the rows skipped (with reasons)."""

    items: list[Item]
    skipped: list[RowError] = field(default_factory=list)
    format: CatalogFormat | None = None


def _show(delimiter: str) -> str:
    """A delimiter as a person reads it: ``tab`` or ``';'``."""
    return "tab" if delimiter == "\t" else repr(delimiter)


def _as_option(delimiter: str) -> str:
    """The ``--delimiter`` argument that selects ``delimiter``, quoted for a shell."""
    return "tab" if delimiter == "\t" else delimiter if delimiter == "," else f"'{delimiter}'"


def parse_delimiter(text: str) -> str:
    """The CSV delimiter named by ``text`` (the CLI's ``--delimiter``): one character such as
    ``,`` ``;`` ``|``, or ``tab`` / ``\\t`` / ``comma`` / ``semicolon`` / ``pipe``."""
    value = _DELIMITER_NAMES.get(text.strip().lower(), text) if text.strip() else text
    if len(value) != 1 or value in "\"\r\n" or value.isalnum():
        raise ValueError(f"bad delimiter {text!r} (--delimiter): one character, e.g. , ; | or tab")
    return value


def _codec(name: str) -> str:
    """Python's codec name for the text encoding ``name`` (UTF-8 read as utf-8-sig: a BOM is
    not data); ValueError for an unknown or non-text encoding."""
    try:
        codec = codecs.lookup(name.strip()).name
        "".encode(codec)  # LookupError for codecs that are not text encodings, such as base64
    except LookupError:
        raise ValueError(f"unknown text encoding {name!r} (--encoding): e.g. utf-8, cp1252, latin-1, utf-16") from None
    return "utf-8-sig" if codec == "utf-8" else codec


def _ascii_compatible(codec: str) -> bool:
    """Whether ASCII bytes mean ASCII in ``codec`` (then the file can be checked line by line)."""
    ascii_bytes = bytes(range(1, 128))
    try:
        return ascii_bytes.decode(codec) == ascii_bytes.decode("ascii")
    except UnicodeDecodeError:
        return False


_ASCII = bytes(range(128))
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE first: it starts like UTF-16 LE's


def _verify_encoding(path: Path, codec: str, hint: str, limit: int = 20) -> None:
    """Raise :class:`CatalogError` naming the rows of ``path`` that ``codec`` cannot decode."""
    label = "utf-8" if codec == "utf-8-sig" else codec
    errors: list[RowError] = []
    with path.open("rb") as fh:
        if _ascii_compatible(codec):
            for number, raw in enumerate(fh, start=1):
                try:
                    raw.decode(codec)
                except UnicodeDecodeError as exc:
                    errors.append(RowError(str(path), number, "-", f"not valid {label} (byte 0x{raw[exc.start]:02x} at "
                                                                      f"column {exc.start + 1})"))
                    if len(errors) >= limit:
                        break
        else:  # UTF-16/32 and the like: no byte-level lines; decode in chunks, count the lines
            decoder = codecs.getincrementaldecoder(codec)()
            lines = offset = 0
            while True:
                chunk = fh.read(1 << 16)
                try:
                    lines += decoder.decode(chunk, final=not chunk).count("\n")
                except UnicodeDecodeError as exc:
                    errors.append(RowError(str(path), lines + 1, "-", f"not valid {label} (near byte {offset + exc.start}, "
                                                                         "at or after this row)"))
                    break
                if not chunk:
                    break
                offset += len(chunk)
    if errors:
        raise CatalogError(errors, hint=hint, summary=f"cannot read catalog {path} as {label}")


def _not_text(path: Path, row: int, what: str) -> CatalogError:
    return CatalogError([RowError(str(path), row, "-", f"binary data, not text ({what})")],
                        summary=f"cannot read catalog {path} as text",
                        hint="save it as a CSV (UTF-8) or JSON-lines file; if it is UTF-16 without a byte order "
                             "mark, pass --encoding utf-16-le (or utf-16-be)")


def _example(text: str) -> str:
    """The first word of ``text`` with a non-ASCII character (what a wrong encoding garbles)."""
    match = re.search(r"[^\s,;|\"]*[^\x00-\x7f][^\s,;|\"]*", text)
    word = match.group(0) if match else text.strip()
    return word if len(word) <= 40 else word[:39] + "…"


def _detect_encoding(path: Path) -> tuple[str, str | None]:
    """(codec, note or None) for a text catalog: a UTF-16/32 BOM is followed; otherwise UTF-8
    (BOM allowed) when every line is valid UTF-8, else the first of :data:`FALLBACK_ENCODINGS`
    that decodes every byte of the file. Binary files (NUL bytes, a ZIP archive) are refused."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    for bom, codec in _BOMS:
        if codec != "utf-8-sig" and head.startswith(bom):
            _verify_encoding(path, codec, hint=f"the file starts with a {codec.upper()} byte order mark but is not "
                                               "valid; pass its encoding with --encoding")
            return codec, f"{path.name}: read as {codec.upper()} (detected from its byte order mark; --encoding overrides)"
    if head.startswith(b"PK\x03\x04"):
        raise _not_text(path, 1, "a ZIP archive - an Excel workbook? Export it as CSV UTF-8")
    if b"\x00" in head.split(b"\n", 1)[0]:
        raise _not_text(path, 1, "NUL bytes in the header")
    bad_row, bad_line = 0, b""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                bad_row, bad_line = number, raw
                break
    if not bad_row:
        return "utf-8-sig", None
    if b"\x00" in bad_line:
        raise _not_text(path, bad_row, "NUL bytes, and not valid UTF-8")
    if head.startswith(codecs.BOM_UTF8):
        raise CatalogError([RowError(str(path), bad_row, "-", "not valid UTF-8, though the file starts with a UTF-8 "
                                                              "byte order mark (parts saved in different encodings?)")],
                           summary=f"cannot read catalog {path} as text",
                           hint="save the whole file as UTF-8, or pass the encoding of its rows with --encoding")
    seen: set[int] = set()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            seen.update(chunk.translate(None, _ASCII))
    for codec in FALLBACK_ENCODINGS:  # single-byte: decodes the file iff it decodes each byte in it
        try:
            bytes(sorted(seen)).decode(codec)
        except UnicodeDecodeError:
            continue
        return codec, (f"{path.name}: not UTF-8; read as {codec} (detected; --encoding overrides), e.g. row {bad_row}: "
                       f"{_example(bad_line.decode(codec))}")
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _parse_rows(sample: str, delimiter: str, limit: int) -> list[list[str]]:
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(sample), delimiter=delimiter):
            rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:  # e.g. a quoted cell cut at the end of the sample
        pass
    return rows


def _sniff_delimiter(path: Path, encoding: str) -> str:
    """The delimiter of :data:`DELIMITERS` that fits the head of the file best, ranked by: it
    splits the header at all, then the share of the first rows with as many cells as the header,
    then the header's width, then the order of :data:`DELIMITERS`; ``,`` when none splits it."""
    with path.open(newline="", encoding=encoding) as fh:
        sample = fh.read(_SNIFF_CHARS)
        if fh.read(1):  # more follows: drop the last, partial line
            cut = sample.rfind("\n")
            sample = sample[:cut + 1] if cut > 0 else sample
    best, best_score = ",", (False, 0.0, 0, 0)
    for rank, delimiter in enumerate(DELIMITERS):
        rows = _parse_rows(sample, delimiter, _SNIFF_ROWS + 1)
        if not rows:
            continue
        width = len(rows[0])
        body = [row for row in rows[1:] if row]
        fit = sum(len(row) == width for row in body) / len(body) if body else 1.0
        score = (width > 1, fit, width, -rank)
        if score > best_score:
            best, best_score = delimiter, score
    return best if best_score[0] else ","


def detect_catalog_format(path: str | Path, delimiter: str | None = None, encoding: str | None = None) -> CatalogFormat:
    """How to read the catalog file ``path``: its text encoding and (CSV) delimiter, detected
    unless given (``delimiter``: see :func:`parse_delimiter`; ``encoding``: a codec name). Pass
    the result to every reader of the file so that all passes read it the same way.

    Raises FileNotFoundError, ValueError (a bad ``delimiter``/``encoding``, or one given for a
    file type it does not apply to) or :class:`CatalogError` (an unsupported suffix, a file that
    is not text, or not valid in the given encoding)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"catalog file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise CatalogError(
            [RowError(str(path), 0, "-", f"unsupported file type {suffix!r}")],
            hint=f"use one of {', '.join(SUPPORTED_SUFFIXES)}",
        )
    if delimiter is not None and suffix != ".csv":
        raise ValueError(f"a delimiter (--delimiter) applies to .csv files, not {path.name}")
    if suffix == ".parquet":
        if encoding is not None:
            raise ValueError(f"an encoding (--encoding) applies to .csv and .jsonl files, not {path.name}")
        return CatalogFormat(str(path))
    notes: list[str] = []
    if encoding is not None:
        codec = _codec(encoding)
        _verify_encoding(path, codec, hint="the file is not in this encoding: leave --encoding out to detect it, "
                                           "or pass the file's own")
    else:
        codec, note = _detect_encoding(path)
        notes += [note] if note else []
    if suffix == ".jsonl":
        return CatalogFormat(str(path), codec, None, tuple(notes))
    if delimiter is not None:
        sep = parse_delimiter(delimiter)
    else:
        sep = _sniff_delimiter(path, codec)
        if sep != ",":
            notes.append(f"{path.name}: columns are separated by {_show(sep)} (detected; --delimiter overrides)")
    return CatalogFormat(str(path), codec, sep, tuple(notes))


def _check_header(path: Path, header: list[str], delimiter: str, required: Sequence[str]) -> None:
    """Raise :class:`CatalogError` once for a header that cannot serve, instead of an error on
    every row: one column holding another delimiter (the wrong delimiter), or a required column
    absent."""
    if len(header) == 1:
        others = [d for d in DELIMITERS if d != delimiter and d in header[0]]
        if others:
            found = max(others, key=header[0].count)
            cell = header[0] if len(header[0]) <= 80 else header[0][:79] + "…"
            raise CatalogError(
                [RowError(str(path), 1, "-", f"the header is one column, {cell!r}, which contains {_show(found)}: "
                                             f"the file was read with delimiter {_show(delimiter)} but looks "
                                             f"{_show(found)}-separated")],
                summary=f"cannot split the columns of catalog {path}",
                hint=f"pass --delimiter {_as_option(found)} (or leave --delimiter out to detect it)",
            )
    missing = [column for column in dict.fromkeys(required) if column not in header]
    if missing:
        shown = ", ".join(repr(h) for h in header[:12]) + (", ..." if len(header) > 12 else "")
        raise CatalogError(
            [RowError(str(path), 1, column, f"no column {column!r} in the header (its columns: {shown})")
             for column in missing],
            summary=f"catalog {path} lacks required column(s)",
            hint="name the file's columns with --columns, e.g. --columns id=movieId,title=name",
        )


def _records(path: Path, fmt: CatalogFormat, required: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yield (row number, record or None, parse error or None) for each record of the file, read
    as ``fmt`` says. A CSV header without the ``required`` columns raises :class:`CatalogError`."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        delimiter = fmt.delimiter or ","
        with path.open(newline="", encoding=fmt.encoding) as fh:  # utf-8-sig: a BOM (Excel) is not part of 'id'
            reader = csv.DictReader(fh, delimiter=delimiter)
            try:
                header = reader.fieldnames
            except csv.Error as exc:
                raise CatalogError([RowError(str(path), 1, "-", f"unreadable CSV header: {exc}")],
                                   summary=f"cannot read the header of catalog {path}",
                                   hint="fix the first line of the file") from None
            if header is None:  # an empty file
                return
            _check_header(path, list(header), delimiter, required)
            start = reader.line_num + 1
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
        with path.open(encoding=fmt.encoding or "utf-8-sig") as fh:
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
    line that is not valid UTF-8 (a leading BOM is allowed); for files that must be UTF-8 (eval
    interaction files). Catalogs detect their encoding: see :func:`detect_catalog_format`."""
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


def _format_for(path: Path, delimiter: str | None, encoding: str | None, fmt: CatalogFormat | None) -> CatalogFormat:
    if fmt is None:
        return detect_catalog_format(path, delimiter, encoding)
    if delimiter is not None or encoding is not None:
        raise ValueError("pass either fmt or delimiter/encoding, not both")
    if Path(fmt.path) != path:
        raise ValueError(f"fmt describes {fmt.path}, not {path}")
    return fmt


def iter_catalog_batches(
    path: str | Path,
    columns: ColumnMap | None = None,
    max_field_chars: int = 20_000,
    batch_size: int = 1000,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    fmt: CatalogFormat | None = None,
) -> Iterator[CatalogBatch]:
    """Stream a catalog file as batches of at most ``batch_size`` good items (memory bounded by
    the batch, not the file). Bad rows come with the batch during which they were read;
    duplicate ids: the first occurrence wins, later ones are errors. The file is read as ``fmt``
    says (from :func:`detect_catalog_format`; detected here, with ``delimiter``/``encoding``,
    when not given). Raises FileNotFoundError, ValueError, or :class:`CatalogError` for an
    unsupported suffix, a text file that cannot be read, or a CSV header without the id or
    title column (often a wrong delimiter)."""
    from retrieval.id_ledger import IdLedger

    path = Path(path)
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    fmt = _format_for(path, delimiter, encoding, fmt)
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

        for row, record, parse_error in _records(path, fmt, (cols.id, cols.title)):
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
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    fmt: CatalogFormat | None = None,
) -> CatalogScan:
    """Validate a whole catalog file in one constant-memory pass (nothing is kept but counts
    and the first ``max_errors`` problems; :attr:`CatalogScan.format` says how it was read).
    Same arguments for reading it and exceptions as :func:`iter_catalog_batches`."""
    fmt = _format_for(Path(path), delimiter, encoding, fmt)
    good = bad_count = 0
    errors: list[RowError] = []
    for batch in iter_catalog_batches(path, columns, max_field_chars, fmt=fmt):
        good += len(batch.items)
        bad_count += len({e.row for e in batch.errors})  # a row's errors all come in one batch
        room = max_errors - len(errors)
        if room > 0:
            errors.extend(batch.errors[:room])
    return CatalogScan(str(path), good, bad_count, errors, fmt)


def load_catalog_file(
    path: str | Path,
    columns: ColumnMap | None = None,
    on_error: OnError = "reject",
    max_field_chars: int = 20_000,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> CatalogLoad:
    """Load and validate a whole catalog file into memory (small catalogs; large ones: see
    :func:`iter_catalog_batches`; ``delimiter``/``encoding`` override detection, and
    :attr:`CatalogLoad.format` says how the file was read). Raises :class:`CatalogError` (reject
    mode), FileNotFoundError or ValueError. Duplicate ids: the first occurrence wins, later ones
    are errors."""
    fmt = detect_catalog_format(path, delimiter, encoding)
    items: list[Item] = []
    errors: list[RowError] = []
    for batch in iter_catalog_batches(path, columns, max_field_chars, fmt=fmt):
        items.extend(batch.items)
        errors.extend(batch.errors)
    if errors and on_error == "reject":
        raise CatalogError(errors)
    if not items:
        raise CatalogError(errors or [RowError(str(path), 0, "-", "the catalog has no items")])
    return CatalogLoad(items=items, skipped=errors, format=fmt)


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
