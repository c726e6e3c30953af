"""agent.understanding.profile_update: how messages and edits change the profile (pure logic: no model, no index).

Messages are read by the real rule parser (``parse_rules``) over a small catalog vocabulary, so
these tests cover the path a chat turn takes without an LLM.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agent.understanding.extraction import Extraction
from agent.understanding.profile import InterestProfile, ItemRef
from agent.understanding.profile_update import apply_extraction, edited_profile, label_year
from agent.understanding.rules import parse_rules
from agent.understanding.vocabulary import vocabulary_from_mirror
from retrieval.items import Item

ROWS = [("se7en", "Seven (Se7en)", 1995, ["Crime", "Thriller"]), ("matrix", "The Matrix", 1999, ["Action", "Sci-Fi"]),
        ("toy", "Toy Story", 1995, ["Animation", "Children's", "Comedy"]), ("heat", "Heat", 1995, ["Action", "Crime"]),
        ("shining", "The Shining", 1980, ["Horror"]), ("annie", "Annie Hall", 1977, ["Comedy", "Romance"]),
        ("western", "Rio Bravo", 1959, ["Western"])]
ITEMS = {i: Item(id=i, title=t, year=y, genres=tuple(g)) for i, t, y, g in ROWS}


@pytest.fixture(scope="module")
def vocab():
    mirror = SimpleNamespace(ids=[r[0] for r in ROWS], metas=[{"title": t, "year": y, "genres": g} for _, t, y, g in ROWS])
    return vocabulary_from_mirror(mirror)


def lookup(ids):
    return {i: ITEMS[i] for i in ids if i in ITEMS}


def say(profile, titles, message, vocab, shown=()):
    """Apply ``message``; returns the constraints it dropped."""
    return apply_extraction(profile, titles, parse_rules(message, vocab, shown), message, shown)


def test_constraints_persist_and_exclusions_accumulate(vocab):
    p, titles = InterestProfile(), {}
    say(p, titles, "something tense like Se7en, but not horror, from the 90s", vocab)
    c = p.constraints
    assert (c.year_min, c.year_max, c.exclude_genres) == (1990, 1999, ["Horror"])
    assert [r.item_id for r in p.liked_items] == ["se7en"] and titles["se7en"] == "Seven (Se7en) (1995)"
    assert p.intent.startswith("something tense")
    say(p, titles, "no comedy please", vocab)
    assert c.exclude_genres == ["Horror", "Comedy"] and (c.year_min, c.year_max) == (1990, 1999)
    say(p, titles, "a western from the 50s", vocab)
    assert c.genres == ["Western"] and (c.year_min, c.year_max) == (1950, 1959)


def test_wanting_a_genre_lifts_its_exclusion(vocab):
    p = InterestProfile()
    apply_extraction(p, {}, Extraction(exclude_genres=["Comedy", "Comedy"]), "", ())
    assert p.constraints.exclude_genres == ["Comedy"]
    apply_extraction(p, {}, Extraction(genres=["Comedy"]), "", ())
    assert p.constraints.genres == ["Comedy"] and p.constraints.exclude_genres == []


def test_disliked_attribute_removes_the_same_liked_one():
    p = InterestProfile(liked_attributes=["Slow Burn", "twists"])
    apply_extraction(p, {}, Extraction(disliked_attributes=["slow burn"]), "", ())
    assert p.liked_attributes == ["twists"] and p.disliked_attributes == ["slow burn"]


def test_older_and_newer_move_past_the_median_of_the_last_list():
    shown = [ItemRef("a", "A (1990)"), ItemRef("b", "B (1994)"), ItemRef("c", "C (1998)")]
    titles = {r.item_id: r.title for r in shown}
    p = InterestProfile()
    p.constraints.year_min = 1993
    apply_extraction(p, titles, Extraction(intent="refine", refine="older"), "older", shown)
    # median 1994 -> up to 1993; the lower bound 1993 still fits
    assert (p.constraints.year_min, p.constraints.year_max) == (1993, 1993)
    older = [ItemRef("d", "D (1980)"), ItemRef("e", "E (1985)"), ItemRef("f", "F (1990)")]
    titles.update({r.item_id: r.title for r in older})
    apply_extraction(p, titles, Extraction(intent="refine", refine="older"), "older", older)
    assert (p.constraints.year_min, p.constraints.year_max) == (1975, 1984)  # min moved: a 10-year window
    apply_extraction(p, titles, Extraction(intent="refine", refine="newer"), "newer", shown)
    assert (p.constraints.year_min, p.constraints.year_max) == (1995, 2004)


def test_refine_without_years_in_titles_changes_nothing():
    shown = [ItemRef("a", "Untitled")]
    p = InterestProfile()
    apply_extraction(p, {"a": "Untitled"}, Extraction(intent="refine", refine="older"), "older", shown)
    assert (p.constraints.year_min, p.constraints.year_max) == (None, None)


def test_more_like_the_second_one_likes_it(vocab):
    shown = [ItemRef("heat", "Heat (1995)"), ItemRef("matrix", "The Matrix (1999)")]
    p, titles = InterestProfile(), {r.item_id: r.title for r in shown}
    ex = parse_rules("more like the second one", vocab, shown)
    apply_extraction(p, titles, ex, "more like the second one", shown)
    assert ex.intent == "refine" and ex.refers_to == 2
    assert [(r.item_id, r.said) for r in p.liked_items] == [("matrix", "more like #2")]
    assert p.intent == ""  # a refinement keeps the standing request


def test_label_year():
    assert label_year("Heat (1995)") == 1995 and label_year("Seven (Se7en) (1995) ") == 1995
    assert label_year("Untitled") is None and label_year("1995") is None


def test_edits_are_validated_against_the_catalog(vocab):
    p = InterestProfile(liked_items=[ItemRef("heat", "Heat (1995)", "heat", 90.0)])
    new = edited_profile(p, {"genres": ["comedy"], "exclude_genres": ["Horror", "comedy"], "year_min": "1970",
                             "liked_items": ["heat", "toy"], "soft": ["  ", "rainy day "]}, vocab, lookup)
    assert new.constraints.genres == [] and new.constraints.exclude_genres == ["Horror", "Comedy"]
    assert new.constraints.year_min == 1970 and new.soft == ["rainy day"]
    assert [(r.item_id, r.title, r.said) for r in new.liked_items] == [("heat", "Heat (1995)", "heat"),
                                                                      ("toy", "Toy Story (1995)", "")]
    assert p.constraints.year_min is None and len(p.liked_items) == 1  # the original is untouched


@pytest.mark.parametrize("edits, message", [
    ({"genres": ["Jazz"]}, "unknown genre 'Jazz'"),
    ({"year_min": 1700}, "between 1880 and 2030"),
    ({"year_max": "soon"}, "must be a year"),
    ({"year_min": 2000, "year_max": 1990}, "year_min is after year_max"),
    ({"liked_items": ["heat", "nope"]}, r"not in the catalog: \['nope'\]"),
])
def test_bad_edits_raise_and_say_what_is_wrong(vocab, edits, message):
    with pytest.raises(ValueError, match=message):
        edited_profile(InterestProfile(), edits, vocab, lookup)


def test_clearing_a_year_bound(vocab):
    p = InterestProfile()
    p.constraints.year_min, p.constraints.year_max = 1990, 1999
    new = edited_profile(p, {"year_min": "", "year_max": None}, vocab, lookup)
    assert (new.constraints.year_min, new.constraints.year_max) == (None, None)


# --------------------------------------------------------------------------- keep or drop across requests
def test_a_new_request_drops_the_constraints_it_does_not_restate(vocab):
    # the observed failure: the 90s bound of an unrelated earlier request stayed in force
    p, titles = InterestProfile(), {}
    say(p, titles, "a tense 90s thriller, not horror", vocab)
    c = p.constraints
    assert (c.genres, c.exclude_genres, c.year_min, c.year_max) == (["Thriller"], ["Horror"], 1990, 1999)
    ex = parse_rules("a funny animated movie for kids", vocab)
    dropped = apply_extraction(p, titles, ex, "a funny animated movie for kids", ())
    assert set(c.genres) == {"Animation", "Children's"} and c.exclude_genres == []
    assert (c.year_min, c.year_max) == (None, None)
    assert set(dropped) == {"from 1990 to 1999", "no Horror"}  # the reply can say what no longer holds
    assert "tense" in p.liked_attributes  # taste is kept


def test_a_new_period_is_a_new_request_a_bare_reference_narrows(vocab):
    p, titles = InterestProfile(), {}
    say(p, titles, "a western, no comedy", vocab)
    say(p, titles, "something from the 70s", vocab)
    c = p.constraints
    assert (c.genres, c.exclude_genres, c.year_min, c.year_max) == ([], [], 1970, 1979)
    dropped = say(p, titles, "something like Heat", vocab)  # "which 70s films?": like Heat
    assert (c.year_min, c.year_max) == (1970, 1979) and [r.item_id for r in p.liked_items] == ["heat"] and not dropped
    say(p, titles, "a thriller like Heat from the 90s", vocab)  # a reference with a period: new request
    assert (c.genres, c.year_min, c.year_max) == (["Thriller"], 1990, 1999)


@pytest.mark.parametrize("follow_up, expected", [
    ("no comedy please", (["Thriller"], ["Horror", "Comedy"], 1990, 1999)),
    ("It should be from between 1992 and 1996.", (["Thriller"], ["Horror"], 1992, 1996)),
    ("It should also be a crime film.", (["Crime"], ["Horror"], 1990, 1999)),
    ("what about the 80s?", (["Thriller"], ["Horror"], 1980, 1989)),
    ("also nothing before 1995", (["Thriller"], ["Horror"], 1995, 1999)),
    ("Maybe with Tom Hanks in it.", (["Thriller"], ["Horror"], 1990, 1999)),
    ("I like crime stories", (["Crime"], ["Horror"], 1990, 1999)),  # a taste, not a new request
])
def test_a_follow_up_keeps_the_standing_constraints(vocab, follow_up, expected):
    p, titles = InterestProfile(), {}
    say(p, titles, "a 90s thriller, not horror", vocab)
    ex = parse_rules(follow_up, vocab)
    assert apply_extraction(p, titles, ex, follow_up, ()) == []
    c = p.constraints
    assert (c.genres, c.exclude_genres, c.year_min, c.year_max) == expected


def test_older_after_a_request_keeps_its_genres(vocab):
    shown = [ItemRef("heat", "Heat (1995)"), ItemRef("se7en", "Seven (Se7en) (1995)"), ItemRef("matrix", "The Matrix (1999)")]
    p, titles = InterestProfile(), {r.item_id: r.title for r in shown}
    say(p, titles, "an action movie from the 90s, not horror", vocab)
    ex = parse_rules("something older", vocab, shown)
    apply_extraction(p, titles, ex, "something older", shown)
    c = p.constraints
    assert ex.intent == "refine" and (c.genres, c.exclude_genres) == (["Action"], ["Horror"])
    assert (c.year_min, c.year_max) == (1990, 1994)  # below the median 1995; the lower bound still fits


def test_for_kids_after_a_no_childrens_request(vocab):
    p, titles = InterestProfile(), {}
    say(p, titles, "not for kids, a dark thriller", vocab)
    assert p.constraints.exclude_genres == ["Children's"]
    say(p, titles, "something for my 6 year old", vocab)
    assert p.constraints.genres == ["Children's"] and p.constraints.exclude_genres == []


@pytest.mark.parametrize("message, new", [
    ("a heist film with a twist ending", True),
    ("show me some movie about space travel", True),
    ("I'm looking for a quiet film about grief", True),
    ("anything with a great soundtrack", False),
    ("I like crime stories", False),
    ("also a film with a great score", False),
])
def test_a_fresh_ask_for_a_kind_of_film_starts_over(vocab, message, new):
    p, titles = InterestProfile(), {}
    say(p, titles, "kids movie, but not animated", vocab)
    dropped = say(p, titles, message, vocab)
    c = p.constraints
    if new:
        assert (c.genres, c.exclude_genres) == ([], []) and set(dropped) >= {"no Animation"}
    else:
        assert c.exclude_genres == ["Animation"] and not dropped  # a follow-up keeps what stands


def test_a_new_mood_word_replaces_the_standing_one(vocab):
    p, titles = InterestProfile(), {}
    say(p, titles, "something funny and quirky for my kids", vocab)
    assert "funny" in p.liked_attributes and "quirky" in p.liked_attributes
    say(p, titles, "something scary from the 70s instead", vocab)
    assert "scary" in p.liked_attributes and "funny" not in p.liked_attributes
    assert "quirky" in p.liked_attributes  # other taste words still accumulate
