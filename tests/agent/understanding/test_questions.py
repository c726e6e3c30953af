"""Reading a question about shown picks: its kind, the picks it points at, and when it is a
question at all (agent.understanding.questions)."""

from __future__ import annotations

import pytest

from agent.understanding.profile import ItemRef
from agent.understanding.questions import asks_about_pick, mentioned_positions, read_pick_question

SHOWN = [ItemRef("us", "The Usual Suspects (1995)"), ItemRef("rd", "Reservoir Dogs (1992)"),
         ItemRef("ts", "Toy Story (1995)"), ItemRef("ts2", "Toy Story 2 (1999)"),
         ItemRef("ce", "Close Encounters of the Third Kind (1977)"),
         ItemRef("ds", "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1963)")]


@pytest.mark.parametrize("message,kind,picks", [
    ("why the second one?", "why", (2,)),
    ("who is in it?", "cast", (1,)),
    ("is Tom Hanks in the fourth one?", "cast", (4,)),
    ("who directed number 3?", "director", (3,)),
    ("how long is it?", "length", (1,)),
    ("can my 8 year old watch it?", "children", (1,)),
    ("what is the second one about?", "plot", (2,)),
    ("did it win anything?", "awards", (1,)),
    ("which is longer, 1 or 3?", "compare", (1, 3)),
    ("how does it compare with the third?", "compare", (1, 3)),
    ("when was the last one made?", "year", (6,)),
    ("tell me about Reservoir Dogs", "about", (2,)),
    ("is it a comedy?", "genre", (1,)),
    ("what language is Dr. Strangelove in?", "language", (6,)),
    ("who wrote it?", "writer", (1,)),
    ("is it any good?", "reviews", (1,)),
])
def test_kind_and_picks(message, kind, picks):
    q = read_pick_question(message, SHOWN, discussed=1)
    assert (q.kind, q.picks) == (kind, picks)


def test_a_title_inside_a_longer_title_and_an_ordinal_inside_a_title():
    assert mentioned_positions("is Tom Hanks in Toy Story 2?", SHOWN) == [4]
    assert mentioned_positions("who is in Toy Story?", SHOWN) == [3]
    assert mentioned_positions("who directed Close Encounters of the Third Kind?", SHOWN) == [5]


def test_it_without_a_pick_discussed_asks_which():
    assert read_pick_question("who directed it?", SHOWN, discussed=0).picks == ()
    assert read_pick_question("who directed it?", SHOWN[:1], discussed=0).picks == (1,)  # one shown: that one
    assert read_pick_question("how does it compare with the first?", SHOWN, discussed=0).picks == ()


def test_details_the_answer_needs():
    assert read_pick_question("is Tom Hanks in it?", SHOWN, 1).person == "Tom Hanks"
    assert read_pick_question("is tom hanks in the first one?", SHOWN).person == "Tom Hanks"
    assert read_pick_question("was it directed by Spielberg?", SHOWN, 1).person == "Spielberg"
    assert read_pick_question("can my 8 year old watch it?", SHOWN, 1).age == 8
    assert read_pick_question("is it under 2 hours?", SHOWN, 1).runtime == (None, 119)
    assert read_pick_question("is the first one a comedy?", SHOWN).genre == "Comedy"
    longest = read_pick_question("which of them is the longest?", SHOWN)
    assert (longest.aspect, longest.most, longest.picks) == ("length", "max", (1, 2, 3, 4, 5, 6))
    older = read_pick_question("which is older, the first or the last?", SHOWN)
    assert (older.aspect, older.most, older.picks) == ("year", "min", (1, 6))
    assert read_pick_question("is the first longer than 2 hours?", SHOWN).kind == "length"  # one pick: a bound


@pytest.mark.parametrize("message,expected", [
    ("who is in it?", True), ("is it ok for kids?", True), ("which is longer, 1 or 3?", True),
    ("did it win anything?", True), ("which of them is the longest?", True),
    ("is there anything else with Tom Hanks?", False), ("what about something older?", False),
    ("can it be shorter?", False), ("which is the best western?", False), ("a comedy from the 90s", False),
    ("any good films before 1970?", False),
])
def test_only_questions_about_the_picks_are_questions(message, expected):
    assert asks_about_pick(message, SHOWN) is expected
    assert asks_about_pick(message, []) is False
