"""Bring-your-own interactions: valid files load; problems name file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.data import InteractionsError, load_custom, read_interactions_file

IDS = {"m1", "m2", "m3"}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_and_without_timestamps(tmp_path: Path):
    df = read_interactions_file(write(tmp_path / "i.csv", "user_id,item_id,timestamp,rating\nu1,m1,10,4\nu1,m2,5,3\n"), IDS)
    assert df["user_id"].tolist() == ["u1", "u1"] and df["timestamp"].tolist() == [10.0, 5.0]
    assert df["row"].tolist() == [0, 1] and df["rating"].tolist() == [4.0, 3.0]
    bare = read_interactions_file(write(tmp_path / "b.csv", "user_id,item_id\nu1,m1\nu2,m3\n"), IDS)
    assert bare["timestamp"].isna().all() and bare["rating"].isna().all()


def test_errors_name_file_row_and_field(tmp_path: Path):
    path = write(tmp_path / "bad.csv", "user_id,item_id,timestamp\nu1,m1,10\n,m2,x\nu2,zz,11\n")
    with pytest.raises(InteractionsError) as err:
        read_interactions_file(path, IDS)
    text = str(err.value)
    assert f"{path}, row 3, field 'user_id': missing user id" in text
    assert "row 3, field 'timestamp'" in text and "row 4, field 'item_id': item 'zz' is not in the catalog" in text


def test_missing_column_mixed_timestamps_and_bad_jsonl(tmp_path: Path):
    with pytest.raises(InteractionsError, match="missing required column 'item_id'"):
        read_interactions_file(write(tmp_path / "c.csv", "user_id,movie\nu1,m1\n"), IDS)
    with pytest.raises(InteractionsError, match="every row or on none"):
        read_interactions_file(write(tmp_path / "m.csv", "user_id,item_id,timestamp\nu1,m1,1\nu1,m2,\n"), IDS)
    lines = [json.dumps({"user_id": "u1", "item_id": "m1"}), "{not json", json.dumps([1])]
    with pytest.raises(InteractionsError) as err:
        read_interactions_file(write(tmp_path / "j.jsonl", "\n".join(lines) + "\n"), IDS)
    assert "row 2, field '-': invalid JSON" in str(err.value) and "row 3" in str(err.value)
    with pytest.raises(InteractionsError, match="unsupported file type"):
        read_interactions_file(write(tmp_path / "x.tsv", "a"), IDS)
    with pytest.raises(FileNotFoundError):
        read_interactions_file(tmp_path / "nope.csv", IDS)


def test_load_custom_with_catalog(tmp_path: Path):
    catalog = write(tmp_path / "cat.jsonl", "".join(json.dumps({"id": i, "title": f"Movie {i}", "genres": ["Drama"]}) + "\n"
                                                    for i in sorted(IDS)))
    inter = write(tmp_path / "inter.csv", "user_id,item_id\nu1,m1\nu1,m2\nu1,m3\n")
    ds = load_custom(inter, catalog)
    assert ds.name == "inter" and len(ds.items) == 3 and not ds.has_timestamps
    assert ds.stats()["interactions"] == 3
