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
    ("a film nominated for lots of oscars that won none", {"oscar_nominations": (5, None), "oscars_won": (0, 0)}, {}),
    ("something with several oscar nominations", {"oscar_nominations": (3, None)}, {}),
    ("a long epic about war", {"runtime_min": (140, None)}, {}),
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


@pytest.mark.parametrize("said, one_of, none_of, fields", [
    ("a french film", {"primary_language": ("French",)}, {}, {}),
    ("something japanese", {"primary_language": ("Japanese",)}, {}, {}),
    ("a spanish-language film", {"primary_language": ("Spanish",)}, {}, {}),
    ("anything in german please", {"primary_language": ("German",)}, {}, {}),
    ("a chinese martial arts movie", {"primary_language": ("Mandarin", "Cantonese", "Chinese", "Standard Chinese",
                                                           "Putonghua")}, {}, {}),
    ("a british comedy", {}, {}, {"country": "United Kingdom"}),
    ("something from hong kong", {}, {}, {"country": "Hong Kong"}),
    ("a foreign film, not in english", {}, {"primary_language": ("English",)}, {}),
    ("an american werewolf in london", {}, {}, {}),  # a title, not an origin
    ("a film about the french revolution", {}, {}, {}),  # a theme, not a language
])
def test_origin_phrases(said, one_of, none_of, fields):
    facets = read_facets(said)
    assert (facets.one_of, facets.none_of, facets.fields) == (one_of, none_of, fields)


@pytest.mark.parametrize("said, rule", [
    ("a film the critics loved", "critics"), ("a critically acclaimed horror film", "critics"),
    ("an acclaimed war film from before 1970", "critics"), ("a critics' favourite from the 90s", "critics"),
    ("little-known but highly rated", "underrated"), ("a hidden gem i've probably never heard of", "underrated"),
    ("an obscure 70s film that's actually good", "underrated"), ("something overlooked from the 80s", "underrated"),
    ("one of the highest rated films of all time", "top_rated"), ("a top-rated war movie", "top_rated"),
    ("an unacclaimed mess", None), ("a film about a critic", None),
])
def test_acclaim_phrases(said, rule):
    facets = read_facets(said)
    assert facets.acclaim == rule
    if rule == "underrated" and "good" in said:  # the quality half is read with it, not left as retrieval text
        assert any(said[a:b].endswith("good") for a, b in facets.spans)


def test_none_of_fails_without_the_field_and_describes_itself():
    c = Constraints(none_of={"primary_language": ["English"]}, acclaim="underrated")
    f = c.to_filters()
    assert f.matches({"primary_language": "French"})
    assert not f.matches({"primary_language": "English"})
    assert not f.matches({})  # unknown is not "not in English"
    assert c.describe() == ["not in English", "little-known but well rated"]
    assert not c.is_empty() and Constraints().is_empty()


def test_no_subtitles_means_in_english() -> None:
    assert read_facets("a comedy without subtitles").one_of == {"primary_language": ("English",)}
    assert read_facets("a thriller in english").one_of == {"primary_language": ("English",)}
    assert read_facets("a thriller not in english").one_of == {}  # none_of English instead
