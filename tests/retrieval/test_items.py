import pytest
from pydantic import ValidationError

from retrieval.items import Item


def test_document_holds_title_year_genres_and_enrichment():
    item = Item(id="1", title="Se7en", year=1995, genres="Crime|Thriller", extra={"director": "David Fincher"})
    doc = item.document()
    assert doc.startswith("Se7en (1995)")
    assert "Crime, Thriller" in doc and "Director: David Fincher." in doc


def test_year_not_repeated_when_in_title():
    assert Item(id="1", title="Heat (1995)", year=1995).document() == "Heat (1995)"


def test_metadata_round_trip_and_hash_changes_with_content():
    item = Item(id="1", title="Heat", year=1995, genres=("Crime",), text="LA heist", extra={"cast": ["Al Pacino"]})
    assert Item.from_metadata("1", item.metadata()) == item
    assert item.content_hash() != item.model_copy(update={"text": "NY heist"}).content_hash()


def test_invalid_items():
    with pytest.raises(ValidationError):
        Item(id=" ", title="x")
    with pytest.raises(ValidationError, match="reserved"):
        Item(id="1", title="x", extra={"year": 3})
