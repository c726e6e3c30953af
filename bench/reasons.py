"""`recchat bench reasons`: are the reasons on the cards worth reading? (issue 32)

Runs the chat (rules, no LLM; a fresh session per request) over the free-form suite
(``eval/freeform_suite.json``), the request suite (:func:`eval.request_suite.request_suite`) and
a few scripted two-turn conversations (a reference film first, then a request that has nothing
to do with it), five cards a list, and measures every shown card's reason:

- ``valid_share``, ``claim_precision``, ``truncated``: the strict check
  (:class:`agent.reasons.strict_check.StrictReasonChecker`, cited evidence = the pick's facts;
  the exploration pick's seed film for the exploration card), over every shown pick;
- ``names_wish_share``: among main picks of requests whose wishes the rules read (hard
  constraints or mood genres), the share whose reason names at least one wish the pick meets (a
  met wish's proof, :func:`agent.reasons.wishes.met_wishes`, is in the text); ``..._with_themes``
  also counts requests stating only theme words;
- ``below_base_rate``: reasons citing a statistic that does not beat the base rate (a lift below
  1, a share of lovers not above everyone else's, or a co-rating share below the pick's share of
  all users), recomputed from the data;
- ``max_shared_pattern`` (worst list) and ``lists_over_2``: cards of one list sharing a sentence
  pattern (:func:`agent.reasons.phrasing.max_shared`);
- ``popularity_only_share``: reasons that are only a rating; ``stale_reference``: reasons of a
  conversation's second turn citing the first turn's film.

Writes ``reasons.json`` (not ``results.json``: that name is kept for eval runs rendered by
:func:`eval.report.render_report`), ``report.md`` and ``sample.md`` (20 reasons for a person to read) into ``out``.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: scripted conversations: a reference film, then a request that does not involve it
CONVERSATIONS: tuple[tuple[str, str], ...] = (
    ("something tense like Se7en", "nothing made after 1970, a comedy"),
    ("I loved Toy Story", "a war film from the 80s"),
    ("films like Pulp Fiction", "a romantic comedy under 100 minutes"),
    ("something like The Matrix", "an Oscar winner from the 50s"),
    ("I liked Fargo", "movies with Tom Hanks"),
    ("something like Alien", "a musical for my kids"),
)
_LIFT = re.compile(r"(?:people who loved|fans of) (.+?\(\d{4}\)) (?:were|loved it) ([\d.]+) times", re.IGNORECASE)
_SHARES = re.compile(r"(\d+)% of the [\d,]+ people who loved (.+?\(\d{4}\)) loved it too, against (\d+)% of everyone else",
                     re.IGNORECASE)
_RATED = re.compile(r"(\d+)% of the [\d,]+ people who rated (.+?\(\d{4}\)) also rated it", re.IGNORECASE)
_RATING = re.compile(r"rated \d\.\d/5 on average by [\d,]+ people|people rated it, \d\.\d/5 on average")


@dataclass
class Card:
    """One shown card: the request, the pick and its reason, the checks."""

    suite: str
    request: str
    pick: str
    reason: str
    exploration: bool
    valid: bool
    flags: list[str]
    claims: int
    grounded: int
    states_wish: bool
    states_theme: bool
    met: list[str] = field(default_factory=list)
    names_wish: bool = False
    below_base: bool = False
    popularity_only: bool = False
    stale: bool = False
    statistic: bool = False


def _below_base(reason: str, item_id: str, app: Any, titles: dict[str, str]) -> bool:
    """True when a statistic in ``reason`` does not beat the base rate (see the module doc)."""
    liking, behaviour = app.liking, app.behaviour
    for ref, ratio in _LIFT.findall(reason):
        stat = liking.lift(titles.get(ref, ref), item_id) if liking is not None else None
        if float(ratio) < 1 or (stat is not None and stat.ratio < 1):
            return True
    for inside, _ref, outside in _SHARES.findall(reason):
        if int(inside) <= int(outside):
            return True
    for share, _ref in _RATED.findall(reason):
        users = liking.users if liking is not None else 0
        if behaviour is not None and users and int(share) / 100 <= behaviour.raters(item_id) / users:
            return True
    return False


def run(catalog: str = "movielens-1m", out: Path = Path("bench/results/reasons"), limit: int | None = None,
        sample_size: int = 20) -> dict[str, Any]:
    """Measure (module doc); ``limit`` = the first N requests of each suite (a quick look)."""
    from agent.app import open_app
    from agent.conversation import ChatAgent
    from agent.reasons.phrasing import max_shared, split_reason
    from agent.reasons.strict_check import StrictReasonChecker
    from agent.reasons.wishes import met_wishes, states_wish, theme_words
    from agent.settings import AgentSettings
    from agent.understanding.genres import wished_genres
    from eval.freeform import load_suite
    from eval.request_suite import request_suite
    from retrieval.settings import RetrievalSettings

    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="recchat-bench-reasons-")
    app = open_app(RetrievalSettings(catalog=catalog), AgentSettings(sessions_url=f"sqlite:///{tmp}/bench.db"), use_llm=False)
    agent = ChatAgent(app)
    genres = agent.vocabulary().genres
    checker = StrictReasonChecker(genres)
    scripts: list[tuple[str, list[str]]] = [("freeform", [r.text]) for r in load_suite()[:limit]]
    scripts += [("requests", [r.text]) for r in request_suite(genres)[:limit]]
    scripts += [("conversation", list(c)) for c in CONVERSATIONS]
    cards: list[Card] = []
    lists: list[int] = []
    seconds: list[float] = []
    for suite, messages in scripts:
        session = agent.new_session(user_id=f"bench-reasons-{len(lists)}")
        first_refs: list[str] = []
        for turn, message in enumerate(messages):
            t0 = time.perf_counter()
            reply = agent.respond(session, message, k=5)
            seconds.append(time.perf_counter() - t0)
            if turn == 0 and len(messages) > 1:
                first_refs = [r.title for r in session.profile.liked_items]
                continue
            profile = session.profile
            wished = wished_genres(profile.liked_attributes)
            c = profile.constraints
            liked_titles = [r.title for r in profile.liked_items]
            themes = theme_words(message, c, genres, liked_titles)
            titles = {r.item.label: r.item.id for r in reply.recommendations}
            titles.update({t: i for i, t in session.titles.items()})
            titles.update({r.title: r.item_id for r in profile.liked_items})
            recs = reply.recommendations
            lists.append(max_shared([r.reason or "" for r in recs]))
            for rec in recs:
                ev = reply.evidence.get(rec.item.id)
                cited = list(ev.facts) + ([ev.exploration_seed] if ev and ev.exploration_seed else []) if ev else []
                verdict = checker.check(rec.reason, rec.item, cited)
                met = [] if rec.exploration else [f.proof for f in met_wishes(rec.item, c, wished, message, themes)]
                text = rec.reason or ""
                sentences = split_reason(text)
                cards.append(Card(
                    suite, " / ".join(messages), rec.item.label, text, rec.exploration, verdict.valid, list(verdict.flags),
                    verdict.total_claims, verdict.grounded_claims, states_wish(c, wished), bool(themes), met,
                    any(m.lower() in text.lower() for m in met), _below_base(text, rec.item.id, app, titles),
                    bool(sentences) and all(_RATING.search(s) for s in sentences),
                    any(f" {t.lower()}" in text.lower() for t in first_refs if t),
                    bool(_LIFT.search(text) or _SHARES.search(text) or _RATED.search(text))))
        agent.sessions.delete(session.id)
    result = summarise(cards, lists, seconds)
    result.update({"catalog": catalog, "requests": len(scripts), "seconds": round(time.perf_counter() - started, 1),
                   "command": f"recchat bench reasons --out {out}" + (f" --limit {limit}" if limit else "")})
    out.mkdir(parents=True, exist_ok=True)
    (out / "reasons.json").write_text(json.dumps({**result, "cards": [c.__dict__ for c in cards]}, indent=2,
                                                 ensure_ascii=False), encoding="utf-8")
    (out / "report.md").write_text(report_md(result), encoding="utf-8")
    (out / "sample.md").write_text(sample_md(cards, sample_size, result["command"]), encoding="utf-8")
    app.close()
    return result


def summarise(cards: Sequence[Card], lists: Sequence[int], seconds: Sequence[float]) -> dict[str, Any]:
    """The figures of the module doc over ``cards`` (and the per-list pattern maxima)."""
    main = [c for c in cards if not c.exploration]
    wish = [c for c in main if c.states_wish]
    wish_or_theme = [c for c in main if c.states_wish or c.states_theme]
    claims = sum(c.claims for c in cards)

    def share(xs: Sequence[bool]) -> float | None:
        return round(sum(xs) / len(xs), 4) if xs else None

    return {
        "cards": len(cards), "main_cards": len(main), "lists": len(lists),
        "valid_share": share([c.valid for c in cards]),
        "valid_share_main": share([c.valid for c in main]),
        "claim_precision": round(sum(c.grounded for c in cards) / claims, 4) if claims else None,
        "truncated": sum("truncated" in c.flags for c in cards),
        "names_wish_share": share([c.names_wish for c in wish]), "names_wish_cards": len(wish),
        "names_wish_share_with_themes": share([c.names_wish for c in wish_or_theme]),
        "names_wish_cards_with_themes": len(wish_or_theme),
        "below_base_rate": sum(c.below_base for c in cards),
        "citing_statistic": sum(c.statistic for c in cards),
        "max_shared_pattern": max(lists, default=0), "lists_over_2": sum(n > 2 for n in lists),
        "popularity_only_share": share([c.popularity_only for c in main]),
        "stale_reference": sum(c.stale for c in main),
        "stale_reference_exploration": sum(c.stale for c in cards if c.exploration),
        "turn_p50_s": round(statistics.median(seconds), 3) if seconds else None,
    }


def report_md(result: dict[str, Any]) -> str:
    """The figures as markdown, the command first."""
    rows = [
        ("shown picks with a valid reason (strict check)", "valid_share", "1.000"),
        ("claim precision", "claim_precision", ">= 0.99"),
        ("truncated reasons", "truncated", "0"),
        (f"reasons naming >= 1 met wish, requests stating one ({result['names_wish_cards']} cards)", "names_wish_share",
         ">= 0.90"),
        (f"  the same, theme-only requests included ({result['names_wish_cards_with_themes']} cards)",
         "names_wish_share_with_themes", "-"),
        ("reasons citing a liking statistic (lift or shares)", "citing_statistic", "-"),
        ("  of them below the base rate", "below_base_rate", "0"),
        (f"most cards of one list sharing a sentence pattern ({result['lists']} lists)", "max_shared_pattern", "<= 2"),
        ("lists with a pattern on more than 2 cards", "lists_over_2", "0"),
        ("main picks whose reason is only a rating", "popularity_only_share", "last resort"),
        ("second-turn reasons citing the first turn's film (main picks)", "stale_reference", "0"),
        ("  the same, the exploration card (its own sentence, agent/ranking/exploration.py)",
         "stale_reference_exploration", "-"),
        ("turn latency p50 (s)", "turn_p50_s", "-"),
    ]
    lines = [f"# Reasons worth reading ({result['catalog']}, {result['requests']} requests, {result['cards']} cards)", "",
             f"`{result['command']}` (rules, no LLM; {result['seconds']} s)", "",
             "| figure | value | target |", "| --- | --- | --- |"]
    lines += [f"| {label} | {result[key]} | {target} |" for label, key, target in rows]
    return "\n".join(lines) + "\n"


def sample_md(cards: Sequence[Card], n: int, command: str) -> str:
    """``n`` cards spread over the suites (every k-th of each), as a markdown table."""
    picked: list[Card] = []
    suites = list(dict.fromkeys(c.suite for c in cards))
    per = max(1, -(-n // max(1, len(suites))))
    for suite in suites:
        pool = [c for c in cards if c.suite == suite]
        step = max(1, len(pool) // per)
        picked += pool[::step][:per]
    picked = picked[:n]
    lines = [f"# {len(picked)} reasons to read", "", f"From `{command}`: request, pick, the reason shown on its card "
             "(rules, no LLM; strict-check verdict).", "", "| # | request | pick | reason | valid |", "| --- | --- | --- | --- | --- |"]
    for i, c in enumerate(picked, 1):
        cell = lambda s: s.replace("|", "\\|")  # noqa: E731
        lines.append(f"| {i} | {cell(c.request)} | {cell(c.pick)}{' (to explore)' if c.exploration else ''} | "
                     f"{cell(c.reason)} | {'yes' if c.valid else ', '.join(c.flags)} |")
    return "\n".join(lines) + "\n"
