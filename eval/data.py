"""Evaluation datasets: the bundled MovieLens sets, or bring-your-own interactions + catalog.

Bring-your-own interactions file (``.csv``, ``.jsonl`` or ``.parquet``), one interaction a row:

=========  ========  ===================================================================
column     required  meaning
=========  ========  ===================================================================
user_id    yes       user token (numbers are read as strings)
item_id    yes       an ``id`` of the catalog file (the foundation's catalog format)
timestamp  no        Unix seconds (int or float); all rows or none. Without it the hold-out
                     is a seeded random choice per user (see :mod:`eval.splits`)
rating     no        number; needed only by ``--min-rating``
=========  ========  ===================================================================

Every problem is reported with file, 1-based row and field (:class:`retrieval.catalog.RowError`,
same as catalog files) and the whole file is rejected: an evaluation on silently dropped rows
would not be reproducible.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from retrieval.catalog import CatalogError, RowError
from retrieval.items import Item
from retrieval.movielens import DATASETS

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = ("user_id", "item_id")
OPTIONAL = ("timestamp", "rating")


class InteractionsError(ValueError):
    """An interactions file is unusable; ``errors`` lists every problem (file, row, field)."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "\n  ".join(str(e) for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} problem(s) in the interactions file:\n  {shown}{more}\n"
                         "expected columns: user_id, item_id, [timestamp], [rating] (see docs/evaluation.md)")


@dataclass
class EvalDataset:
    """Interactions + catalog of one dataset.

    ``interactions`` columns: ``user_id`` (str), ``item_id`` (str, always a catalog id),
    ``rating`` (float64, NaN when unknown), ``timestamp`` (float64, NaN when unknown), ``row``
    (int64, 0-based file order: the tie-break for equal timestamps). ``has_timestamps`` is True
    iff every row has one. ``files``: role (``interactions``, ``items``) -> the file it was
    read from (hashed into ``results.json`` by :func:`eval.provenance.dataset_provenance`).
    """

    name: str
    items: list[Item]
    interactions: "pd.DataFrame"
    source: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def has_timestamps(self) -> bool:
        return bool(len(self.interactions)) and bool(self.interactions["timestamp"].notna().all())

    @property
    def item_map(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}

    def stats(self) -> dict[str, Any]:
        """Counts for the report: users, items (catalog / interacted), interactions."""
        frame = self.interactions
        return {"users": int(frame["user_id"].nunique()), "catalog_items": len(self.items),
                "interacted_items": int(frame["item_id"].nunique()), "interactions": int(len(frame)),
                "has_timestamps": self.has_timestamps, "source": self.source}


def load_dataset(name: str, enrich: bool = True) -> EvalDataset:
    """A bundled dataset (:data:`DATASETS`) with its catalog (fetched on first use)."""
    from retrieval.movielens import dataset_dir, load_catalog, load_interactions

    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; bundled: {', '.join(DATASETS)} "
                         "(or pass --interactions FILE --catalog FILE)")
    frame = load_interactions(name).copy()
    frame["timestamp"] = frame["timestamp"].astype("float64")
    items = load_catalog(name, enrich=enrich)
    _check_known_items(frame, {i.id for i in items}, name)
    folder, stem = dataset_dir(name), DATASETS[name].stem
    return EvalDataset(name=name, items=items, interactions=frame[["user_id", "item_id", "rating", "timestamp", "row"]],
                       source=f"recchat.retrieval.movielens:{name}",
                       files={"interactions": str(folder / f"{stem}.inter"), "items": str(folder / f"{stem}.item")})


def load_custom(interactions: str | Path, catalog: str | Path, name: str | None = None) -> EvalDataset:
    """Bring-your-own: validate and load an interactions file and a catalog file.

    Raises :class:`InteractionsError` (interactions problems, all listed),
    :class:`retrieval.catalog.CatalogError` (catalog problems) or FileNotFoundError.
    """
    from retrieval.catalog import load_catalog_file

    items = load_catalog_file(catalog).items
    frame = read_interactions_file(interactions, {i.id for i in items})
    return EvalDataset(name=name or Path(interactions).stem, items=items, interactions=frame,
                       source=f"{Path(interactions)} + {Path(catalog)}",
                       files={"interactions": str(Path(interactions).resolve()), "items": str(Path(catalog).resolve())})


def _records(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".jsonl"):
        from retrieval.catalog import check_utf8

        try:
            check_utf8(path)
        except CatalogError as exc:
            raise InteractionsError(exc.errors) from exc
    if suffix == ".csv":
        import csv

        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                raise InteractionsError([RowError(str(path), 1, "-", "the file is empty (no header)")])
            return [dict(r) for r in reader]
    if suffix == ".jsonl":
        out: list[dict[str, Any]] = []
        errors: list[RowError] = []
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    errors.append(RowError(str(path), number, "-", f"invalid JSON: {exc.msg}"))
                    continue
                if not isinstance(record, dict):
                    errors.append(RowError(str(path), number, "-", "expected a JSON object"))
                    continue
                out.append(record)
        if errors:
            raise InteractionsError(errors)
        return out
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    raise InteractionsError([RowError(str(path), 0, "-", f"unsupported file type {suffix!r}; use .csv, .jsonl or .parquet")])


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_interactions_file(path: str | Path, catalog_ids: set[str],
                           unknown_items: Literal["reject", "skip"] = "reject") -> "pd.DataFrame":
    """Validate and read an interactions file (format in the module docstring).

    Row numbers in errors are 1-based: CSV counts the header as row 1 (so the first record is
    row 2), JSONL counts lines, Parquet counts records. ``unknown_items="skip"`` drops rows whose
    item is not in the catalog instead of rejecting the file, and counts them in
    ``frame.attrs["skipped_unknown_items"]`` (``row`` then numbers the kept rows)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"interactions file not found: {path}")
    records = _records(path)
    first_row = 2 if path.suffix.lower() == ".csv" else 1
    errors: list[RowError] = []
    if not records:
        raise InteractionsError([RowError(str(path), 0, "-", "the file has no interactions")])
    columns = set().union(*(r.keys() for r in records))
    for col in REQUIRED:
        if col not in columns:
            errors.append(RowError(str(path), 0, col, f"missing required column {col!r} (columns: {sorted(columns)})"))
    if errors:
        raise InteractionsError(errors)
    users, items, ratings, stamps = [], [], [], []
    skipped = 0
    have_stamp = have_none = False
    for offset, record in enumerate(records):
        row = first_row + offset
        user, item = record.get("user_id"), record.get("item_id")
        if _blank(user):
            errors.append(RowError(str(path), row, "user_id", "missing user id"))
        if _blank(item):
            errors.append(RowError(str(path), row, "item_id", "missing item id"))
        elif str(item).strip() not in catalog_ids:
            if unknown_items == "skip":
                skipped += 1
                continue
            errors.append(RowError(str(path), row, "item_id", f"item {str(item).strip()!r} is not in the catalog"))
        stamp = record.get("timestamp")
        if _blank(stamp):
            have_none = True
            stamps.append(math.nan)
        elif (value := _number(stamp)) is None:
            errors.append(RowError(str(path), row, "timestamp", f"expected a number (Unix seconds), got {stamp!r}"))
            stamps.append(math.nan)
        else:
            have_stamp = True
            stamps.append(value)
        rating = record.get("rating")
        if _blank(rating):
            ratings.append(math.nan)
        elif (value := _number(rating)) is None:
            errors.append(RowError(str(path), row, "rating", f"expected a number, got {rating!r}"))
            ratings.append(math.nan)
        else:
            ratings.append(value)
        users.append(str(user).strip() if not _blank(user) else "")
        items.append(str(item).strip() if not _blank(item) else "")
    if have_stamp and have_none:
        missing = [first_row + i for i, s in enumerate(stamps) if math.isnan(s)][:5]
        errors.append(RowError(str(path), missing[0], "timestamp",
                               f"timestamps must be given on every row or on none (missing in rows {missing} ...)"))
    if errors:
        raise InteractionsError(errors)
    frame = pd.DataFrame({"user_id": users, "item_id": items, "rating": pd.Series(ratings, dtype="float64"),
                          "timestamp": pd.Series(stamps, dtype="float64"),
                          "row": pd.RangeIndex(len(users)).astype("int64")})
    frame.attrs["skipped_unknown_items"] = skipped
    return frame


def _check_known_items(frame: "pd.DataFrame", ids: set[str], name: str) -> None:
    unknown = ~frame["item_id"].isin(ids)
    if unknown.any():
        first = frame[unknown].head(5)
        raise CatalogError([RowError(name, int(r) + 1, "item_id", f"item {i!r} is not in the catalog")
                            for r, i in zip(first["row"], first["item_id"])])
