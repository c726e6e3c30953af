"""``report.md`` and ``sample.md`` of the question suite (:mod:`eval.questions`), rendered from
its ``results.json`` alone (so a committed report can be checked against it; imports nothing of
``eval``, so :mod:`eval.report` can dispatch to it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_questions_report(doc: Mapping[str, Any]) -> str:
    """``report.md`` from the results document alone."""
    s = doc["summary"]
    lat = s["latency_s"]
    lines = [f"# Question suite: {doc['dataset']['name']}, questions about shown picks", "",
             f"- command: `{doc['command']}`", f"- git: {doc['git'].get('commit', '?')}"
             + (" (dirty)" if doc["git"].get("dirty") else ""),
             f"- suite: `eval/{doc['suite']}`; chat: rules only (no LLM), 5 picks, no exploration slot; "
             f"wall {doc['wall_s']} s", "",
             "Each case sends a request, checks that the list shown is the suite's, then asks its questions in "
             "turn; an answer is correct when it names the pick(s), holds the expected facts and says \"I don't "
             "know\" exactly when the facts do not say (`eval/questions.py`). Invented facts: numbers and names in "
             "an answer found in none of its sources (the picks' facts, their cards' reasons, the person's words).",
             "", "| what | figure |", "|---|---|",
             f"| answered correctly | **{s['correct']} / {s['questions']} ({s['accuracy']:.3f})** |",
             f"| answers with an invented fact | **{s['answers_with_invented_facts']}** "
             f"({s['invented_facts']} facts) |",
             f"| answer latency (chat turn, rules), p50 / p95 / max | **{lat['p50']} / {lat['p95']} / {lat['max']} s** |",
             "", "## By kind", "", "| kind | questions | correct | accuracy |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['questions']} | {v['correct']} | {v['accuracy']:.3f} |" for k, v in s["by_kind"].items()]
    wrong = [r for r in doc["rows"] if not r["correct"] or r["invented"]]
    lines += ["", "## Wrong answers and invented facts", ""]
    if not wrong:
        lines.append("None.")
    else:
        lines += ["| case | question | answer | problems |", "|---|---|---|---|"]
        lines += [f"| {r['case']} | {_md(r['ask'])} | {_md(r['answer'])} | "
                  f"{_md('; '.join(r['problems'] + [f'invented: {w}' for w in r['invented']]))} |" for r in wrong]
    return "\n".join(lines) + "\n"


def sample_rows(doc: Mapping[str, Any], n: int = 20) -> list[Mapping[str, Any]]:
    """``n`` answered rows, every kind in turn (the suite's order within a kind)."""
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for r in doc["rows"]:
        if r["answer"]:
            by_kind.setdefault(r["kind"], []).append(r)
    out: list[Mapping[str, Any]] = []
    while len(out) < n and any(by_kind.values()):
        for kind in list(by_kind):
            if by_kind[kind] and len(out) < n:
                out.append(by_kind[kind].pop(0))
    return out


def render_sample(doc: Mapping[str, Any], n: int = 20) -> str:
    """``sample.md``: ``n`` questions with the pick(s) they are about and the chat's answer, for a
    person to read."""
    lines = [f"# {n} answers to questions about shown picks", "",
             f"From `{doc['command']}` (git {doc['git'].get('commit', '?')}); every kind in turn. The request "
             "of each conversation is in `eval/question_suite.json`.", ""]
    for i, r in enumerate(sample_rows(doc, n), start=1):
        about = ", ".join(r["about"]) or "(none: the question does not say which)"
        mark = "" if r["correct"] else " (marked wrong: " + "; ".join(r["problems"]) + ")"
        lines += [f"{i}. **{r['ask']}** ({r['kind']}; about {about}){mark}", "", f"   > {r['answer']}", ""]
    return "\n".join(lines)
