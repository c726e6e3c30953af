"""The constraint request suite: its size and split, exact expectations of the quoted failures,
the parse check, the runner's counting, the plot, and every request against real MovieLens-1M."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from agent.understanding.lexicon import GENRE_WORDS
from eval.constraints import HardConstraints
from eval.request_suite import (HAND_WRITTEN, KINDS, RequestOutcome, SuiteRequest, generated_requests, parse_matches,
                                plot_by_kind, request_suite, resolve_reference_ids, run_suite)
from retrieval.items import Item
from retrieval.retriever import Filters

GENRES = sorted(set(GENRE_WORDS.values()))


def by_text(text: str) -> SuiteRequest:
    [request] = [r for r in HAND_WRITTEN if r.text == text]
    return request


# --------------------------------------------------------------------------- the suite itself

def test_sizes_ids_and_kinds() -> None:
    assert len(GENRES) == 18 and "Children's" in GENRES and "Film-Noir" in GENRES
    suite = request_suite(GENRES)
    generated = [r for r in suite if not r.hand_written]
    assert len(suite) >= 200 and len(generated) >= 150 and len(HAND_WRITTEN) >= 66
    assert len({r.id for r in suite}) == len(suite)
    assert {r.kind for r in suite} == set(KINDS)
    assert not any(r.held_out or r.reference_titles for r in generated)
    kinds = Counter(r.kind for r in generated)
    assert set(kinds) == {"genre", "genres_all", "genres_any", "decade", "year_range", "exclusion", "combined"}
    assert kinds["genre"] == 18 and min(kinds.values()) >= 10
    assert all(r.text and r.text[0].isupper() and not r.expected.is_empty() for r in generated)


def test_held_out_third_is_stratified() -> None:
    held = [r for r in HAND_WRITTEN if r.held_out]
    assert all(r.hand_written for r in HAND_WRITTEN)
    assert len(held) * 3 == len(HAND_WRITTEN)
    kinds = {r.kind for r in HAND_WRITTEN}
    assert kinds >= {"negation_scope", "audience", "period", "like_x", "like_x_but_not_y", "only", "exclusion",
                     "combined"}
    assert {r.kind for r in held} == kinds == {r.kind for r in HAND_WRITTEN if not r.held_out}
    for kind in kinds:  # every third of each kind, in file order
        flags = [r.held_out for r in HAND_WRITTEN if r.kind == kind]
        assert flags == [(i + 1) % 3 == 0 for i in range(len(flags))], kind


def test_deterministic_for_a_seed() -> None:
    assert request_suite(GENRES, seed=3) == request_suite(GENRES, seed=3)
    a, b = generated_requests(GENRES, seed=0), generated_requests(GENRES, seed=1)
    assert [r.text for r in a] != [r.text for r in b]
    # the same constraint keeps its id across seeds
    ids_a = {r.id: r.expected for r in a}
    assert all(ids_a[r.id] == r.expected for r in b if r.id in ids_a)
    assert request_suite(GENRES, seed=1)[-len(HAND_WRITTEN):] == list(HAND_WRITTEN)


def test_every_hand_written_expectation_is_non_empty_and_uses_catalog_genres() -> None:
    for r in HAND_WRITTEN:
        e = r.expected
        assert not e.is_empty(), r.text
        assert set(e.genres_all) | set(e.genres_any) | set(e.exclude_genres) <= set(GENRES), r.text
        assert not set(e.genres_all) & set(e.exclude_genres), r.text
        assert set(r.reference_titles) <= set(e.exclude_items), r.text
        assert bool(r.reference_titles) == r.kind.startswith("like_x"), r.text
        if e.year_min is not None and e.year_max is not None:
            assert e.year_min <= e.year_max, r.text


def test_generated_plausibility_and_two_genre_wording() -> None:
    for r in generated_requests(GENRES, seed=0):
        assert "Film-Noir" not in r.expected.genres_all or r.expected.year_min is None, r.text
        if r.kind == "genres_any":
            assert len(r.expected.genres_any) == 2 and not r.expected.genres_all
            assert any(w in r.text.lower() for w in ("either", "whichever", "don't mind", "one of the two")), r.text
    # a vocabulary the tables do not know: genres alone, "either" pairs and exclusions only
    odd = generated_requests(["Anime", "Telenovela", "Biopic"], seed=0)
    assert odd and {r.kind for r in odd} >= {"genre", "genres_any", "decade", "exclusion"}
    dated = [r for r in odd if r.expected.year_min is not None or r.expected.year_max is not None]
    assert dated and not any(r.expected.genres_all or r.expected.genres_any for r in dated)
    assert "An anime film, please" in [r.text for r in odd] or any("an anime film" in r.text for r in odd)
    assert len({r.id for r in odd}) == len(odd)


@pytest.mark.parametrize(("text", "expected", "refs"), [
    ("something tense like Se7en, but not horror, from the 90s",
     HardConstraints(year_min=1990, year_max=1999, exclude_genres=("Horror",), exclude_items=("Seven (Se7en) (1995)",)),
     ("Seven (Se7en) (1995)",)),
    ("A war movie, but nothing made after 1970", HardConstraints(year_max=1970, genres_all=("War",)), ()),
    ("Kids movie, but not animated", HardConstraints(genres_all=("Children's",), exclude_genres=("Animation",)), ()),
    ("Science fiction from before 1980", HardConstraints(genres_all=("Sci-Fi",), year_max=1979), ()),
    ("a funny animated movie for kids", HardConstraints(genres_all=("Animation",), genres_any=("Children's",)), ()),
    ("I only want movies from the 1980s.", HardConstraints(year_min=1980, year_max=1989), ()),
    ("a tense 90s thriller, not horror",
     HardConstraints(genres_all=("Thriller",), year_min=1990, year_max=1999, exclude_genres=("Horror",)), ()),
    ("nothing made after 1970, please", HardConstraints(year_max=1970), ()),
    ("absolutely no comedy", HardConstraints(exclude_genres=("Comedy",)), ()),
    ("a thriller, but not a horror movie", HardConstraints(genres_all=("Thriller",), exclude_genres=("Horror",)), ()),
    ("war films, nothing after 1970", HardConstraints(genres_all=("War",), year_max=1970), ()),
    ("something for my 6 year old", HardConstraints(genres_any=("Children's",)), ()),
    ("family night - what should we watch?", HardConstraints(genres_any=("Children's",)), ()),
    ("a film from the golden age of Hollywood", HardConstraints(year_min=1930, year_max=1959), ()),
    ("something from the 80s or 90s", HardConstraints(year_min=1980, year_max=1999), ()),
    ("a silent era classic", HardConstraints(year_max=1929), ()),
    ("like Alien but not horror", HardConstraints(exclude_genres=("Horror",), exclude_items=("Alien (1979)",)),
     ("Alien (1979)",)),
    ("only documentaries", HardConstraints(genres_all=("Documentary",)), ()),
])
def test_quoted_failures_and_key_phrasings(text: str, expected: HardConstraints, refs: tuple[str, ...]) -> None:
    request = by_text(text)
    assert request.expected == expected and request.reference_titles == refs and request.hand_written


# --------------------------------------------------------------------------- parse_matches

def test_parse_matches_years_exclusions_and_all_genres() -> None:
    war = by_text("A war movie, but nothing made after 1970").expected
    assert parse_matches(Filters(year_max=1970, genres=("War",)), war) is True
    assert parse_matches(Filters(year_min=1970, genres=("War",)), war) is False  # scope read the wrong way round
    assert parse_matches(Filters(year_max=1969, genres=("War",)), war) is False
    assert parse_matches(Filters(year_max=1970), war) is False  # genre lost
    assert parse_matches(Filters(year_max=1970, genres=("War", "Drama")), war) is False  # genre invented
    assert parse_matches(None, war) is None
    se7en = by_text("something tense like Se7en, but not horror, from the 90s").expected
    assert parse_matches(Filters(year_min=1990, year_max=1999, exclude_genres=("Horror",)), se7en) is True
    assert parse_matches(Filters(year_min=1990, year_max=1999, exclude_genres=("Horror",), genres=("Thriller",)),
                         se7en) is False  # "tense" is a mood, not a hard genre
    assert parse_matches(Filters(year_min=1990, year_max=1999), se7en) is False
    two = HardConstraints(exclude_genres=("Animation", "Musical"))
    assert parse_matches(Filters(exclude_genres=("Musical", "Animation")), two) is True  # order does not matter
    assert parse_matches(Filters(exclude_genres=("Musical", "Animation"), fields={"director": "X"}), two) is False


def test_parse_matches_any_genres() -> None:
    kids = by_text("something the kids can watch").expected
    assert parse_matches(Filters(genres=("Children's",)), kids) is True
    assert parse_matches(Filters(), kids) is False  # one wanted genre: the filter can state it, so it must
    assert parse_matches(Filters(exclude_genres=("Children's",)), kids) is False  # "for kids" excluding Children's
    funny = by_text("a funny animated movie for kids").expected
    assert parse_matches(Filters(genres=("Animation", "Children's")), funny) is True
    assert parse_matches(Filters(genres=("Animation", "Children's", "Comedy")), funny) is False
    either = HardConstraints(genres_any=("Comedy", "Romance"))
    assert parse_matches(Filters(), either) is True  # left to the ranking
    assert parse_matches(Filters(genres=("Romance",)), either) is True  # narrowed to one option
    assert parse_matches(Filters(genres=("Comedy", "Romance")), either) is False  # "or" read as "and"
    assert parse_matches(Filters(genres=("Drama",)), either) is False


# --------------------------------------------------------------------------- run_suite

def item(i: str, year: int | None, *genres: str) -> Item:
    return Item(id=i, title=f"Film {i}", year=year, genres=genres)


SE7EN = Item(id="Seven (Se7en) (1995)", title="Seven (Se7en)", year=1995, genres=("Crime", "Thriller"))


def test_run_suite_counts_by_kind_and_split() -> None:
    war = by_text("A war movie, but nothing made after 1970")  # negation_scope, not held out
    se7en = by_text("something tense like Se7en, but not horror, from the 90s")  # like_x_but_not_y
    kids = by_text("Kids movie, but not animated")
    held = next(r for r in HAND_WRITTEN if r.held_out and r.kind == "only")
    assert not war.held_out and not se7en.held_out
    custom = SuiteRequest("c1", "a 90s thriller, excluding one film", "combined",
                          HardConstraints(genres_all=("Thriller",), year_min=1990, year_max=1999), held_out=True)
    shown = {
        war.id: [item("w1", 1957, "War", "Drama"), item("w2", 1985, "War"), item("w3", None, "War")],  # 2 bad years
        se7en.id: [SE7EN, item("s1", 1997, "Horror", "Thriller"), item("s2", 1992, "Crime")],  # reference, horror
        kids.id: [item("k1", 1993, "Children's", "Comedy"), item("k2", 1994, "Children's")],  # all fine
        held.id: [],  # empty list
        custom.id: [item("c-ok", 1995, "Thriller"), item("c-ref", 1996, "Thriller")],  # c-ref excluded by the caller
    }
    parsed = {war.id: Filters(year_min=1970, genres=("War",)), se7en.id: Filters(year_min=1990, year_max=1999,
              exclude_genres=("Horror",)), kids.id: Filters(genres=("Children's",), exclude_genres=("Animation",)),
              held.id: None, custom.id: Filters(genres=("Thriller",), year_min=1990, year_max=1999)}

    def respond(r: SuiteRequest) -> RequestOutcome:
        items = shown[r.id]
        return RequestOutcome(shown=items, parsed=parsed[r.id], seconds=0.5 if r.held_out else 1.0,
                              popularity_percentiles=[float(10 * (k + 1)) for k in range(len(items))],
                              reference_ids=("c-ref",) if r.id == custom.id else ())

    res = run_suite([war, se7en, kids, held, custom], respond, progress=False)
    json.dumps(res)  # JSON-able
    o = res["overall"]
    assert (o["requests"], o["picks"], o["picks_ok"]) == (5, 10, 5)
    assert o["pick_satisfaction"] == pytest.approx(0.5)
    assert o["requests_fully_satisfied"] == pytest.approx(1 / 5) and o["requests_fully_satisfied_nonempty"] == 0.25
    assert o["empty_lists"] == 1 and o["parsed_requests"] == 4 and o["parse_accuracy"] == pytest.approx(3 / 4)
    assert o["median_popularity_percentile"] == 20.0 and o["median_seconds"] == 1.0
    k = res["by_kind"]
    neg = k["negation_scope"]
    assert (neg["picks"], neg["picks_ok"], neg["parse_accuracy"]) == (3, 1, 0)
    assert (k["like_x_but_not_y"]["picks_ok"], k["like_x_but_not_y"]["parse_accuracy"]) == (1, 1.0)
    assert k["audience"]["pick_satisfaction"] == 1.0 and k["audience"]["requests_fully_satisfied"] == 1.0
    only = k["only"]
    assert only["empty_lists"] == 1 and only["pick_satisfaction"] is None and only["parse_accuracy"] is None
    assert (k["combined"]["picks"], k["combined"]["picks_ok"]) == (2, 1)
    assert list(k) == [kind for kind in KINDS if kind in k]  # report order
    s = res["by_split"]
    assert (s["held_out"]["requests"], s["held_out"]["picks"], s["held_out"]["picks_ok"]) == (2, 2, 1)
    assert (s["not_held_out"]["requests"], s["not_held_out"]["picks"], s["not_held_out"]["picks_ok"]) == (3, 8, 4)
    assert s["held_out"]["median_seconds"] == 0.5
    assert res["by_source"]["hand_written"]["requests"] == 4 and res["by_source"]["generated"]["requests"] == 1
    rows = {row["id"]: row for row in res["rows"]}
    assert rows[kids.id]["ok"] and not rows[held.id]["ok"] and rows[held.id]["parse_ok"] is None
    assert rows[war.id]["parse_ok"] is False and rows[war.id]["n_ok"] == 1
    assert any("year None" in v for v in rows[war.id]["violations"])
    assert any("excluded item" in v for v in rows[se7en.id]["violations"])
    assert any("has excluded genre Horror" in v for v in rows[se7en.id]["violations"])
    assert any("excluded item" in v for v in rows[custom.id]["violations"])
    assert len(res["examples"]) == 5 and all(e.split(" ")[0] in rows for e in res["examples"])


def test_plot_by_kind_writes_png(tmp_path: Path) -> None:
    requests = [by_text("absolutely no comedy"), by_text("only documentaries")]

    def respond(r: SuiteRequest) -> RequestOutcome:
        return RequestOutcome(shown=[item("d", 1994, "Documentary")], parsed=None, seconds=0.1)

    res = run_suite(requests, respond, progress=False)
    single, several = tmp_path / "one.png", tmp_path / "sub" / "two.png"
    plot_by_kind(res, single)
    plot_by_kind({"chat": res, "recommend": res}, several)
    for path in (single, several):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


# --------------------------------------------------------------------------- real MovieLens-1M

@pytest.fixture(scope="module")
def ml1m() -> list[Item]:
    from retrieval.movielens import parse_catalog

    return parse_catalog("movielens-1m")


def test_real_catalog_references_and_every_request_can_be_met(ml1m: list[Item]) -> None:
    assert GENRES == sorted({g for i in ml1m for g in i.genres})
    suite = request_suite(GENRES, seed=0)
    refs = resolve_reference_ids(suite, ml1m)
    by_id = {i.id: i for i in ml1m}
    for r in HAND_WRITTEN:  # every "like X" title is a real ML-1M item, already excluded by id
        assert refs[r.id] == r.reference_titles and all(t in by_id for t in r.reference_titles)
    for r in suite:  # every request has at least 5 ML-1M films that fit (a 5-pick list can be met)
        constraints = r.expected.merged(exclude_items=(*r.expected.exclude_items, *refs[r.id]))
        assert sum(constraints.satisfied(i) for i in ml1m) >= 5, (r.id, r.text)
    with pytest.raises(ValueError, match="not in the catalog"):
        resolve_reference_ids([SuiteRequest("x", "like Nope", "like_x", HardConstraints(), ("Nope (1999)",))], ml1m)
    # references also resolve by label / normalised title in a catalog with other ids
    renamed = [Item(id=f"m{k}", title=i.title, year=i.year, genres=i.genres) for k, i in enumerate(ml1m)]
    alien = by_text("like Alien but not horror")
    [alien_id] = resolve_reference_ids([alien], renamed)[alien.id]
    assert {i.id: i.title for i in renamed}[alien_id] == "Alien"
