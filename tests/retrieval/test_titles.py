"""retrieval.titles: the one title normaliser and the one "Title (Year)" label (no model, no index)."""

import pytest

from retrieval.items import Item
from retrieval.titles import display_title, normalise_title


@pytest.mark.parametrize(("text", "key"), [
    ("Amélie", "amelie"),
    ("Léon: The Professional", "leon the professional"),
    ("Tom & Jerry", "tom and jerry"),
    ("Usual Suspects, The (1995)", "the usual suspects"),
    ("Usual Suspects, The", "the usual suspects"),
    ("Die Hard (1988) 2", "die hard 2"),
    ("Seven (Se7en)", "seven se7en"),
    ("  Mr.  Smith  Goes to Washington! ", "mr smith goes to washington"),
    ("Ｔｏｋｙｏ Story", "tokyo story"),  # full-width letters fold to ASCII
    ("Søren", "s ren"),  # no ASCII decomposition: the letter separates words
    ("Monty Python’s Life of Brian", "monty python s life of brian"),  # curly apostrophe
    ("Monty Python's Life of Brian", "monty python s life of brian"),  # = straight apostrophe
    ("1995", "1995"),  # a bare number is kept; only "(YYYY)" is a year
    ("Good, the Bad and the Ugly, The", "the good the bad and the ugly"),
    ("Postino, Il", "postino il"),  # only English articles are moved
    ("", ""),
    ("(1995)", ""),
])
def test_normalise_title(text, key):
    assert normalise_title(text) == key


def test_normalise_title_is_idempotent_and_joins_both_spellings():
    for text in ["Usual Suspects, The (1995)", "Amélie", "Tom & Jerry"]:
        assert normalise_title(normalise_title(text)) == normalise_title(text)
    assert normalise_title("the usual suspects") == normalise_title("Usual Suspects, The (1995)")


@pytest.mark.parametrize(("title", "year", "label"), [
    ("Heat", 1995, "Heat (1995)"),
    ("Heat", None, "Heat"),
    ("Heat (1995)", 1995, "Heat (1995)"),  # MovieLens-1M ids carry the year already
    ("Heat (1995)", 1996, "Heat (1995) (1996)"),
    ("Seven (Se7en)", 1995, "Seven (Se7en) (1995)"),
])
def test_display_title(title, year, label):
    assert display_title(title, year) == label


def test_item_label_is_the_display_title_and_heads_the_document():
    item = Item(id="1", title="Heat", year=1995, genres=("Crime",))
    assert item.label == "Heat (1995)" == display_title(item.title, item.year)
    assert item.document().startswith(item.label + " ")
    assert Item(id="2", title="Heat").label == "Heat"
