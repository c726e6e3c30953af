import pytest

from agent.reasons.grounding import GroundingChecker, normalise, split_sentences
from retrieval.items import Item

SE7EN = Item(id="se7en", title="Se7en", year=1995, genres=["Crime", "Thriller"],
             text="Two detectives hunt a serial killer.",
             extra={"director": "David Fincher", "cast": ["Brad Pitt", "Morgan Freeman"]})
USER = "Something tense like The Silence of the Lambs, from the 90s, no horror please."


@pytest.fixture(scope="module")
def checker():
    return GroundingChecker()


def ungrounded(checker, reason, item=SE7EN, user=USER):
    return checker.check(reason, item, user).ungrounded


def test_fully_grounded_reason(checker):
    reason = ("A tense crime thriller from 1995 directed by David Fincher. Like The Silence of the Lambs, "
              "it follows detectives hunting a killer; Brad Pitt and Morgan Freeman star in this 90s film.")
    rep = checker.check(reason, SE7EN, USER)
    assert rep.grounded and rep.kept == reason
    kinds = {c.kind for c in rep.claims}
    assert kinds == {"year", "genre", "name", "decade"}


@pytest.mark.parametrize("reason, bad", [
    ("Directed by Steven Spielberg.", "Steven Spielberg"),
    ("It won an Oscar for best picture.", "Oscar"),
    ("A classic from 1987.", "1987"),
    ("A gritty 80s movie.", "80s"),
    ("A warm romantic comedy.", "comedy"),
    ('Fans of "Heat" will love it.', "Heat"),
    ("It stars Brad Pitt and Tom Cruise.", "Tom Cruise"),
])
def test_ungrounded_claims(checker, reason, bad):
    assert bad in ungrounded(checker, reason)


def test_user_words_are_evidence(checker):
    assert checker.check("You asked for no horror, and this has none.", SE7EN, USER).grounded  # "horror" in user text
    assert checker.check("A 1990s pick, as you asked.", SE7EN, "").grounded  # item year in the decade


def test_sentence_start_words_are_not_names(checker):
    assert checker.check("Tense and dark. Gripping until the end.", SE7EN, "").grounded
    assert checker.check("Starring Brad Pitt, it is gripping.", SE7EN, "").grounded
    assert "Hitchcock" in ungrounded(checker, "This Hitchcock-style film.", SE7EN, "")


def test_offending_sentence_dropped_rest_kept(checker):
    rep = checker.check("A crime thriller by David Fincher. It won three Oscars in 1996.", SE7EN, "")
    assert not rep.grounded and rep.kept == "A crime thriller by David Fincher."
    assert set(rep.ungrounded) == {"1996", "Oscars"}
    rep = checker.check("Directed by Christopher Nolan.", SE7EN, "")
    assert rep.kept is None


def test_genre_plurals_and_possessives(checker):
    assert checker.check("If you like thrillers, this is for you.", SE7EN, "").grounded
    assert checker.check("David Fincher's best.", SE7EN, "").grounded
    assert "comedies" in ungrounded(checker, "One of the best comedies.", SE7EN, "")


def test_custom_genre_vocabulary():
    item = Item(id="b", title="Dune", year=1965, genres=["Space Opera"])
    checker = GroundingChecker(genres=["Space Opera", "Cozy Mystery"])
    assert checker.check("A grand space opera.", item, "").grounded
    assert not checker.check("A cozy mystery.", item, "").grounded


def test_normalise_and_split():
    assert normalise("Amélie's  Café!") == "amelie cafe"
    assert split_sentences("One. Two! 1995 was good. ok") == ["One.", "Two!", "1995 was good. ok"]
