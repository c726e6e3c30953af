"""The free-form request suite: its invariants, the pick checker on real MovieLens-1M items and on
made-up facts, the runner's counting, the plot and report, and the protocol end to end (rules
pipeline, a small slice, the session's ML-100K index)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from agent.understanding.lexicon import GENRE_WORDS
from eval.freeform import (ACCLAIM_RULES, HELD_OUT_EVERY, KINDS, NOT_CHECKABLE, NOT_SATISFIED, SATISFIED, Expected,
                           FreeformRequest, RatingStats, available_facts, check_pick, interleaved, judge,
                           load_suite, plot_freeform, resolve_relevant, run_freeform, suite_rules, unchecked_facts)
from eval.request_suite import RequestOutcome
from retrieval.items import Item

SUITE = load_suite()
BY_TEXT = {r.text: r for r in SUITE}
GENRES = set(GENRE_WORDS.values())
QUOTED = ("movies with Tom Hanks from the 90s", "a slow, philosophical sci-fi film", "an underrated gem from the 80s",
          "something to cheer me up after a breakup", "my wife hates violence, a date night film please",
          "a heist film with a twist ending")


# --------------------------------------------------------------------------- the suite itself

def test_size_kinds_ids_and_texts() -> None:
    assert len(SUITE) >= 80
    assert {r.kind for r in SUITE} == set(KINDS)
    assert len({r.id for r in SUITE}) == len(SUITE)
    texts = [r.text.strip().lower() for r in SUITE]
    assert len(set(texts)) == len(texts), [t for t, n in Counter(texts).items() if n > 1]
    assert all(q in BY_TEXT for q in QUOTED)
    assert all(r.id.startswith(r.kind + "-") for r in SUITE)


def test_every_kind_has_a_held_out_third_in_file_order() -> None:
    for kind in KINDS:
        flags = [r.held_out for r in SUITE if r.kind == kind]
        assert len(flags) >= HELD_OUT_EVERY, kind
        assert flags == [(i + 1) % HELD_OUT_EVERY == 0 for i in range(len(flags))], kind
        assert any(flags) and not all(flags), kind
    assert sum(r.held_out for r in SUITE) == sum(Counter(r.kind for r in SUITE)[k] // 3 for k in KINDS)


def test_every_request_expects_something_sane() -> None:
    for r in SUITE:
        e = r.expected
        assert e.needs() or e.relevant or e.acclaim or not e.hard.is_empty(), r.id
        h = e.hard
        assert set(h.genres_all) | set(h.genres_any) | set(h.exclude_genres) <= GENRES, r.id
        if h.year_min is not None and h.year_max is not None:
            assert h.year_min <= h.year_max, r.id
        if e.runtime_min is not None and e.runtime_max is not None:
            assert e.runtime_min <= e.runtime_max, r.id
        assert set(e.certificates) | set(e.certificates_not) <= {"G", "PG", "PG-13", "R", "NC-17"}, r.id
        if r.kind in ("plot", "mood"):
            assert e.relevant, r.id
        if e.relevant:
            assert 6 <= len(e.relevant) <= 30 and len(set(e.relevant)) == len(e.relevant), r.id
    rules = suite_rules()
    assert set(ACCLAIM_RULES) <= set(rules) and "median" in rules["underrated"]


def test_quoted_requests_expect_what_they_say() -> None:
    hanks = BY_TEXT["movies with Tom Hanks from the 90s"].expected
    assert hanks.people == (("cast", "Tom Hanks"),) and (hanks.hard.year_min, hanks.hard.year_max) == (1990, 1999)
    gem = BY_TEXT["an underrated gem from the 80s"].expected
    assert gem.acclaim == "underrated" and (gem.hard.year_min, gem.hard.year_max) == (1980, 1989)
    assert "Usual Suspects, The (1995)" in BY_TEXT["a heist film with a twist ending"].expected.relevant
    assert "2001: A Space Odyssey (1968)" in BY_TEXT["a slow, philosophical sci-fi film"].expected.relevant
    assert "When Harry Met Sally... (1989)" in BY_TEXT["my wife hates violence, a date night film please"].expected.relevant
    assert BY_TEXT["nothing R-rated"].expected.certificates_not == ("R", "NC-17")
    assert BY_TEXT["PG for my 10 year old"].expected.certificates == ("G", "PG")
    assert BY_TEXT["a movie under 90 minutes"].expected.runtime_max == 89
    assert BY_TEXT["a Tom Hanks movie but not a comedy"].expected.hard.exclude_genres == ("Comedy",)


def test_interleaved_slice_covers_every_kind() -> None:
    first = interleaved(SUITE, len(KINDS))
    assert [r.kind for r in first] == list(dict.fromkeys(r.kind for r in SUITE))
    assert interleaved(SUITE, None) == SUITE and len(interleaved(SUITE, 1000)) == len(SUITE)


# --------------------------------------------------------------------------- real MovieLens-1M

@pytest.fixture(scope="module")
def ml1m() -> dict[str, Item]:
    from retrieval.movielens import load_catalog

    return {i.id: i for i in load_catalog("movielens-1m", enrich=True)}


@pytest.fixture(scope="module")
def ml1m_stats() -> RatingStats:
    from retrieval.movielens import load_interactions

    return RatingStats.from_interactions(load_interactions("movielens-1m"))


def test_every_relevant_id_is_a_movielens_1m_item(ml1m: dict[str, Item]) -> None:
    from retrieval.movielens import parse_catalog

    ids = {i.id for i in parse_catalog("movielens-1m")}
    for r in SUITE:
        assert not set(r.expected.relevant) - ids, (r.id, sorted(set(r.expected.relevant) - ids))
    relevant, missing = resolve_relevant(SUITE, ml1m.values())
    assert not missing and all(relevant[r.id] == frozenset(r.expected.relevant) for r in SUITE)


def test_relevant_sets_resolve_by_title_in_another_catalog() -> None:
    renamed = [Item(id="m1", title="Heat", year=1995), Item(id="m2", title="Usual Suspects, The", year=1995)]
    relevant, missing = resolve_relevant([BY_TEXT["a heist film"]], renamed)
    assert relevant[BY_TEXT["a heist film"].id] == {"m1", "m2"} and "Reservoir Dogs (1992)" in missing


def test_relevant_set_requests_judge_by_membership(ml1m: dict[str, Item]) -> None:
    heist = BY_TEXT["a heist film"]
    assert check_pick(heist.expected, ml1m["Heat (1995)"]).status == SATISFIED
    v = check_pick(heist.expected, ml1m["Toy Story (1995)"])
    assert v.status == NOT_SATISFIED and v.failed == ("not in the relevant set",)
    no_comedy = BY_TEXT["a time travel movie that's not a comedy"]
    assert check_pick(no_comedy.expected, ml1m["Terminator, The (1984)"]).status == SATISFIED
    assert check_pick(no_comedy.expected, ml1m["Back to the Future (1985)"]).status == NOT_SATISFIED  # a Comedy


def test_a_tom_hanks_comedy_fails_not_a_comedy(ml1m: dict[str, Item]) -> None:
    gump = ml1m["Forrest Gump (1994)"]
    assert "Comedy" in gump.genres
    v = check_pick(BY_TEXT["a Tom Hanks movie but not a comedy"].expected, gump)
    assert v.status == NOT_SATISFIED and "has excluded genre Comedy" in v.failed


def _need(items: dict[str, Item], *names: str) -> None:
    have = available_facts(items.values())
    lacking = [n for n in names if n not in have]
    assert not lacking, f"the enriched catalog has no {', '.join(lacking)} facts (retrieval.enrichment)"


def test_forrest_gump_on_its_facts(ml1m: dict[str, Item]) -> None:
    gump = ml1m["Forrest Gump (1994)"]
    _need(ml1m, "cast")  # the full cast, not bokeh's first 8 alphabetical names
    assert check_pick(Expected(people=(("cast", "Tom Hanks"),)), gump).status == SATISFIED
    assert check_pick(BY_TEXT["movies with Tom Hanks from the 90s"].expected, gump).status == SATISFIED
    assert check_pick(Expected(people=(("cast", "Tom Hanks"), ("cast", "Meg Ryan"))), gump).status == NOT_SATISFIED
    assert check_pick(Expected(people=(("director", "Robert Zemeckis"),)), gump).status == SATISFIED
    _need(ml1m, "runtime", "certificate")
    assert check_pick(Expected(runtime_min=121), gump).status == SATISFIED  # "over two hours" (142 min)
    assert check_pick(BY_TEXT["a movie under 90 minutes"].expected, gump).status == NOT_SATISFIED
    assert check_pick(Expected(certificates=("PG-13",)), gump).status == SATISFIED
    assert check_pick(BY_TEXT["nothing R-rated"].expected, gump).status == SATISFIED
    assert check_pick(BY_TEXT["PG for my 10 year old"].expected, gump).status == NOT_SATISFIED


def test_oscars_and_origin_on_real_facts(ml1m: dict[str, Item]) -> None:
    _need(ml1m, "oscars_won")
    assert check_pick(BY_TEXT["a film that won several Oscars"].expected, ml1m["Forrest Gump (1994)"]).status == SATISFIED
    assert check_pick(BY_TEXT["an Oscar winner"].expected, ml1m["Dumb & Dumber (1994)"]).status != SATISFIED
    _need(ml1m, "language")
    french = BY_TEXT["a French film"].expected
    assert check_pick(french, ml1m["Toy Story (1995)"]).status == NOT_SATISFIED


def test_underrated_rule_on_real_ratings(ml1m: dict[str, Item], ml1m_stats: RatingStats) -> None:
    assert ml1m_stats.median_count == pytest.approx(123.5)
    rule = BY_TEXT["little-known but highly rated"].expected
    assert check_pick(rule, ml1m["Star Wars: Episode IV - A New Hope (1977)"], ml1m_stats).status == NOT_SATISFIED
    small_good = next(i for i, c in ml1m_stats.counts.items() if 20 <= c < 100 and ml1m_stats.means[i] >= 4.0)
    assert check_pick(rule, ml1m[small_good], ml1m_stats).status == SATISFIED
    top = BY_TEXT["one of the highest rated films of all time"].expected
    assert check_pick(top, ml1m["Shawshank Redemption, The (1994)"], ml1m_stats).status == SATISFIED


# --------------------------------------------------------------------------- the checker on made-up facts

def film(i: str = "x", year: int | None = 1995, genres: tuple[str, ...] = ("Drama",), **extra) -> Item:
    return Item(id=i, title=f"Film {i}", year=year, genres=genres, extra=extra)


def test_people_names_ignore_case_accents_and_notes() -> None:
    e = Expected(people=(("writer", "Quentin Tarantino"), ("cast", "Penelope Cruz")))
    assert check_pick(e, film(writer=["Quentin Tarantino (story)"], cast=["Penélope Cruz", "X"])).status == SATISFIED
    assert check_pick(e, film(writer=["Roger Avary"], cast=["penelope cruz"])).status == NOT_SATISFIED
    v = check_pick(e, film(cast=["Penelope Cruz"]))
    assert v.status == NOT_CHECKABLE and v.missing == ("writer",)
    v = check_pick(e, film(year=1995, genres=("Comedy",), cast=["Nobody"]))  # a failing part wins over a missing one
    assert v.status == NOT_SATISFIED and v.missing == ("writer",)


def test_runtime_certificate_and_oscars() -> None:
    assert check_pick(Expected(runtime_max=89), film(runtime=89)).status == SATISFIED
    assert check_pick(Expected(runtime_max=89), film(runtime="90 min")).status == NOT_SATISFIED
    assert check_pick(Expected(runtime_min=181), film()).status == NOT_CHECKABLE
    no_r = Expected(certificates_not=("R", "NC-17"))
    assert check_pick(no_r, film(certificate="PG-13")).status == SATISFIED
    assert check_pick(no_r, film(certificate="X")).status == NOT_SATISFIED  # X counts as NC-17
    assert check_pick(no_r, film(certificate="APPROVED")).status == NOT_CHECKABLE
    assert check_pick(Expected(certificates=("G", "PG")), film(certificate="GP")).status == SATISFIED
    assert check_pick(Expected(certificates=("G", "PG")), film(certificate="Rated R")).status == NOT_SATISFIED
    none_won = BY_TEXT["a film nominated for lots of Oscars that won none"].expected
    assert check_pick(none_won, film(oscars_won=0, oscar_nominations=7)).status == SATISFIED
    assert check_pick(none_won, film(oscars_won=1, oscar_nominations=7)).status == NOT_SATISFIED
    assert check_pick(Expected(oscar_nominations_min=1), film(oscars_won=2, oscar_nominations=0)).status == SATISFIED


def test_acclaim_rules() -> None:
    stats = RatingStats(counts={"a": 50, "b": 500, "c": 5, "d": 300}, means={"a": 4.1, "b": 4.5, "c": 4.9, "d": 4.3},
                        median_count=123.5)
    under = Expected(acclaim="underrated")
    assert check_pick(under, film("a"), stats).status == SATISFIED
    assert check_pick(under, film("b"), stats).status == NOT_SATISFIED  # well known
    assert check_pick(under, film("c"), stats).status == NOT_CHECKABLE  # 5 ratings, no other figure
    assert check_pick(under, film("c", metacritic=72), stats).status == SATISFIED
    assert check_pick(under, film("c", metacritic=50), stats).status == NOT_SATISFIED
    critics = Expected(acclaim="critics")
    assert check_pick(critics, film(metacritic=80)).status == SATISFIED
    assert check_pick(critics, film(metacritic=60, rt_meter=95)).status == SATISFIED
    assert check_pick(critics, film(metacritic=60)).status == NOT_SATISFIED
    assert check_pick(critics, film()).status == NOT_CHECKABLE
    top = Expected(acclaim="top_rated")
    assert check_pick(top, film("d"), stats).status == SATISFIED
    assert check_pick(top, film("a", imdb_rating=8.3, imdb_votes=50_000), stats).status == SATISFIED
    assert check_pick(top, film("a"), stats).status == NOT_CHECKABLE  # 50 ratings: too few for the mean


def test_language_and_country() -> None:
    fr = Expected(language="French")
    assert check_pick(fr, film(language=["French"])).status == SATISFIED
    assert check_pick(fr, film(language=["English", "French"])).status == NOT_CHECKABLE
    assert check_pick(fr, film(language=["English", "French"], original_language="fr")).status == SATISFIED
    assert check_pick(fr, film(language=["English"])).status == NOT_SATISFIED
    assert check_pick(fr, film(original_language="en", language=["French"])).status == NOT_SATISFIED
    foreign = Expected(language_not="English")
    assert check_pick(foreign, film(language=["Swedish"])).status == SATISFIED
    assert check_pick(foreign, film(language=["English", "Swedish"])).status == NOT_SATISFIED
    uk = Expected(country="United Kingdom")
    assert check_pick(uk, film(country=["UK", "USA"])).status == SATISFIED
    assert check_pick(uk, film(country=["France"])).status == NOT_SATISFIED
    assert check_pick(uk, film()).status == NOT_CHECKABLE


def test_requests_needing_absent_facts_are_skipped() -> None:
    items = [film(cast=[f"A{k}" for k in range(9)], language=["English"])]
    have = available_facts(items)
    assert have == {"cast", "language"}
    assert available_facts([film(cast=[f"A{k}" for k in range(8)])]) == set()  # 8 alphabetical names: truncated
    assert unchecked_facts(BY_TEXT["nothing R-rated"].expected, have) == ["certificate"]
    assert unchecked_facts(BY_TEXT["a French film"].expected, have) == []
    assert unchecked_facts(BY_TEXT["a film the critics loved"].expected, have) == ["metacritic/rt_meter"]
    assert unchecked_facts(BY_TEXT["little-known but highly rated"].expected, have) == ["ratings"]
    assert unchecked_facts(BY_TEXT["a heist film"].expected, have) == []


# --------------------------------------------------------------------------- runner, plot, report

def _outcome(items: list[Item], seconds: float = 0.2) -> RequestOutcome:
    return RequestOutcome(shown=items, parsed=None, seconds=seconds,
                          popularity_percentiles=[10.0 * (k + 1) for k in range(len(items))])


def test_judge_share_and_three_of_five() -> None:
    r = BY_TEXT["a movie under 90 minutes"]
    j = judge(r, [film("1", runtime=80), film("2", runtime=85), film("3", runtime=120), film("4"), film("5", runtime=70)])
    assert (j.shown, j.count(SATISFIED), j.count(NOT_SATISFIED), j.count(NOT_CHECKABLE)) == (5, 3, 1, 1)
    assert j.share == 0.6 and j.works
    j = judge(r, [film("1", runtime=80), film("2", runtime=85), film("3"), film("4"), film("5")])
    assert j.share == 0.4 and not j.works


def test_run_freeform_counts_by_kind_split_and_worst() -> None:
    short, heist, no_r = BY_TEXT["a movie under 90 minutes"], BY_TEXT["a heist film"], BY_TEXT["nothing R-rated"]
    held = FreeformRequest("mood-x", "held out one", "mood", Expected(relevant=("Heat (1995)",)), held_out=True)
    heat = Item(id="Heat (1995)", title="Heat", year=1995, genres=("Action", "Crime", "Thriller"))
    shown = {short.id: [film("1", runtime=80), film("2", runtime=120), film("3")],
             heist.id: [heat, film("t")], no_r.id: [film("p", certificate="PG")], held.id: []}
    res = run_freeform([short, heist, no_r, held], lambda r: _outcome(shown[r.id]), available={"runtime"},
                       progress=False)
    json.dumps(res)
    o = res["overall"]
    assert (o["requests"], o["checked_requests"], o["skipped_not_checkable"]) == (4, 3, 1)
    assert (o["picks"], o["picks_satisfied"], o["picks_not_satisfied"], o["picks_not_checkable"]) == (5, 2, 2, 1)
    assert o["pick_satisfaction"] == pytest.approx(2 / 5) and o["pick_satisfaction_checkable"] == pytest.approx(0.5)
    assert o["requests_3_of_5"] == 0 and o["empty_lists"] == 1 and o["median_popularity_percentile"] == 20.0
    assert res["skipped"] == {no_r.id: ["certificate"]}
    assert res["by_kind"]["plot"]["pick_satisfaction"] == 0.5 and list(res["by_kind"]) == ["length", "certificate",
                                                                                           "plot", "mood"]
    assert res["by_split"]["held_out"]["requests"] == 1 and res["by_split"]["held_out"]["empty_lists"] == 1
    assert [w["id"] for w in res["worst"]] == [held.id, short.id, heist.id]
    row = next(r for r in res["rows"] if r["id"] == short.id)
    assert row["n_satisfied"] == 1 and [p["status"] for p in row["picks"]] == [SATISFIED, NOT_SATISFIED, NOT_CHECKABLE]


def test_plot_and_report(tmp_path: Path) -> None:
    from eval.chat_report import render_chat_report

    requests = interleaved(SUITE, 9)
    res = run_freeform(requests, lambda r: _outcome([film("1", runtime=80)]), progress=False)
    plot_freeform({"chat-rules": res, "chat-llm": res}, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = {"dataset": {"name": "movielens-1m"}, "protocol": "freeform", "command": "recchat eval --protocol freeform",
           "git": {"commit": "abc"}, "users": {"evaluated": 1}, "config": {"seed": 0}, "wall_s": 1.0, "requests": 9,
           "suite_requests": len(SUITE), "held_out": 0, "facts_available": ["runtime"], "relevant_missing_in_catalog": [],
           "rules": suite_rules(), "paths": {"chat-rules": res}}
    text = render_chat_report(doc)
    assert text.startswith("# Evaluation: movielens-1m, freeform protocol\n\n- command: `recchat eval --protocol freeform`")
    assert "## Worst requests (chat-rules)" in text and "| chat-rules | person |" in text and "underrated" in text


# --------------------------------------------------------------------------- the protocol, end to end

def test_protocol_end_to_end_on_a_slice(ml100k_store, tmp_path: Path) -> None:
    from eval.chat_protocols import run_chat_eval
    from eval.data import load_dataset
    from eval.settings import EvalSettings

    settings = EvalSettings(dataset="movielens-100k", catalog_name="ml100k", protocol="freeform",
                            pipelines=["chat-rules"], users=5, limit_users=len(KINDS) + 1)
    out = tmp_path / "run"
    data = load_dataset("movielens-100k")
    doc = run_chat_eval(settings, out, dataset=data, store=ml100k_store, progress=False, command="recchat eval test")
    assert doc["protocol"] == "freeform" and doc["requests"] == len(KINDS) + 1
    assert set(doc["kinds"]) == set(KINDS)
    r = doc["paths"]["chat-rules"]
    assert r["overall"]["requests"] == len(KINDS) + 1 and r["overall"]["picks"] > 0
    assert all(row["n_shown"] <= 5 for row in r["rows"]) and r["worst"]
    assert (out / "freeform_by_kind.png").is_file() and (out / "cache" / "freeform-chat-rules.jsonl").is_file()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Evaluation: movielens-100k, freeform protocol") and "recchat eval test" in report
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    from eval.report import render_report
    assert render_report(out / "results.json") == report and saved["paths"]["chat-rules"]["rows"] == r["rows"]
    again = run_chat_eval(settings, out, dataset=data, store=ml100k_store, progress=False, command="recchat eval test")
    assert again["paths"]["chat-rules"]["rows"] == r["rows"]  # replayed from the cache, seconds included


def test_the_report_states_issue_31s_targets_and_pairs_the_paths() -> None:
    from eval.chat_report import _freeform_target_lines

    def row(i, kind, held, sat, shown, share):
        return {"id": i, "kind": kind, "held_out": held, "checked": True, "n_satisfied": sat, "n_shown": shown,
                "share": share}

    a = [row("person-01", "person", False, 5, 5, 1.0), row("person-02", "person", True, 3, 5, 0.6),
         row("plot-01", "plot", False, 4, 5, 0.8), row("mood-01", "mood", True, 1, 5, 0.2)]
    b = [dict(r, share=0.0) if r["kind"] in ("plot", "mood") else r for r in a]
    text = "\n".join(_freeform_target_lines({"paths": {"rules": {"rows": a}, "llm": {"rows": b}}}))
    assert "| rules | 0.800 / 1.000 / 0.600 | 1 of 2 | 0.500 / 0.800 / 0.200 |" in text
    assert "llm vs rules, paired over 2 plot and mood requests: 0.000 vs 0.500 (better on 0, worse on 2" in text
