"""What people really say, read by the rule parser (no model, no index): negation scope, open and
relative year ranges, periods, audiences, "like X (but not Y)", "only ...", and the LLM checks
that keep an extraction from inventing a reference or turning "for kids" into "no Children's".

The vocabulary is a small catalog in MovieLens form (titles such as "Matrix, The"); the expected
readings follow the semantics documented in ``eval/request_suite.py``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agent.understanding.rules import parse_rules
from agent.understanding.understander import Understander, merge, named_in, validate_llm
from agent.understanding.vocabulary import vocabulary_from_mirror
from agent.understanding.years import parse_years

ROWS = [
    ("se7en", "Seven (Se7en)", 1995, ["Crime", "Thriller"]), ("matrix", "Matrix, The", 1999, ["Action", "Sci-Fi", "Thriller"]),
    ("toy", "Toy Story", 1995, ["Animation", "Children's", "Comedy"]), ("heat", "Heat", 1995, ["Action", "Crime", "Thriller"]),
    ("alien", "Alien", 1979, ["Action", "Horror", "Sci-Fi", "Thriller"]), ("pulp", "Pulp Fiction", 1994, ["Crime", "Drama"]),
    ("sw4", "Star Wars: Episode IV - A New Hope", 1977, ["Action", "Adventure", "Fantasy", "Sci-Fi"]),
    ("sw5", "Star Wars: Episode V - The Empire Strikes Back", 1980, ["Action", "Adventure", "Drama", "Sci-Fi", "War"]),
    ("corn", "Children of the Corn", 1984, ["Horror", "Thriller"]),
    ("2001", "2001: A Space Odyssey", 1968, ["Drama", "Mystery", "Sci-Fi", "Thriller"]),
    ("hoop", "Hoop Dreams", 1994, ["Documentary"]), ("rio", "Rio Bravo", 1959, ["Western"]),
    ("casablanca", "Casablanca", 1942, ["Drama", "Romance", "War"]),
    ("singin", "Singin' in the Rain", 1952, ["Comedy", "Musical", "Romance"]),
    ("falcon", "Maltese Falcon, The", 1941, ["Film-Noir", "Mystery"]),
    ("clueless", "Clueless", 1995, ["Comedy", "Romance"]), ("babe", "Babe", 1995, ["Children's", "Comedy", "Drama"]),
    ("beauty", "Beauty and the Beast", 1991, ["Animation", "Children's", "Musical"]),
    ("eyes", "For Your Eyes Only", 1981, ["Action"]), ("kids", "Kids", 1995, ["Drama"]),
    ("shining", "Shining, The", 1980, ["Horror"]), ("heist", "Die Hard", 1988, ["Action", "Thriller"]),
]


@pytest.fixture(scope="module")
def vocab():
    mirror = SimpleNamespace(ids=[r[0] for r in ROWS], metas=[{"title": t, "year": y, "genres": g} for _, t, y, g in ROWS])
    return vocabulary_from_mirror(mirror)


def read(message: str, vocab) -> dict[str, Any]:
    ex = parse_rules(message, vocab)
    return {"genres": set(ex.genres), "exclude": set(ex.exclude_genres), "years": (ex.year_min, ex.year_max),
            "liked": [r.item_id for r in ex.liked_items]}


def check(message: str, vocab, genres=(), exclude=(), years=(None, None), liked=()) -> None:
    assert read(message, vocab) == {"genres": set(genres), "exclude": set(exclude), "years": years,
                                    "liked": list(liked)}, message


# --------------------------------------------------------------------------- years
@pytest.mark.parametrize("message, genres, years", [
    ("nothing made after 1970", (), (None, 1970)),  # read the wrong way round before
    ("A war movie, but nothing made after 1970", ("War",), (None, 1970)),
    ("war films, nothing after 1970", ("War",), (None, 1970)),
    ("nothing before 1990", (), (1990, None)),
    ("I don't want anything older than 1990", (), (1990, None)),
    ("not older than 1985", (), (1985, None)),
    ("Science fiction from before 1980", ("Sci-Fi",), (None, 1979)),
    ("anything released after 1995", (), (1996, None)),
    ("films made no later than 1960", (), (None, 1960)),
    ("a musical from 1975 or earlier", ("Musical",), (None, 1975)),
    ("up to 1960 at the latest", (), (None, 1960)),
    ("a thriller from 1990 or later", ("Thriller",), (1990, None)),
    ("a drama made since 1990", ("Drama",), (1990, None)),
    ("something from the 80s or 90s", (), (1980, 1999)),
    ("early 90s, any genre", (), (1990, 1994)),
    ("a late 70s thriller", ("Thriller",), (1975, 1979)),
    ("a horror movie from the eighties", ("Horror",), (1980, 1989)),
    ("'50s sci-fi", ("Sci-Fi",), (1950, 1959)),
    ("Any good films from the '20s?", (), (1920, 1929)),  # the catalog ends in 1999: not the 2020s
    ("the 90s, but nothing after 1995", (), (1990, 1995)),
    ("a comedy made between 1975 and 1985", ("Comedy",), (1975, 1985)),
    ("a film from the golden age of Hollywood", (), (1930, 1959)),
    ("a golden-age Hollywood musical", ("Musical",), (1930, 1959)),
    ("a comedy from the silent era", ("Comedy",), (None, 1929)),
    ("no silent films", (), (1930, None)),
    ("a film made during World War II", (), (1939, 1945)),  # a period, not the War genre
])
def test_years_and_periods(vocab, message, genres, years):
    check(message, vocab, genres=genres, years=years)


def test_a_negated_decade_is_not_read_as_that_decade(vocab):
    assert read("nothing from the 80s", vocab)["years"] == (None, None)
    # a decade after a negated genre belongs to the request, not to the negation
    check("a comedy without romance from the 90s", vocab, genres=("Comedy",), exclude=("Romance",), years=(1990, 1999))


def test_parse_years_keeps_its_contract():
    assert parse_years("nothing made after 1970") == (None, 1970, None)
    assert parse_years("the 20s") == (1920, 1929, None)
    assert parse_years("the 20s", latest=2024) == (2020, 2029, None)
    assert parse_years("older than the last list") == (None, None, "older")


# --------------------------------------------------------------------------- negation scope
@pytest.mark.parametrize("message, genres, exclude", [
    ("absolutely no comedy", (), ("Comedy",)),
    ("Something to watch, absolutely no romances", (), ("Romance",)),
    ("a thriller, but not a horror movie", ("Thriller",), ("Horror",)),
    ("no sci-fi and no fantasy, just a good drama", ("Drama",), ("Sci-Fi", "Fantasy")),
    ("any drama is fine as long as it isn't a romance", ("Drama",), ("Romance",)),
    ("a crime movie that is not a thriller", ("Crime",), ("Thriller",)),
    ("A crime movie, nothing that is a thriller", ("Crime",), ("Thriller",)),
    ("anything but dramas", (), ("Drama",)),
    ("anything except horror", (), ("Horror",)),
    ("an action film, skip the war ones", ("Action",), ("War",)),
    ("A musical, I don't want children's films", ("Musical",), ("Children's",)),
    ("a drama from the 70s, no war films and no romance", ("Drama",), ("War", "Romance")),
    ("I'm not in the mood for horror", (), ("Horror",)),
    ("a non-horror thriller", ("Thriller",), ("Horror",)),
    ("I'm not sure, maybe a comedy", ("Comedy",), ()),  # "not sure" negates nothing
    ("a comedy, nothing scary", ("Comedy",), ("Horror",)),
    ("a thriller that isn't a slasher", ("Thriller",), ("Horror",)),
    ("a scary movie that isn't a slasher", (), ()),  # still a horror film (web chat: it showed Star Wars)
])
def test_negation_ends_with_its_clause(vocab, message, genres, exclude):
    years = read(message, vocab)["years"]
    check(message, vocab, genres=genres, exclude=exclude, years=years)


# --------------------------------------------------------------------------- genre words
@pytest.mark.parametrize("message, genres", [
    ("a rom-com", ("Comedy", "Romance")), ("Any good romantic dramas?", ("Drama", "Romance")),
    ("romantic comedy made after 1985", ("Comedy", "Romance")), ("an action-adventure film", ("Action", "Adventure")),
    ("I feel like a cowboy movie", ("Western",)), ("a good whodunit", ("Mystery",)), ("a gangster film", ("Crime",)),
    ("I'm in the mood for a cartoon", ("Animation",)), ("a romantic movie", ()),  # a mood, not the genre
    ("a comedy or a romance, I don't mind which", ()), ("either a western or a war movie", ()),
    ("an adventure the whole family can watch, from the 80s or 90s", ("Adventure", "Children's")),
])
def test_genre_words(vocab, message, genres):
    assert read(message, vocab)["genres"] == set(genres), message


def test_either_genres_are_an_any_of_constraint(vocab):
    from agent.understanding.profile import InterestProfile
    from agent.understanding.profile_update import apply_extraction

    ex = parse_rules("a comedy or a romance, I don't mind which", vocab)
    assert ex.genres == [] and set(ex.genres_any) == {"Comedy", "Romance"}
    profile = InterestProfile()
    apply_extraction(profile, {}, ex, "a comedy or a romance", [])
    f = profile.to_filters()
    assert set(f.genres_any) == {"Comedy", "Romance"} and "Comedy" in profile.query_text()
    assert f.matches({"genres": ["Romance", "Drama"]}) and not f.matches({"genres": ["Drama"]})
    assert f.to_where() == {"$or": [{"genres": {"$contains": "Comedy"}}, {"genres": {"$contains": "Romance"}}]}


# --------------------------------------------------------------------------- audiences
@pytest.mark.parametrize("message, genres, exclude", [
    ("something for kids", ("Children's",), ()),
    ("something for my 6 year old", ("Children's",), ()),
    ("a film for my six-year-old", ("Children's",), ()),
    ("family night - what should we watch?", ("Children's",), ()),
    ("something the kids can watch", ("Children's",), ()),
    ("something to put on at a children's birthday party", ("Children's",), ()),
    ("something less violent for kids", ("Children's",), ()),  # "less violent" must not swallow "for kids"
    ("Kids movie, but not animated", ("Children's",), ("Animation",)),
    ("not animated", (), ("Animation",)),
    ("a funny animated movie for kids", ("Animation", "Children's"), ()),  # funny stays a wish
    ("my kids love cartoons, what's a good one?", ("Animation", "Children's"), ()),
    ("not for kids, a dark thriller", ("Thriller",), ("Children's",)),
    ("a film for my 16 year old", (), ()),
])
def test_audiences_want_childrens_films(vocab, message, genres, exclude):
    check(message, vocab, genres=genres, exclude=exclude)


# --------------------------------------------------------------------------- "like X (but not Y)"
@pytest.mark.parametrize("message, liked, exclude, years", [
    ("something like Se7en", ["se7en"], (), (None, None)),
    ("more movies like Toy Story", ["toy"], (), (None, None)),
    ("films in the vein of Pulp Fiction", ["pulp"], (), (None, None)),
    ("something like Clueless from the 90s", ["clueless"], (), (1990, 1999)),
    ("if I liked Die Hard, what should I watch next?", ["heist"], (), (None, None)),
    ("like Alien but not horror", ["alien"], ("Horror",), (None, None)),
    ("like Pulp Fiction, but not another crime movie", ["pulp"], ("Crime",), (None, None)),
    ("The Matrix is my favourite - something like it that isn't an action film", ["matrix"], ("Action",), (None, None)),
    # the title's words are not read: no War genre from "Star Wars", no Children's from "Children of the Corn"
    ("I loved Star Wars: A New Hope - something like it that isn't science fiction", ["sw4"], ("Sci-Fi",), (None, None)),
    ("like Star Wars", ["sw4"], (), (None, None)),
    ("like The Empire Strikes Back", ["sw5"], (), (None, None)),
    ("something like Children of the Corn", ["corn"], (), (None, None)),
    ("like 2001: A Space Odyssey", ["2001"], (), (None, None)),  # not the year 2001
    ("a movie like Beauty and the Beast from the 90s", ["beauty"], (), (1990, 1999)),
    ("I loved Heat and Toy Story", ["heat", "toy"], (), (None, None)),
    ("something like the matrx", ["matrix"], (), (None, None)),
])
def test_like_x_is_a_reference(vocab, message, liked, exclude, years):
    check(message, vocab, exclude=exclude, years=years, liked=liked)


def test_like_x_focus_and_disliked_titles(vocab):
    ex = parse_rules("something tense like Se7en, but not horror, from the 90s", vocab)
    assert ex.focus == "tense" and ex.genres == []
    ex = parse_rules("Not Seven (Se7en).", vocab)
    assert [r.item_id for r in ex.disliked_items] == ["se7en"] and not ex.liked_items
    assert parse_rules("I'd like a comedy", vocab).liked_items == []  # "I'd like" is not a reference
    assert parse_rules("I feel like a cowboy movie", vocab).liked_items == []
    assert [r.item_id for r in parse_rules("I love Heat", vocab).liked_items] == ["heat"]


# --------------------------------------------------------------------------- "only", focus
def test_only(vocab):
    check("only documentaries", vocab, genres=("Documentary",))
    check("just show me comedies, nothing else", vocab, genres=("Comedy",))
    check("only films made before 1950", vocab, years=(None, 1949))
    ex = parse_rules("I only want movies from the 1980s.", vocab)
    assert (ex.year_min, ex.year_max) == (1980, 1989) and not ex.liked_items
    assert ex.focus == "film"  # no "only" (For Your Eyes Only), no "movies", no "1980s"


@pytest.mark.parametrize("message, focus", [
    ("Kids movie, but not animated", "Kids"),
    ("a crime thriller from the 90s, nothing with comedy", "crime thriller"),
    ("a tense 90s thriller, not horror", "tense thriller"),
    ("nothing made after 1970, please", "film"),
    ("a film from the golden age of Hollywood", "film"),
    ("Ideally it's a comedy movie too.", "comedy"),
    # "time" is filler ("this time"), but not in "time travel" (the suite showed Rain Man for "travel that's")
    ("a time travel movie that's not a comedy", "time-travel"),
    ("something funny this time", "funny"),
])
def test_focus_carries_the_wish_not_the_constraint_words(vocab, message, focus):
    assert parse_rules(message, vocab).focus == focus


@pytest.mark.parametrize("message, follow_up", [
    ("It should be from between 1992 and 1996.", True), ("It should also be a comedy film.", True),
    ("what about the 80s?", True), ("make it a comedy", True), ("also no horror", True),
    ("I like crime stories", True), ("I love Heat", True), ("I'd like a western", False),
    ("a funny animated movie for kids", False), ("a western from the 50s", False), ("something like Heat", False),
])
def test_follow_up(vocab, message, follow_up):
    assert parse_rules(message, vocab).follow_up is follow_up


@pytest.mark.parametrize("message, new_ask", [
    ("something romantic set in Paris", True), ("something funny about a road trip", True),
    ("anything set in space", True), ("something darker", False), ("something from the 80s", False),
])
def test_a_theme_asked_for_on_its_own_is_a_new_ask(vocab, message, new_ask):
    # the web chat kept "short, nothing above PG, animated" from the last request for "something romantic set in Paris"
    assert parse_rules(message, vocab).new_ask is new_ask


# --------------------------------------------------------------------------- the LLM path
def raw(**over: Any) -> dict[str, Any]:
    out = {"intent": "recommend", "liked_titles": [], "disliked_titles": [], "liked_attributes": [],
           "disliked_attributes": [], "genres": [], "exclude_genres": [], "year_min": None, "year_max": None,
           "refers_to": 0}
    out.update(over)
    return out


class FakeEngine:
    def __init__(self, output: Any) -> None:
        self.output = output

    def generate_json(self, messages, schema, max_tokens=512, timeout_s=None):
        return self.output


def test_an_invented_reference_is_rejected(vocab):
    message = "I only want movies from the 1980s."
    ex = validate_llm(raw(liked_titles=["The Matrix"], year_min=1980, year_max=1989), message, vocab)
    assert not ex.liked_items and "liked_titles:The Matrix" in ex.rejected
    merged, _ = Understander(FakeEngine(raw(liked_titles=["The Matrix"])), reading="full").understand(message, vocab)
    assert not merged.liked_items and (merged.year_min, merged.year_max) == (1980, 1989)
    # a named one passes, typo included
    assert [r.item_id for r in validate_llm(raw(liked_titles=["The Matrix"]), "like the matrx", vocab).liked_items] == ["matrix"]


def test_named_in():
    from agent.understanding.profile import ItemRef

    matrix = ItemRef("matrix", "Matrix, The (1999)")
    assert named_in("something like The Matrix", "The Matrix", matrix)
    assert not named_in("I only want movies from the 1980s.", "The Matrix", matrix)
    sw = ItemRef("sw4", "Star Wars: Episode IV - A New Hope (1977)")
    assert named_in("I loved Star Wars: A New Hope", "Star Wars: A New Hope", sw)
    assert not named_in("a war movie", "Star Wars", sw)


def test_the_llm_cannot_turn_for_kids_into_an_exclusion(vocab):
    message = "a funny animated movie for kids"
    llm = validate_llm(raw(genres=["Animation"], exclude_genres=["Children's"]), message, vocab)
    assert llm.exclude_genres == [] and "exclude_genres:Children's" in llm.rejected
    out = merge(parse_rules(message, vocab), llm)
    assert set(out.genres) == {"Animation", "Children's"} and out.exclude_genres == []


def test_the_rules_win_on_the_direction_of_a_bound(vocab):
    message = "A war movie, but nothing made after 1970"
    out, _ = Understander(FakeEngine(raw(genres=["War"], year_min=1971)), reading="full").understand(message, vocab)
    assert (out.year_min, out.year_max) == (None, 1970) and out.genres == ["War"]


class CountingEngine(FakeEngine):
    calls = 0

    def generate_json(self, messages, schema, max_tokens=512, timeout_s=None):
        self.calls += 1
        return self.output


@pytest.mark.parametrize("message, complete", [
    ("a horror film from the 80s", True),
    ("A war movie, but nothing made after 1970", True),
    ("something tense like Se7en, but not horror, from the 90s", True),
    ("kids movie, but not animated", True),
    ("I only want movies from the 1980s.", True),
    ("a movie about a heist with a twist ending", False),   # "heist", "twist", "ending": no rule reads them
    ("a 90s comedy set in a boarding school", False),
    ("hello there", False),                                 # chitchat: nothing to read, nothing to skip
])
def test_the_llm_reading_is_skipped_only_when_the_rules_read_every_word(vocab, message, complete):
    assert parse_rules(message, vocab).complete is complete
    engine = CountingEngine(raw())
    Understander(engine, reading="full").understand(message, vocab)
    assert engine.calls == (0 if complete or message == "hello there" else 1)


def test_more_like_the_first_one_needs_no_llm_reading(vocab):
    """The ordinal is a reference to a shown pick: the rules read the whole message (measured: the
    LLM reading of it cost 36-43 s on 2 cores in `recchat bench ui-latency`)."""
    from agent.understanding.profile import ItemRef

    ex = parse_rules("more like the first one", vocab, [ItemRef("1", "Toy Story (1995)"), ItemRef("2", "Heat (1995)")])
    assert ex.intent == "refine" and ex.refers_to == 1 and ex.complete
