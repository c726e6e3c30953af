"""Index a catalog file of any size: validate in one pass, then stream it into the store.

Memory stays constant in the catalog's size: both passes read the file in bounded batches
(:func:`~retrieval.catalog.iter_catalog_batches`), and :meth:`ChromaStore.index_stream` embeds and
upserts one batch at a time. The validation pass comes first so that ``on_error="reject"``
rejects a bad file before anything is embedded, and so the progress bar knows the total (ETA).
The file's encoding and delimiter are detected once (:func:`~retrieval.catalog.detect_catalog_format`)
and both passes read it with that same format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retrieval.catalog import (
    CatalogError,
    CatalogFormat,
    CatalogScan,
    ColumnMap,
    OnError,
    RowError,
    detect_catalog_format,
    iter_catalog_batches,
    scan_catalog_file,
)
from retrieval.store import ChromaStore, IndexReport


@dataclass(frozen=True)
class CatalogIndexRun:
    """What indexing one catalog file did: the store's report and the validation scan
    (``scan.bad_rows`` rows were skipped; ``scan.errors`` lists the first problems;
    ``scan.format`` how the file was read)."""

    report: IndexReport
    scan: CatalogScan


def index_catalog_file(
    store: ChromaStore,
    catalog: str,
    path: str | Path,
    columns: ColumnMap | None = None,
    on_error: OnError = "reject",
    rebuild: bool = False,
    resume: bool = True,
    progress: bool = True,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    fmt: CatalogFormat | None = None,
) -> CatalogIndexRun:
    """Validate ``path`` and stream its good rows into the index ``catalog``.

    The file is read as ``fmt`` says (from :func:`~retrieval.catalog.detect_catalog_format`, e.g.
    to show its notes first), or as detected here with ``delimiter``/``encoding`` overriding.
    Raises :class:`CatalogError` when the file has bad rows and ``on_error="reject"`` (nothing is
    embedded then) or has no good row or cannot be read, FileNotFoundError, ValueError, and what
    :meth:`ChromaStore.index_stream` raises. With ``on_error="skip"`` bad rows are left out and
    counted in the returned scan.
    """
    settings = store.settings
    if fmt is None:
        fmt = detect_catalog_format(path, delimiter, encoding)
    elif delimiter is not None or encoding is not None:
        raise ValueError("pass either fmt or delimiter/encoding, not both")
    scan = scan_catalog_file(path, columns, settings.max_field_chars, fmt=fmt)
    if scan.bad_rows and on_error == "reject":
        raise CatalogError(scan.errors, total=scan.bad_rows)
    if scan.items == 0:
        raise CatalogError(scan.errors or [RowError(str(path), 0, "-", "the catalog has no items")], total=scan.bad_rows)
    batches = (batch.items for batch in iter_catalog_batches(path, columns, settings.max_field_chars, settings.index_batch,
                                                             fmt=fmt))
    report = store.index_stream(catalog, batches, rebuild=rebuild, progress=progress, total=scan.items, resume=resume)
    return CatalogIndexRun(report, scan)
