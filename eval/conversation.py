"""The conversational protocol: a simulated person with a hidden target talks to a pipeline.

For each sampled user of the leave-one-out split the target is their held-out item. Two starts:
``known`` (the session holds the user's training history, as the web chat's MovieLens-user
start does) and ``new`` (no history; the person names one or two of their own recent films rated
4+). The person (:class:`eval.simulator.SimulatedPerson`) opens with genres and a decade and,
while the target is not among the top ``k`` shown (5, what the web chat shows), reacts to the
list and reveals one more true attribute, for at most ``turns`` turns. Every pipeline sees the
same people and the same opening; later messages depend on what it showed.

Pipelines (:class:`Conversant`): ``popularity`` (the most rated films within the constraints the
rules read from the conversation), ``retrieval`` (text retrieval of all the person's messages,
no filters), ``agent-rules`` (the chat agent without an LLM) and ``agent-llm`` (with it).

Per person and turn it records the rank of the target in the top ``list_k`` (10), the shown
picks, their constraint violations (against what the person had stated by then), their
popularity percentiles and the stage timings; :func:`summarise` turns the records into the
figures of the report. Records are appended to a JSONL file per (pipeline, start) as soon as a
person is done, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from eval.constraints import HardConstraints
from eval.metrics import mean_ci, paired_test
from eval.simulator import SimulatedPerson, Start
from eval.splits import UserCase
from retrieval.items import Item

#: Picks the person looks at (the web chat shows 5).
SHOWN_K = 5


@dataclass
class Reply:
    """One pipeline answer: ``items`` best first (at most ``list_k``), stage timings (seconds)."""

    items: list[Item]
    timings: dict[str, float] = field(default_factory=dict)
    understood_by: str = ""
    reasons: list[str | None] = field(default_factory=list)
    llm_calls: list[dict[str, Any]] = field(default_factory=list)


class Conversant(Protocol):
    """A pipeline that holds a conversation: ``begin`` a session for one person, ``reply`` to
    each of their messages, ``end`` it."""

    name: str

    def begin(self, case: UserCase, start: Start) -> Any: ...

    def reply(self, state: Any, message: str) -> Reply: ...

    def end(self, state: Any) -> None: ...


@dataclass
class TurnRecord:
    """One turn: the message, the target's rank in the shown list (1-based, None = absent), the
    shown ids (best first), violations among the first ``SHOWN_K`` picks, their popularity
    percentiles (0-100, 100 = most rated), stage timings."""

    turn: int
    message: str
    rank: int | None
    shown: list[str]
    violations: int
    checked: int
    popularity_pct: list[float]
    timings: dict[str, float]
    understood_by: str = ""
    reasons: list[str | None] = field(default_factory=list)


@dataclass
class ConversationRecord:
    """One person's conversation with one pipeline (one JSONL line)."""

    user_id: str
    start: str
    pipeline: str
    target: str
    turns: list[TurnRecord]
    stated: dict[str, Any]
    revealed: list[str]
    leaked: int = 0
    leaks_avoided: int = 0

    def first_hit(self, k: int) -> int | None:
        """The first turn (1-based) whose list held the target within its top ``k``."""
        return next((t.turn for t in self.turns if t.rank is not None and t.rank <= k), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> "ConversationRecord":
        data = json.loads(line)
        data["turns"] = [TurnRecord(**t) for t in data["turns"]]
        return cls(**data)


# ---------------------------------------------------------------------- one conversation
def converse(conversant: Conversant, case: UserCase, person: SimulatedPerson, items: Mapping[str, Item],
             percentile: Mapping[str, float], turns: int, list_k: int = 10) -> ConversationRecord:
    """Run one conversation (at most ``turns`` turns; it ends when the target is in the top
    ``SHOWN_K``). ``percentile`` maps item id -> popularity percentile."""
    state = conversant.begin(case, person.start)
    records: list[TurnRecord] = []
    try:
        message = person.opening()
        for turn in range(1, turns + 1):
            reply = conversant.reply(state, message)
            shown = reply.items[:list_k]
            ids = [i.id for i in shown]
            rank = ids.index(case.target) + 1 if case.target in ids else None
            top = shown[:SHOWN_K]
            records.append(TurnRecord(
                turn, message, rank, ids, sum(not person.stated.satisfied(i) for i in top), len(top),
                [round(percentile.get(i.id, 0.0), 2) for i in top], {k: round(v, 4) for k, v in reply.timings.items()},
                reply.understood_by, list(reply.reasons[:SHOWN_K])))
            if (rank is not None and rank <= SHOWN_K) or turn == turns:
                break
            message = person.react(shown)
    finally:
        conversant.end(state)
    return ConversationRecord(case.user_id, person.start, conversant.name, case.target, records,
                              person.stated.to_dict(), list(person.revealed), person.leaked, person.leaks_avoided)


def popularity_percentiles(popularity: Mapping[str, int], universe: Sequence[str]) -> dict[str, float]:
    """Item id -> percentile (0-100) of its training interaction count among ``universe``
    (ties share the mean rank; items without interactions sit at the bottom)."""
    from scipy.stats import rankdata

    counts = np.array([popularity.get(i, 0) for i in universe], dtype=np.float64)
    if not len(counts):
        return {}
    ranks = rankdata(counts, method="average")
    return {i: float(100.0 * (r - 1) / max(1, len(counts) - 1)) for i, r in zip(universe, ranks)}


def own_films(case: UserCase, ratings: Mapping[tuple[str, str], float], items: Mapping[str, Item],
              n: int = 2, min_rating: float = 4.0) -> list[str]:
    """Titles of the person's ``n`` most recent training films rated ``min_rating``+ (the
    ``new`` start names them; chosen from the history only, never from the target)."""
    liked = [i for i in reversed(case.history) if ratings.get((case.user_id, i), 0.0) >= min_rating and i in items]
    return [items[i].title for i in liked[:n]]


# ---------------------------------------------------------------------- the run
@dataclass
class ConversationRun:
    """What a run needs: the people, the catalog, popularity, ratings (for ``new`` starts)."""

    cases: Sequence[UserCase]
    items: Mapping[str, Item]
    popularity: Mapping[str, int]
    universe: Sequence[str]
    ratings: Mapping[tuple[str, str], float]
    turns: int = 5
    list_k: int = 10
    seed: int = 0


def run_conversations(run: ConversationRun, conversant: Conversant, start: Start, cache: Path,
                      progress: bool = True, concurrency: int = 1) -> list[ConversationRecord]:
    """Every person of ``run`` with ``conversant`` from ``start``; records already in ``cache``
    (a JSONL file) are reused, new ones appended as each person finishes. ``concurrency``
    people talk at once (an LLM server batches their requests); the records do not depend on it."""
    import concurrent.futures as cf
    import threading

    from tqdm.auto import tqdm

    done = {r.user_id: r for r in read_records(cache)}
    percentile = popularity_percentiles(run.popularity, run.universe)
    cache.parent.mkdir(parents=True, exist_ok=True)
    todo = [c for c in run.cases if c.user_id not in done and c.target in run.items]
    lock = threading.Lock()

    def one(case: UserCase) -> None:
        person = SimulatedPerson(run.items[case.target], start=start, seed=run.seed,
                                 own_films=own_films(case, run.ratings, run.items) if start == "new" else ())
        record = converse(conversant, case, person, run.items, percentile, run.turns, run.list_k)
        with lock:
            fh.write(record.to_json() + "\n")
            fh.flush()
            done[case.user_id] = record

    with cache.open("a", encoding="utf-8") as fh, \
            tqdm(total=len(todo), desc=f"{conversant.name} ({start})", disable=not progress or not todo) as bar:
        pool = cf.ThreadPoolExecutor(max(1, concurrency))
        try:
            for future in cf.as_completed([pool.submit(one, c) for c in todo]):
                future.result()
                bar.update()
        finally:  # Ctrl-C / SIGTERM: people not started are dropped (redone on resume), not awaited
            pool.shutdown(wait=True, cancel_futures=True)
    return [done[c.user_id] for c in run.cases if c.user_id in done]


def read_records(path: Path) -> list[ConversationRecord]:
    """The complete records of a JSONL cache (a half-written last line is ignored)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(ConversationRecord.from_json(line))
        except (ValueError, TypeError, KeyError):
            continue
    return out


# ---------------------------------------------------------------------- figures
def summarise(records: Sequence[ConversationRecord], turns: int) -> dict[str, Any]:
    """The figures of one (pipeline, start): success within ``turns`` at k=5 and k=10,
    cumulative hit@1/5/10 by turn, first-turn hit@10 with a 95% CI, average turns to success
    at k=5 (a failure counts as ``turns + 1``), MRR (best reciprocal rank over the
    conversation, within the top 10), constraint violations among shown picks, the median
    popularity percentile of shown picks, median stage timings per turn, leaks."""
    n = len(records)
    if not n:
        return {"people": 0}
    first5 = [r.first_hit(SHOWN_K) for r in records]
    first10 = [r.first_hit(10) for r in records]
    by_turn = {f"hit@{k}": [sum(1 for r in records if (h := r.first_hit(k)) is not None and h <= t) / n
                            for t in range(1, turns + 1)] for k in (1, 5, 10)}
    first_turn10 = [float(r.turns[0].rank is not None and r.turns[0].rank <= 10) for r in records]
    ci = mean_ci(first_turn10)
    picks = sum(t.checked for r in records for t in r.turns)
    pct = [p for r in records for t in r.turns for p in t.popularity_pct]
    stages: dict[str, list[float]] = {}
    for r in records:
        for t in r.turns:
            for key, value in t.timings.items():
                stages.setdefault(key, []).append(value)
    return {
        "people": n,
        "success@5": sum(h is not None for h in first5) / n,
        "success@10": sum(h is not None for h in first10) / n,
        "by_turn": by_turn,
        "first_turn_hit@10": {"mean": ci.mean, "ci_low": ci.low, "ci_high": ci.high},
        "avg_turns@5": float(np.mean([h if h is not None else turns + 1 for h in first5])),
        "mrr": float(np.mean([max((1.0 / t.rank for t in r.turns if t.rank), default=0.0) for r in records])),
        "violation_share": sum(t.violations for r in records for t in r.turns) / picks if picks else None,
        "median_popularity_pct": float(statistics.median(pct)) if pct else None,
        "turns_taken": float(np.mean([len(r.turns) for r in records])),
        "stage_median_s": {k: float(statistics.median(v)) for k, v in sorted(stages.items())},
        "leaked": sum(r.leaked for r in records),
        "leaks_avoided": sum(r.leaks_avoided for r in records),
        "understood_by": dict(sorted(_count(t.understood_by for r in records for t in r.turns).items())),
    }


def success_vector(records: Sequence[ConversationRecord], users: Sequence[str], k: int = SHOWN_K) -> list[float]:
    """1.0 / 0.0 per user of ``users`` (in that order): success within the run at ``k``."""
    by_user = {r.user_id: r for r in records}
    return [float(by_user[u].first_hit(k) is not None) for u in users]


def compare(results: Mapping[str, Sequence[ConversationRecord]], baseline: str, k: int = SHOWN_K) -> dict[str, Any]:
    """Paired tests of success@k of every pipeline against ``baseline`` on the people both ran."""
    out: dict[str, Any] = {}
    base = {r.user_id for r in results.get(baseline, [])}
    for name, records in results.items():
        if name == baseline:
            continue
        users = sorted(base & {r.user_id for r in records})
        if len(users) < 2:
            continue
        test = paired_test(f"success@{k}", success_vector(results[baseline], users, k), success_vector(records, users, k))
        out[name] = {"vs": baseline, **asdict(test)}
    return out


def plot_success_by_turn(summaries: Mapping[str, Mapping[str, Any]], turns: int, path: Path, k: int = SHOWN_K) -> None:
    """Cumulative success (hit@k) by turn, one line per pipeline/start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, summary in summaries.items():
        curve = summary.get("by_turn", {}).get(f"hit@{k}")
        if curve:
            ax.plot(range(1, turns + 1), curve, marker="o", label=name)
    ax.set_xlabel("turn")
    ax.set_ylabel(f"share of people whose target was in the top {k}")
    ax.set_xticks(range(1, turns + 1))
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Simulated conversations: success by turn (k={k})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _count(values: Iterator[str] | Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v or "-"] = out.get(v or "-", 0) + 1
    return out


@contextmanager
def _timer(timings: dict[str, float], key: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = time.perf_counter() - t0


# ---------------------------------------------------------------------- conversants
class AgentConversant:
    """The chat agent (``agent.conversation.ChatAgent``), exactly as the web chat runs it, with
    lists of ``list_k`` picks. ``known`` sessions are seeded with the training history."""

    def __init__(self, name: str, agent: Any) -> None:
        self.name, self.agent = name, agent

    def begin(self, case: UserCase, start: Start) -> Any:
        return self.agent.new_session(user_id=f"eval-{case.user_id}", history=list(case.history) if start == "known" else [])

    def reply(self, state: Any, message: str) -> Reply:
        reply = self.agent.respond(state, message)
        return Reply([r.item for r in reply.recommendations], dict(reply.timings), reply.understood_by,
                     [r.reason for r in reply.recommendations], reply.llm_calls)

    def end(self, state: Any) -> None:
        self.agent.sessions.delete(state.id)


class RetrievalConversant:
    """Text retrieval of everything the person said so far (no filters; history vectors for
    ``known`` starts, history excluded)."""

    name = "retrieval"

    def __init__(self, retriever: Any, list_k: int = 10) -> None:
        self.retriever, self.list_k = retriever, list_k

    def begin(self, case: UserCase, start: Start) -> Any:
        return {"history": list(case.history[-50:]) if start == "known" else [], "messages": []}

    def reply(self, state: Any, message: str) -> Reply:
        state["messages"].append(message)
        timings: dict[str, float] = {}
        with _timer(timings, "retrieve_s"):
            found = self.retriever.retrieve(" ".join(state["messages"]), history=state["history"], k=self.list_k)
        return Reply([c.item for c in found], timings)

    def end(self, state: Any) -> None:
        return None


class PopularityConversant:
    """The most rated films within the hard constraints the rules read from the conversation
    (the agent's own rule parser and profile update, no retrieval, no LLM)."""

    name = "popularity"

    def __init__(self, items: Mapping[str, Item], popularity: Mapping[str, int], vocab: Any, list_k: int = 10) -> None:
        self.items, self.vocab, self.list_k = items, vocab, list_k
        self.ranked = sorted((i for i in items if popularity.get(i, 0) > 0), key=lambda i: (-popularity[i], i))

    def begin(self, case: UserCase, start: Start) -> Any:
        from agent.understanding.profile import InterestProfile

        return {"profile": InterestProfile(), "titles": {}, "shown": [],
                "seen": set(case.history) if start == "known" else set()}

    def reply(self, state: Any, message: str) -> Reply:
        from agent.understanding.profile import ItemRef
        from agent.understanding.profile_update import apply_extraction
        from agent.understanding.rules import parse_rules

        timings: dict[str, float] = {}
        with _timer(timings, "understand_s"):
            shown = [ItemRef(i, state["titles"].get(i, i)) for i in state["shown"]]
            ex = parse_rules(message, self.vocab, shown)
            apply_extraction(state["profile"], state["titles"], ex, message, shown)
        profile = state["profile"]
        filters = profile.to_filters()
        banned = state["seen"] | {r.item_id for r in profile.liked_items + profile.disliked_items}
        with _timer(timings, "retrieve_s"):
            picks = []
            for item_id in self.ranked:
                item = self.items[item_id]
                if item_id not in banned and filters.matches_item(item):
                    picks.append(item)
                    if len(picks) == self.list_k:
                        break
        state["shown"] = [i.id for i in picks[:SHOWN_K]]
        for i in picks:
            state["titles"][i.id] = i.label
        return Reply(picks, timings, "rules")

    def end(self, state: Any) -> None:
        return None


def stated_constraints(record: ConversationRecord) -> HardConstraints:
    return HardConstraints.from_dict(record.stated)


def ratings_lookup(frame: Any) -> dict[tuple[str, str], float]:
    """(user id, item id) -> rating, from an interactions frame (columns user_id, item_id, rating)."""
    sub = frame[["user_id", "item_id", "rating"]].dropna()
    return {(str(u), str(i)): float(r) for u, i, r in zip(sub["user_id"], sub["item_id"], sub["rating"])}


ConversantFactory = Callable[[], Conversant]
