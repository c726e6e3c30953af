"""Catalog files as people have them: other CSV delimiters and 8-bit encodings are detected (or
given), said in a note, and read the same way by the loader, the scan and the stream; a file read
with the wrong delimiter gets one error that names it. Real files in tmp_path, no mocks."""

from __future__ import annotations

import csv
import io

import pytest

from retrieval.catalog import (
    CatalogError,
    ColumnMap,
    detect_catalog_format,
    iter_catalog_batches,
    load_catalog_file,
    parse_delimiter,
    scan_catalog_file,
)

ROWS = [("1", "Amélie", "2001", "Comedy|Romance"), ("2", "Lock, Stock and Two Smoking Barrels", "1998", "Crime"),
        ("3", "Léon: The Professional", "1994", "Action|Crime|Drama")]


def write_rows(tmp_path, name, delimiter, encoding="utf-8", rows=ROWS, header=("id", "title", "year", "genres")):
    """A catalog as a spreadsheet saves it: ``delimiter`` between cells, a cell quoted only when
    it holds the delimiter, CRLF line ends, in ``encoding``."""
    path = tmp_path / name
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter).writerows([header, *rows])
    path.write_bytes(text.getvalue().encode(encoding))
    return path


def titles(items):
    return [i.title for i in items]


def streamed(path, **kwargs):
    return [item for batch in iter_catalog_batches(path, batch_size=2, **kwargs) for item in batch.items]


@pytest.mark.parametrize(("delimiter", "shown"), [(";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_other_delimiters_are_detected_and_named(tmp_path, delimiter, shown):
    path = write_rows(tmp_path, "films.csv", delimiter)
    loaded = load_catalog_file(path)
    assert titles(loaded.items) == [r[1] for r in ROWS]  # the comma in a title is text, not a column break
    assert loaded.items[0].year == 2001 and loaded.items[0].genres == ("Comedy", "Romance")
    assert loaded.format.delimiter == delimiter
    assert loaded.format.notes == (f"films.csv: columns are separated by {shown} (detected; --delimiter overrides)",)
    scan = scan_catalog_file(path)  # the streaming path reads it the same way
    assert (scan.items, scan.bad_rows, scan.format) == (3, 0, loaded.format)
    assert streamed(path) == loaded.items


def test_comma_files_stay_comma_without_a_note(tmp_path):
    path = tmp_path / "films.csv"
    path.write_text('id,title,genres\n1,"Heat; the film",Crime|Thriller\n2,"A|B",Drama\n', encoding="utf-8")
    loaded = load_catalog_file(path)
    assert titles(loaded.items) == ["Heat; the film", "A|B"] and loaded.items[0].genres == ("Crime", "Thriller")
    assert loaded.format.delimiter == "," and loaded.format.notes == ()


def test_semicolon_file_of_many_rows_loads_every_row(tmp_path):
    """The case that was reported: a ';' file was '271,379 rows missing id'. Detection reads only the
    head; every row of the file is read with what it found."""
    rows = [(str(n), f"Film {n}, part {n % 3}", str(1950 + n % 70), "Drama") for n in range(5000)]
    path = write_rows(tmp_path, "big.csv", ";", rows=rows)
    scan = scan_catalog_file(path)
    assert (scan.items, scan.bad_rows, scan.format.delimiter) == (5000, 0, ";")
    assert len(streamed(path)) == 5000


def test_delimiter_option_overrides_detection(tmp_path):
    path = write_rows(tmp_path, "films.csv", ";")
    forced = load_catalog_file(path, delimiter=";")
    assert titles(forced.items) == [r[1] for r in ROWS] and forced.format.notes == ()  # given, not detected
    tab = write_rows(tmp_path, "tab.csv", "\t")
    assert titles(load_catalog_file(tab, delimiter="tab").items) == [r[1] for r in ROWS]
    assert titles(streamed(tab, delimiter="\\t")) == [r[1] for r in ROWS]
    # a file with ';' in a single header column, read as ','-separated on purpose: split as asked
    odd = tmp_path / "odd.csv"
    odd.write_text("id,title\n1,Heat; Extended cut\n", encoding="utf-8")
    assert titles(load_catalog_file(odd, delimiter=",").items) == ["Heat; Extended cut"]


def test_wrong_delimiter_is_one_error_naming_file_and_delimiter(tmp_path):
    path = write_rows(tmp_path, "films.csv", ";")
    for read in (lambda: load_catalog_file(path, delimiter=","),
                 lambda: scan_catalog_file(path, delimiter=","),
                 lambda: list(iter_catalog_batches(path, delimiter=","))):
        with pytest.raises(CatalogError) as err:
            read()
        text = str(err.value)
        assert len(err.value.errors) == 1, text  # not one "missing id" per row
        assert f"cannot split the columns of catalog {path}" in text
        assert "'id;title;year;genres'" in text and "looks ';'-separated" in text
        assert "pass --delimiter ';'" in text and "missing id" not in text


def test_header_without_the_id_column_is_one_error(tmp_path):
    rows = [(str(n), f"Film {n}") for n in range(300)]
    path = write_rows(tmp_path, "films.csv", ",", rows=rows, header=("movieId", "name"))
    with pytest.raises(CatalogError) as err:
        load_catalog_file(path, on_error="skip")
    assert [(e.row, e.field) for e in err.value.errors] == [(1, "id"), (1, "title")]
    assert "no column 'id' in the header (its columns: 'movieId', 'name')" in str(err.value)
    assert "--columns" in str(err.value)
    mapped = load_catalog_file(path, ColumnMap.parse("id=movieId,title=name"))
    assert len(mapped.items) == 300


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_8bit_file_is_read_with_the_right_text_and_a_note(tmp_path, encoding):
    path = write_rows(tmp_path, "films.csv", ",", encoding=encoding)
    loaded = load_catalog_file(path)
    assert titles(loaded.items) == ["Amélie", "Lock, Stock and Two Smoking Barrels", "Léon: The Professional"]
    assert loaded.format.encoding == "cp1252"
    assert loaded.format.notes == ("films.csv: not UTF-8; read as cp1252 (detected; --encoding overrides), "
                                   "e.g. row 2: Amélie",)
    assert streamed(path) == loaded.items and scan_catalog_file(path).format == loaded.format


def test_cp1252_punctuation_and_latin1_only_bytes(tmp_path):
    smart = tmp_path / "smart.csv"
    smart.write_bytes(b"id,title\n1,Schindler\x92s List \x96 1993\n")  # Windows quote and dash
    assert titles(load_catalog_file(smart).items) == ["Schindler\u2019s List \u2013 1993"]
    odd = tmp_path / "odd.csv"  # 0x81 is not a cp1252 character: the file is latin-1
    odd.write_bytes(b"id,title\n1,Caf\xe9\n2,X\x81\n")
    loaded = load_catalog_file(odd)
    assert loaded.format.encoding == "latin-1" and "read as latin-1" in loaded.format.notes[0]
    assert titles(loaded.items) == ["Café", "X\x81"]


def test_encoding_option_overrides_detection(tmp_path):
    path = write_rows(tmp_path, "films.csv", ";", encoding="cp1252")
    loaded = load_catalog_file(path, encoding="latin-1", delimiter=";")
    assert titles(loaded.items)[0] == "Amélie" and loaded.format.notes == ()
    cyrillic = tmp_path / "ru.csv"
    cyrillic.write_bytes("id,title\n1,Сталкер\n".encode("cp1251"))
    assert titles(load_catalog_file(cyrillic, encoding="cp1251").items) == ["Сталкер"]
    with pytest.raises(CatalogError) as err:  # told UTF-8, and it is not: the file and row
        load_catalog_file(path, encoding="utf-8")
    assert f"{path}, row 2, field '-': not valid utf-8 (byte 0xe9" in str(err.value)
    assert "leave --encoding out" in str(err.value)


def test_encoding_and_delimiter_detected_together_with_utf16_and_jsonl(tmp_path):
    both = write_rows(tmp_path, "both.csv", ";", encoding="cp1252")
    fmt = detect_catalog_format(both)
    assert (fmt.encoding, fmt.delimiter, len(fmt.notes)) == ("cp1252", ";", 2)
    utf16 = write_rows(tmp_path, "u16.csv", "\t", encoding="utf-16")  # Excel's "Unicode text": BOM + tabs
    loaded = load_catalog_file(utf16)
    assert titles(loaded.items) == [r[1] for r in ROWS]
    assert (loaded.format.encoding, loaded.format.delimiter) == ("utf-16", "\t")
    jsonl = tmp_path / "films.jsonl"
    jsonl.write_bytes(b'{"id": "1", "title": "Am\xe9lie"}\n')
    loaded = load_catalog_file(jsonl)
    assert titles(loaded.items) == ["Amélie"] and loaded.format.encoding == "cp1252"


def test_bad_rows_still_name_file_row_and_field(tmp_path):
    rows = [("1", "Amélie", "2001", "Comedy"), ("2", "", "1998", "Crime"), ("3", "Léon", "soon", "Drama"),
            ("1", "Amélie again", "2001", "Comedy")]
    path = write_rows(tmp_path, "films.csv", ";", encoding="latin-1", rows=rows)
    with pytest.raises(CatalogError) as err:
        load_catalog_file(path)
    text = str(err.value)
    assert {(e.row, e.field) for e in err.value.errors} == {(3, "title"), (4, "year"), (5, "id")}
    assert f"{path}, row 4, field 'year': expected an integer year, got 'soon'" in text
    assert "duplicate id '1' (first seen in row 2)" in text
    scan = scan_catalog_file(path)
    assert (scan.items, scan.bad_rows) == (1, 3)


def test_bad_options_are_value_errors(tmp_path):
    assert [parse_delimiter(x) for x in (";", "tab", "\\t", "\t", "|", "pipe", "semicolon")] == \
        [";", "\t", "\t", "\t", "|", "|", ";"]
    for bad in ("ab", "", '"', "x"):
        with pytest.raises(ValueError, match="bad delimiter"):
            parse_delimiter(bad)
    path = write_rows(tmp_path, "films.csv", ",")
    with pytest.raises(ValueError, match="unknown text encoding 'klingon'"):
        load_catalog_file(path, encoding="klingon")
    with pytest.raises(ValueError, match="unknown text encoding 'base64'"):
        load_catalog_file(path, encoding="base64")
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"id": "1", "title": "A"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="applies to .csv files"):
        load_catalog_file(jsonl, delimiter=";")
