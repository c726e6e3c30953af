"""Moods and occasions read by stated rules (agent.understanding.moods)."""

from __future__ import annotations

import pytest

from agent.understanding.moods import BY_NAME, MOODS, mood_reading, read_moods
from agent.understanding.negation import negation_scopes
from agent.understanding.rules import parse_rules
from agent.understanding.vocabulary import TitleIndex, Vocabulary

GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
VOCAB = Vocabulary(GENRES, {}, TitleIndex.build([("1", "Heat", 1995)]))


def _names(text: str) -> list[str]:
    low = text.lower()
    return list(dict.fromkeys(m.name for m, _ in read_moods(low, negation_scopes(low))))


@pytest.mark.parametrize("text, names", [
    ("something to cheer me up after a breakup", ["cheering you up", "getting over a breakup"]),
    ("a comedy to get over my divorce", ["getting over a breakup"]),
    ("I'm feeling sad, cheer me up", ["cheering you up"]),  # the sadness is the person's, not the film's
    ("my wife hates violence, a date night film please", ["nothing violent", "a date night"]),
    ("a cosy film for a rainy Sunday afternoon", ["something cosy"]),
    ("I need a good cry", ["a good cry"]),
    ("something scary but not gory", ["something scary", "nothing gory"]),
    ("something mindless and fun, I just want to switch my brain off", ["switching your brain off", "something fun"]),
    ("a film for Christmas evening with the family", ["Christmas"]),
    ("something inspiring to get me motivated", ["something inspiring"]),
    ("a laugh-out-loud comedy for a night in with friends", ["a good laugh", "with friends"]),
    ("nothing scary please", []),  # a negated mood is not wished (the rules exclude Horror instead)
    ("a chilling ghost story", ["something scary"]),
    ("a relaxing film", ["something cosy"]),  # "chill" is cosy, "chilling" scary
    ("a western from the 50s", []),
    ("a cult classic from the 80s", ["a cult classic"]),
    ("a movie about a cult", []),  # a theme (a sect), not a cult film
    ("a film to watch with my wife and kids", []),  # a family evening, not a date
])
def test_read_moods(text: str, names: list[str]) -> None:
    assert _names(text) == names


def test_a_mood_phrase_is_read_not_left_for_retrieval() -> None:
    ex = parse_rules("a cosy film for a rainy Sunday afternoon", VOCAB)
    assert ex.moods == ["something cosy"] and ex.complete and ex.new_ask
    assert "rainy" not in ex.focus.lower() and "afternoon" not in ex.focus.lower()


def test_asked_genres_are_never_lowered_and_towards_wins_over_away() -> None:
    scary = mood_reading(["something scary", "nothing violent"], GENRES)
    assert {"Horror", "Thriller"} <= set(scary.towards) and not {"Horror", "Thriller"} & set(scary.away)
    assert "Action" in scary.away and scary.shun
    asked = mood_reading(["a good cry"], GENRES, asked=["Comedy"])  # "a sad comedy": Comedy is asked for
    assert "Comedy" not in asked.away and "Drama" in asked.towards


def test_only_catalog_genres_and_the_lowest_rating_weight() -> None:
    reading = mood_reading(["switching your brain off", "something fun"], ("Action", "Comedy"))
    assert reading.towards == ("Action", "Comedy") and reading.away == () and reading.rating == -1.0
    assert mood_reading(["no such mood"], GENRES) == mood_reading([], GENRES)


def test_every_mood_is_well_formed() -> None:
    assert len(BY_NAME) == len(MOODS)
    for mood in MOODS:
        assert set(mood.towards) <= set(GENRES) and set(mood.away) <= set(GENRES), mood.name
        assert not set(mood.towards) & set(mood.away), mood.name
