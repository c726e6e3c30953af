"""The question suite: questions about shown picks, answered by the chat and checked against the
catalog facts (``recchat bench questions``; suite in ``eval/question_suite.json``).

Each case is one conversation: its request is sent to the chat (rules only, k = 5, no exploration
slot, so the list is deterministic), the list shown must be the one the suite names (else every
question of the case fails as "list changed"), then its questions are asked in turn (so "it" means
the pick discussed last). An answer is **correct** when it names every pick in ``about``, holds
every ``contains`` string and no ``absent`` one (case-insensitive), says "I don't know" exactly
when ``unknown`` is set, and, for ``ask_which``, asks which pick is meant and names none.

An **invented fact** is a number or a capitalised word of an answer found in none of its sources:
the facts of the picks it is about (title, year, genres, every ``Item.extra`` value, and the
length of each list fact), the reasons those picks' cards showed, the person's words (request and
question), the MPAA meanings of :data:`agent.answers.CERTIFICATE_MEANINGS` and the fixed words of
the answer templates (:data:`TEMPLATE_WORDS`). Latency: the chat's ``total_s`` for the turn.

:func:`render_questions_report` and :func:`render_sample` render ``report.md`` and
``sample.md`` from ``results.json`` alone (``tests/eval/test_committed_results.py`` re-renders the
committed report and compares).
"""

from __future__ import annotations

import json
import platform
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.question_report import render_questions_report, render_sample, sample_rows

__all__ = ["Case", "Question", "Row", "check", "invented_facts", "load_suite", "render_questions_report",
           "render_sample", "run", "run_suite", "sample_rows", "summarise"]

SUITE = Path(__file__).with_name("question_suite.json")
PROTOCOL = "questions"
DONT_KNOW = "i don't know"
#: capitalised words the answer templates write themselves (sentence openers, score and award names)
TEMPLATE_WORDS = frozenset({
    "Yes", "No", "Its", "It", "I", "The", "Why", "Which", "Give", "Both", "All", "Of", "Probably", "Likely",
    "Only", "Not", "IMDb", "Rotten", "Tomatoes", "Metacritic", "Oscar", "Oscars", "Oscar's", "MPAA", "Here", "Summary",
    "Card", "PG", "PG-13", "R", "G", "GP", "M", "M/PG", "NC-17", "X", "Academy",
})
#: numbers the templates write: the scales of "8.3/10" and "81/100"
TEMPLATE_NUMBERS = frozenset({"10", "100"})
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_CAPITALISED = re.compile(r"(?<![\w'’-])[A-Z][\w'’./-]*")


@dataclass(frozen=True)
class Question:
    """One suite question (see the module doc for the fields)."""

    ask: str
    kind: str
    about: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    unknown: bool = False
    ask_which: bool = False


@dataclass(frozen=True)
class Case:
    """One conversation: ``request`` must show ``picks`` (labels, in order), then ``questions``."""

    id: str
    request: str
    picks: tuple[str, ...]
    questions: tuple[Question, ...]


@dataclass
class Row:
    """One asked question and its verdict."""

    case: str
    ask: str
    kind: str
    about: list[str]
    answer: str
    correct: bool
    problems: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)
    latency_s: float = 0.0
    intent: str = ""


def load_suite(path: Path = SUITE) -> list[Case]:
    """The suite's cases (ValueError for a malformed file)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    cases = []
    for c in doc["cases"]:
        qs = tuple(Question(q["ask"], q["kind"], tuple(q.get("about", ())), tuple(q.get("contains", ())),
                            tuple(q.get("absent", ())), bool(q.get("unknown", False)), bool(q.get("ask_which", False)))
                   for q in c["questions"])
        if not qs or not c["picks"]:
            raise ValueError(f"{path}: case {c.get('id')} has no picks or no questions")
        cases.append(Case(c["id"], c["request"], tuple(c["picks"]), qs))
    return cases


# ---------------------------------------------------------------------------- checking
def fact_text(item: Any) -> str:
    """Everything an answer about ``item`` may cite, as one text: label, title, year, genres,
    every extra value, and the length of each list fact."""
    parts = [item.label, item.title, str(item.year or ""), " ".join(item.genres)]
    for value in item.extra.values():
        if isinstance(value, (list, tuple)):
            parts += [str(v) for v in value] + [str(len(value))]
        elif value is not None:
            parts.append(str(value))
    return " \n ".join(parts)


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)} | \
        {n.replace(",", "").rstrip(".").rstrip("0").rstrip(".") for n in _NUMBER.findall(text) if "." in n}


def invented_facts(answer: str, sources: Sequence[str]) -> list[str]:
    """The numbers and capitalised words of ``answer`` found in none of ``sources`` (nor in the
    templates' own words): what the answer would have made up."""
    allowed = " \n ".join(sources)
    from agent.answers import CERTIFICATE_MEANINGS

    allowed += " \n " + " \n ".join(CERTIFICATE_MEANINGS.values())
    numbers = _numbers(allowed) | TEMPLATE_NUMBERS
    body = re.sub(r"/10{1,2}\b", " ", answer)
    out = [n for n in _NUMBER.findall(body) if n.replace(",", "").rstrip(".") not in numbers]
    words = set(re.findall(r"[\w'’.-]+", allowed))
    for w in _CAPITALISED.findall(body):
        w = w.rstrip(".,;:!?'’")
        if w and w not in TEMPLATE_WORDS and w not in words and w.rstrip("'s").rstrip("'’") not in words \
                and w not in allowed:
            out.append(w)
    return out


def check(q: Question, answer: str) -> list[str]:
    """Why ``answer`` is not the right answer to ``q`` (empty: correct)."""
    low = answer.lower()
    if q.ask_which:
        return [] if "which" in low and "?" in answer else ["should ask which pick is meant"]
    problems = [f"does not name {label}" for label in q.about if label.lower() not in low]
    problems += [f"lacks {s!r}" for s in q.contains if s.lower() not in low]
    problems += [f"holds {s!r}" for s in q.absent if s.lower() in low]
    if q.unknown and DONT_KNOW not in low:
        problems.append("should say it does not know")
    if not q.unknown and DONT_KNOW in low:
        problems.append("says it does not know, but the facts say")
    return problems


# ---------------------------------------------------------------------------- running
def run_suite(agent: Any, cases: Sequence[Case], progress: Callable[[str], None] | None = None) -> list[Row]:
    """Every case through ``agent`` (a :class:`agent.conversation.ChatAgent`), in order."""
    from agent.answers import shown_reasons
    from agent.understanding.profile import ItemRef

    rows: list[Row] = []
    for case in cases:
        session = agent.new_session(f"questions-{case.id}")
        reply = agent.respond(session, case.request)
        labels = tuple(r.item.label for r in reply.recommendations)
        by_label = {r.item.label: r.item for r in reply.recommendations}
        refs = [ItemRef(r.item.id, r.item.label) for r in reply.recommendations]
        if labels != case.picks:
            for q in case.questions:
                rows.append(Row(case.id, q.ask, q.kind, list(q.about), "", False,
                                [f"list changed: shown {list(labels)}"]))
            continue
        for q in case.questions:
            turn = agent.respond(session, q.ask)
            reasons = shown_reasons(session.turns, refs)
            # a comparison may cite every shown pick; the request as read ("from 1990 to 1999") is its words
            items = [by_label[label] for label in (case.picks if q.kind == "compare" else q.about) if label in by_label]
            sources = [fact_text(it) for it in items] + [reasons.get(it.id, "") for it in items] + [
                case.request, q.ask, "; ".join(session.profile.constraints.describe())]
            problems = check(q, turn.text)
            if turn.intent != "question":
                problems.insert(0, f"read as {turn.intent}, not as a question")
            rows.append(Row(case.id, q.ask, q.kind, list(q.about), turn.text, not problems, problems,
                            invented_facts(turn.text, sources), round(turn.timings.get("total_s", 0.0), 5),
                            turn.intent))
            if progress:
                progress(f"{case.id}: {q.ask} -> {'ok' if not problems else '; '.join(problems)}")
    return rows


def summarise(rows: Sequence[Row]) -> dict[str, Any]:
    """Accuracy, invented facts and latency, overall and per kind."""
    lat = [r.latency_s for r in rows if r.answer]
    kinds: dict[str, dict[str, Any]] = {}
    for r in rows:
        k = kinds.setdefault(r.kind, {"questions": 0, "correct": 0})
        k["questions"] += 1
        k["correct"] += int(r.correct)
    for k in kinds.values():
        k["accuracy"] = round(k["correct"] / k["questions"], 4)
    return {
        "questions": len(rows), "correct": sum(r.correct for r in rows),
        "accuracy": round(sum(r.correct for r in rows) / max(len(rows), 1), 4),
        "answers_with_invented_facts": sum(bool(r.invented) for r in rows),
        "invented_facts": sum(len(r.invented) for r in rows),
        "latency_s": {"p50": round(float(np.percentile(lat, 50)), 5) if lat else None,
                      "p95": round(float(np.percentile(lat, 95)), 5) if lat else None,
                      "max": round(max(lat), 5) if lat else None},
        "by_kind": dict(sorted(kinds.items())),
    }


def run(out: Path, suite: Path = SUITE, catalog: str | None = None, command: str | None = None,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the suite on the indexed catalog with the rules (no LLM) and write ``results.json``,
    ``report.md`` and ``sample.md`` into ``out``; returns the results document."""
    from agent.app import open_app
    from agent.conversation import ChatAgent
    from agent.settings import AgentSettings
    from eval.report import git_state, versions
    from retrieval.settings import RetrievalSettings

    cases = load_suite(suite)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        settings = AgentSettings(understand_with_llm=False, exploration_slots=0, chat_k=5,
                                 sessions_url=f"sqlite:///{tmp}/questions.db")
        app = open_app(RetrievalSettings(**({"catalog": catalog} if catalog else {})), settings, use_llm=False)
        try:
            agent = ChatAgent(app)
            agent.vocabulary()
            rows = run_suite(agent, cases, progress)
            name = app.catalog
        finally:
            app.close()
    doc = {
        "protocol": PROTOCOL, "command": command or "recchat bench questions",
        "dataset": {"name": name}, "suite": str(suite.name), "git": git_state(), "versions": versions(),
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "agent_config": settings.model_dump(mode="json", exclude={"llm_api_key"}),
        "wall_s": round(time.perf_counter() - started, 1),
        "summary": summarise(rows), "rows": [asdict(r) for r in rows],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_questions_report(doc), encoding="utf-8")
    (out / "sample.md").write_text(render_sample(doc), encoding="utf-8")
    return doc
