"""The question suite's data and checks (eval/questions.py): the suite is large and varied enough,
a wrong or inventive answer is caught, and the report renders from results.json alone."""

from __future__ import annotations

from collections import Counter

from eval.questions import Question, check, invented_facts, load_suite, render_questions_report, render_sample, \
    sample_rows, summarise, Row


def test_the_suite_has_60_questions_of_every_kind():
    cases = load_suite()
    kinds = Counter(q.kind for c in cases for q in c.questions)
    assert sum(kinds.values()) >= 60
    assert {"why", "cast", "director", "length", "children", "plot", "awards", "compare", "year"} <= set(kinds)
    assert sum(q.unknown for c in cases for q in c.questions) >= 8  # "I don't know" is tested too
    assert all(len(c.picks) == 5 for c in cases)


def test_check_catches_a_wrong_answer():
    q = Question("how long is it?", "length", ("Heat (1995)",), ("170 minutes",))
    assert check(q, "Heat (1995) runs 170 minutes.") == []
    assert check(q, "Heat (1995) runs 171 minutes.") == ["lacks '170 minutes'"]
    assert "does not name Heat (1995)" in check(q, "It runs 170 minutes.")
    assert check(q, "I don't know how long Heat (1995) is.")[-1].startswith("says it does not know")
    unknown = Question("who is in it?", "cast", ("Heat (1995)",), unknown=True)
    assert check(unknown, "The cast of Heat (1995) includes Al Pacino.") == ["should say it does not know"]
    assert check(Question("who directed it?", "director", ask_which=True), "Michael Mann directed it.")


def test_invented_facts_are_numbers_and_names_in_no_source():
    facts = "Heat (1995) Crime Thriller Al Pacino Robert De Niro 170 8.2"
    assert invented_facts("Heat (1995) runs 170 minutes, with Al Pacino; IMDb 8.2/10.", [facts]) == []
    assert invented_facts("Heat (1995) runs 171 minutes, with Val Kilmer.", [facts]) == ["171", "Val", "Kilmer"]
    assert invented_facts("It is rated PG-13 (under 13).", [facts]) == []  # the MPAA meaning is a source


def test_report_and_sample_render_from_the_document():
    rows = [Row("c", "how long is it?", "length", ["Heat (1995)"], "Heat (1995) runs 170 minutes.", True, [], [], 0.01),
            Row("c", "who is in it?", "cast", ["Heat (1995)"], "Heat (1995) has Bob.", False, ["lacks 'Al Pacino'"],
                ["Bob"], 0.02)]
    doc = {"command": "recchat bench questions --out x", "git": {"commit": "abc"}, "dataset": {"name": "movielens-1m"},
           "suite": "question_suite.json", "wall_s": 1.0, "summary": summarise(rows),
           "rows": [r.__dict__ for r in rows]}
    report = render_questions_report(doc)
    assert "**1 / 2 (0.500)**" in report and "invented: Bob" in report and "| length | 1 | 1 | 1.000 |" in report
    assert len(sample_rows(doc, 20)) == 2 and "**who is in it?**" in render_sample(doc)
