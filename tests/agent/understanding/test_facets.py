"""agent.understanding.facets: length, certificate and Oscar phrases become exact filters."""

from __future__ import annotations

import pytest

from agent.understanding.facets import UP_TO_PG, UP_TO_PG13, read_facets
from agent.understanding.profile import Constraints
from retrieval.retriever import Filters


@pytest.mark.parametrize("said, ranges, one_of", [
    ("a movie under 90 minutes", {"runtime_min": (None, 89)}, {}),
    ("something short, i only have an hour and a half", {"runtime_min": (None, 90)}, {}),
    ("something short", {"runtime_min": (None, 95)}, {}),
    ("an epic over three hours", {"runtime_min": (181, None)}, {}),
    ("a film over two and a half hours", {"runtime_min": (151, None)}, {}),
    ("a quick one before bed, 80 minutes max", {"runtime_min": (None, 80)}, {}),
    ("nothing r-rated", {}, {"certificate": UP_TO_PG13}),
    ("pg for my 10 year old", {}, {"certificate": UP_TO_PG}),
    ("a g-rated movie for my toddler", {}, {"certificate": ("G",)}),
    ("an r-rated horror film", {}, {"certificate": ("R",)}),
    ("an oscar winner", {"oscars_won": (1, None)}, {}),
    ("a film that won several oscars", {"oscars_won": (3, None)}, {}),
    ("a movie that won a lot of oscars", {"oscars_won": (5, None)}, {}),
    ("an oscar-nominated film from the 70s", {"oscar_nominations": (1, None)}, {}),
    ("a film with at least 10 oscar nominations", {"oscar_nominations": (10, None)}, {}),
    ("a short story adaptation", {}, {}),
    ("a rainy sunday film", {}, {}),
])
def test_phrases(said, ranges, one_of):
    facets = read_facets(said)
    assert facets.ranges == ranges and facets.one_of == one_of


def test_filters_hold_on_facts_and_fail_without_them():
    f = Constraints(ranges={"runtime_min": [None, 89]}, one_of={"certificate": ["G", "PG"]}).to_filters()
    assert f.matches({"runtime_min": 85, "certificate": "PG"})
    assert not f.matches({"runtime_min": 95, "certificate": "PG"})
    assert not f.matches({"certificate": "PG"})  # no runtime: not shown for a length wish
    assert not f.matches({"runtime_min": 85})
    assert f.to_where() == {"$and": [{"runtime_min": {"$lte": 89}}, {"certificate": {"$in": ["G", "PG"]}}]}
    assert Filters(**{**f.to_dict(), "genres": (), "exclude_genres": (), "genres_any": ()}).matches(
        {"runtime_min": 80, "certificate": "G"})
    assert Constraints(ranges={"runtime_min": [None, 89]}).describe() == ["running minutes at most 89"]
