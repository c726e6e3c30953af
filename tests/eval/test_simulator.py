"""The simulated person, on the real MovieLens-100K catalog (enriched with director and cast)."""

from __future__ import annotations

import random

import pytest

from eval.simulator import OPENING_TEMPLATES, SimulatedPerson, leaks, title_variants


@pytest.fixture(scope="module")
def items(ml100k_items):
    return list(ml100k_items)


def talk(person: SimulatedPerson, catalog: list, turns: int = 5, seed: int = 0) -> list[str]:
    """A whole conversation against random lists that never hold the target."""
    rng = random.Random(seed)
    person.opening()
    for _ in range(turns - 1):
        shown = rng.sample([i for i in catalog if i.id != person.target.id], 5)
        person.react(shown)
    return person.messages


def test_templates_are_varied():
    assert len(set(OPENING_TEMPLATES)) >= 15
    assert all("{g}" in t and "{d}" in t for t in OPENING_TEMPLATES)


def test_no_message_ever_names_the_target(items):
    """Every item of the catalog as the hidden target, both starts, five turns: no leak, and the
    own films named in a ``new`` start are the person's, never the target."""
    rng = random.Random(1)
    own_pool = [i.title for i in items]
    checked = 0
    for target in items:
        for start in ("known", "new"):
            own = rng.sample(own_pool, 2)
            person = SimulatedPerson(target, start=start, own_films=own, seed=3)
            for message in talk(person, items, seed=checked):
                assert not leaks(message, target.title), (target.title, message)
            assert person.leaked == 0
            checked += 1
    assert checked == 2 * len(items) > 3000


def test_the_leak_guard_catches_titles_and_close_variants():
    assert leaks("I want something like seven, not scary", "Seven (Se7en) (1995)")
    assert leaks("maybe SE7EN?", "Seven (Se7en) (1995)")
    assert leaks("I loved Usual Suspects", "Usual Suspects, The (1995)")
    assert leaks("something like the shawshank redemtion", "Shawshank Redemption, The (1994)")  # a typo
    assert not leaks("a crime thriller from the 90s", "Seven (Se7en) (1995)")
    assert title_variants("Seven (Se7en) (1995)") == ["seven se7en", "seven", "se7en"]
    assert "usual suspects" in title_variants("Usual Suspects, The (1995)")


def test_deterministic_for_a_seed(items):
    target = next(i for i in items if i.extra.get("director") and len(i.genres) >= 2)
    a = talk(SimulatedPerson(target, seed=7), items, seed=5)
    b = talk(SimulatedPerson(target, seed=7), items, seed=5)
    c = talk(SimulatedPerson(target, seed=8), items, seed=5)
    assert a == b and a != c


def test_reveals_only_true_attributes_and_the_target_keeps_what_was_stated(items):
    for target in items[:400]:
        person = SimulatedPerson(target, seed=0)
        talk(person, items)
        assert person.stated.satisfied(target), (target.title, person.stated)
        for fact in person.revealed:
            kind, _, value = fact.partition(" ")
            if kind == "genre":
                assert value in target.genres
            elif kind == "decade":
                assert target.year // 10 * 10 == int(value.rstrip("s"))
            elif kind == "years":
                lo, hi = map(int, value.split("-"))
                assert lo <= target.year <= hi
            else:
                assert value in target.extra.get(kind, ()), (kind, value, target.extra)


def test_reactions_follow_the_list(items):
    target = next(i for i in items if i.year and i.year < 1960 and "Drama" in i.genres and "Comedy" not in i.genres)
    person = SimulatedPerson(target, seed=0)
    person.opening()
    newer = [i for i in items if i.year and i.year > 1990 and "Comedy" in i.genres][:5]
    said = [person.react(newer) for _ in range(6)]
    # each reaction is one of: rule out a shown film, "older" (the list is newer), no comedy
    assert any("older" in m.lower() for m in said) or any("comedy" in m.lower() for m in said)
    assert "Comedy" in person.stated.exclude_genres or person.stated.exclude_items or any("older" in m.lower() for m in said)
    assert person.found([target] + newer) and not person.found(newer)
