import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrieval.catalog import CatalogError, ColumnMap, load_catalog_file, write_catalog_jsonl
from retrieval.items import Item


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_round_trip_with_extra_fields(tmp_path):
    path = write(tmp_path, "c.csv", "id,title,year,genres,director\n1,Heat,1995,Crime|Thriller,Michael Mann\n")
    items = load_catalog_file(path).items
    assert items == [Item(id="1", title="Heat", year=1995, genres=("Crime", "Thriller"), extra={"director": "Michael Mann"})]


def test_bad_rows_are_reported_with_file_row_and_field(tmp_path):
    path = write(tmp_path, "c.csv",
                 "id,title,year\n1,Heat,1995\n,No id,1990\n1,Dup,1999\n3,\"Two\nlines\",abc\n4,Ok,\n")
    with pytest.raises(CatalogError) as err:
        load_catalog_file(path)
    found = {(e.row, e.field) for e in err.value.errors}
    assert found == {(3, "id"), (4, "id"), (5, "year")}
    assert str(path) in str(err.value) and "row 4" in str(err.value) and "duplicate id '1'" in str(err.value)


def test_skip_mode_drops_bad_rows_and_counts_them(tmp_path):
    path = write(tmp_path, "c.csv", "id,title,year\n1,Heat,1995\n2,,1990\n3,Ok,1999.0\n")
    loaded = load_catalog_file(path, on_error="skip")
    assert [i.id for i in loaded.items] == ["1", "3"]
    assert loaded.items[1].year == 1999
    assert [(e.row, e.field) for e in loaded.skipped] == [(3, "title")]


def test_oversize_field_and_wrong_types_in_jsonl(tmp_path):
    rows = [
        {"id": "a", "title": "A", "text": "x" * 200},
        {"id": "b", "title": "B", "genres": "Drama", "cast": [1, 2]},
        {"id": "c", "title": "C", "year": True},
    ]
    path = write(tmp_path, "c.jsonl", "\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    with pytest.raises(CatalogError) as err:
        load_catalog_file(path, max_field_chars=100)
    found = {(e.row, e.field) for e in err.value.errors}
    assert found == {(1, "text"), (2, "cast"), (3, "year"), (4, "-")}


def test_column_mapping_and_parquet(tmp_path):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"movieId": [7, 8], "name": ["X", "Y"], "tags": [["a", "b"], ["c"]],
                             "kind": [["Drama"], []]}), path)
    items = load_catalog_file(path, ColumnMap.parse("id=movieId,title=name,genres=kind")).items
    assert items[0].id == "7" and items[0].genres == ("Drama",) and items[0].extra == {"tags": ["a", "b"]}
    assert items[1].genres == ()


def test_reserved_column_names_are_refused(tmp_path):
    path = write(tmp_path, "c.csv", "id,title,content_hash\n1,A,zzz\n")
    with pytest.raises(CatalogError, match="reserved"):
        load_catalog_file(path)


def test_unsupported_suffix_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_catalog_file(tmp_path / "nope.csv")
    with pytest.raises(CatalogError, match="unsupported file type"):
        load_catalog_file(write(tmp_path, "c.xlsx", "x"))


def test_jsonl_writer_round_trips(tmp_path):
    items = [Item(id="1", title="Heat", year=1995, genres=("Crime",), text="A heist.", extra={"cast": ["Al Pacino"]})]
    assert load_catalog_file(write_catalog_jsonl(items, tmp_path / "out.jsonl")).items == items


def test_bad_column_spec():
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        ColumnMap.parse("id")
