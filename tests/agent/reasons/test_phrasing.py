"""Wording: at most two cards of a list share a sentence pattern, chosen by what is true."""

from __future__ import annotations

from agent.reasons.evidence import data_reasons
from agent.reasons.facts import Fact
from agent.reasons.phrasing import max_shared, pattern, split_reason
from retrieval.items import Item


def _pick(n: int, year: int) -> tuple[Item, list[Fact]]:
    item = Item(id=str(n), title=f"Film {n}", year=year, genres=["Comedy"])
    return item, [Fact("request", "Tom Hanks has the lead, as you asked", "cast", "Tom Hanks", "Tom Hanks has the lead"),
                  Fact("request", f"it is from {year}, and you asked for the 90s", "period", "the 90s",
                       f"it is from {year}"),
                  Fact("summary", f'its summary: "A man named Number {n} goes home."', "whole", "",
                       f"A man named Number {n} goes home.")]


def test_the_pattern_ignores_the_specifics() -> None:
    assert pattern("Tom Hanks has the lead, as you asked.") == pattern("Meg Ryan has the lead, as you asked.")
    assert pattern('Its summary: "A heist."') == pattern('Its summary: "A quiet drama in 1950."')
    assert pattern("It runs 80 minutes.") != pattern("It is rated PG.")
    assert split_reason('Its summary: "Dr. No. A spy." It is from 1962.') == ['Its summary: "Dr. No. A spy."',
                                                                              "It is from 1962."]


def test_five_cards_with_the_same_kind_of_facts_read_differently() -> None:
    picks = [_pick(n, 1990 + n) for n in range(5)]
    reasons = data_reasons(picks)
    assert max_shared(reasons) <= 2, reasons
    assert all("Tom Hanks" in r and "summary" in r.lower() or "overview" in r.lower() for r in reasons)
    assert data_reasons(picks) == reasons  # deterministic
    # without the list, each card takes its preferred wording
    assert max_shared([data_reasons([p])[0] for p in picks]) == 5


def test_popularity_is_a_last_resort() -> None:
    item = Item(id="1", title="Film", year=1990, genres=["Drama"])
    rating = Fact("rating", "it is rated 4.1/5 on average by 1,288 people", "rating",
                  alt=("1,288 people rated it, 4.1/5 on average",))
    wish = Fact("request", "it is a drama, as you asked", "genre", "a drama", "it is a 1990 drama")
    assert "4.1/5" not in data_reasons([(item, [wish, rating])])[0]
    assert data_reasons([(item, [rating])])[0] == "You may like Film (1990): it is rated 4.1/5 on average by 1,288 people."
