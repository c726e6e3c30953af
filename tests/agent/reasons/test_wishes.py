"""Met wishes: a fact only for a wish the pick provably meets, in the person's terms."""

from __future__ import annotations

from agent.reasons.wishes import met_wishes, theme_words
from agent.understanding.profile import Constraints
from retrieval.items import Item

HEAT = Item(id="h", title="Heat", year=1995, genres=["Action", "Crime", "Thriller"], extra={
    "cast": ["Al Pacino", "Robert De Niro", "Val Kilmer"], "director": ["Michael Mann"], "runtime_min": 170,
    "certificate": "R", "oscars_won": 0, "oscar_nominations": 0, "keywords": ["bank robbery", "heist"],
    "overview": "A group of professional bank robbers start to feel the heat from police."})


def _keys(facts):
    return [f.key for f in facts]


def test_length_is_said_against_the_bound_the_person_gave() -> None:
    facts = met_wishes(HEAT, Constraints(ranges={"runtime_min": [None, 179]}), message="under 180 minutes")
    assert facts[0].proof == "it runs 170 minutes" and facts[0].ask == "under 180 minutes"
    assert met_wishes(HEAT, Constraints(ranges={"runtime_min": [None, 149]}), message="under 150 minutes") == []


def test_people_are_named_with_their_billing() -> None:
    lead = met_wishes(HEAT, Constraints(fields={"cast": "Robert De Niro"}))
    assert lead[0].proof == "Robert De Niro has the lead"
    assert met_wishes(HEAT, Constraints(fields={"cast": "Val Kilmer"}))[0].proof == "Val Kilmer is in the cast"
    assert met_wishes(HEAT, Constraints(fields={"cast": "Tom Hanks"})) == []
    assert met_wishes(HEAT, Constraints(fields={"director": "Michael Mann"}))[0].ask == "a film by Michael Mann"


def test_certificate_oscars_period_and_genre() -> None:
    facts = met_wishes(HEAT, Constraints(one_of={"certificate": ["G", "PG", "PG-13", "R"]}, genres=["Crime"],
                                         year_min=1990, year_max=1999, ranges={"oscars_won": [0, 0]}))
    assert _keys(facts) == ["oscars", "certificate", "genre", "period"]
    assert facts[1].proof == "it is rated R" and facts[2].proof == "it is a 1995 crime film"
    assert facts[3].ask == "the 90s" and facts[0].proof == "it won no Oscar"
    assert met_wishes(HEAT, Constraints(ranges={"oscars_won": [1, None]})) == []  # not an Oscar winner
    assert met_wishes(HEAT, Constraints(one_of={"certificate": ["G", "PG"]})) == []


def test_the_genre_proof_names_the_year_only_when_a_period_was_asked() -> None:
    # "it is a 1995 crime film, as you asked" read as if the person had asked for 1995 (web chat)
    assert met_wishes(HEAT, Constraints(genres=["Crime"]))[0].proof == "it is a crime film"
    assert met_wishes(HEAT, Constraints(genres=["Crime"], year_min=1990))[0].proof == "it is a 1995 crime film"


def test_theme_words_are_found_in_keywords_then_the_overview() -> None:
    themes = theme_words("a heist movie with Al Pacino", Constraints(fields={"cast": "Al Pacino"}))
    assert themes == ["heist"]
    fact = met_wishes(HEAT, Constraints(), themes=themes)[0]
    assert fact.key == "theme" and fact.proof == 'its keywords include "heist"'
    fact = met_wishes(HEAT, Constraints(), themes=["robbers"])[0]
    assert fact.proof == 'its overview mentions "robbers"'  # not a keyword: found in the overview
    assert met_wishes(HEAT, Constraints(), themes=["spaceship"]) == []


def test_genre_pairs_read_as_people_say_them():
    from agent.reasons.wishes import genre_noun

    assert genre_noun(["Comedy", "Romance"]) == "a romantic comedy"  # was "a comedy romance"
    assert genre_noun(["Animation", "Children's"]) == "an animated children's film"
    assert genre_noun(["Animation"]) == "an animated film" and genre_noun(["Romance"]) == "a romance"
    assert genre_noun(["Comedy", "Horror"]) == "a comedy horror film"


def test_two_actors_are_named_together_only_when_both_are_in_the_cast() -> None:
    both = met_wishes(HEAT, Constraints(fields={"cast": ["Al Pacino", "Robert De Niro"]}))
    assert both[0].text == "Al Pacino and Robert De Niro are both in the cast, as you asked"
    assert met_wishes(HEAT, Constraints(fields={"cast": ["Al Pacino", "Meg Ryan"]})) == []


def test_a_mood_fact_says_how_the_genre_serves_it_and_addresses_the_person() -> None:
    from agent.reasons.phrasing import wish_sentences
    from agent.understanding.moods import mood_reading

    fits = mood_reading(["edge of your seat"], ["Action", "Crime", "Thriller"]).fits
    facts = met_wishes(HEAT, Constraints(), moods=fits)
    assert [(f.key, f.ask, f.proof) for f in facts] == [("mood", "edge of your seat", "it is an action thriller")]
    sentences = wish_sentences(facts)
    assert all("you" in s.lower() for s in sentences) and not any("as you asked" in s for s in sentences)
    assert met_wishes(HEAT, Constraints(genres=["Crime"]), moods=fits)[0].key == "genre"  # an asked genre comes first
