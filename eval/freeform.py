"""The free-form request suite: requests the chat's rules cannot read today, and their check.

The yardstick of issue 29 part 2 (``recchat eval --protocol freeform``): single requests written
the way people type them ("movies with Tom Hanks from the 90s", "nothing R-rated", "an
underrated gem from the 80s", "a heist film with a twist ending", "my wife hates violence, a
date night film please"). The requests and their expectations are DATA, in
``eval/freeform_suite.json`` (hand-written, reviewed, with the rules stated once at its top);
this module loads them and checks shown picks against them, from the facts only.

A request expects, in any combination:

* ``people``: (role, name) pairs; each name must be in the pick's ``cast``, ``director`` or
  ``writer`` list (names compared without case, accents and parenthesised notes);
* ``runtime_min`` / ``runtime_max``: inclusive bounds in minutes ("under 90 minutes" = max 89);
* ``certificates`` (allowed) / ``certificates_not`` (excluded): MPAA certificates (GP and M
  count as PG, X as NC-17; Approved, Passed, Not Rated, Unrated and TV ratings are not checkable);
* ``oscars_won_min`` / ``oscars_won_max`` / ``oscar_nominations_min`` (a win counts as a nomination);
* ``acclaim``: one of :data:`ACCLAIM_RULES` (``critics``, ``underrated``, ``top_rated``, defined there);
* ``language`` / ``language_not`` / ``country`` (see :func:`_check_language`);
* genre and year parts, as :class:`eval.constraints.HardConstraints`;
* ``relevant``: a hand-made set of MovieLens-1M items ("Title (Year)" ids) the pick must be in
  (plot, theme, mood and occasion requests; the sets are not exhaustive, so those shares are
  lower bounds).

One pick against one request is :data:`SATISFIED`, :data:`NOT_SATISFIED` (a checkable part
fails) or :data:`NOT_CHECKABLE` (no part fails but a fact one part needs is absent for this
pick). A request whose needed fact is absent from the WHOLE catalog is skipped (counted as
not checkable, reported apart). For a request: the share of shown picks satisfying it and
whether at least :data:`MIN_SATISFIED` of them do.

The facts are read from :attr:`retrieval.items.Item.extra` under the names of
:data:`FACT_FIELDS` (the first present name wins), plus MovieLens rating counts and means
(:class:`RatingStats`) for the acclaim rules.
"""

from __future__ import annotations

import json
import re
import statistics
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.constraints import HardConstraints
from retrieval.items import Item
from retrieval.titles import normalise_title

SUITE_PATH = Path(__file__).with_name("freeform_suite.json")

KINDS: tuple[str, ...] = ("person", "length", "certificate", "awards", "acclaim", "origin", "plot", "mood", "combined")
"""Every request kind, in report order."""

HELD_OUT_EVERY = 3
"""Within each kind, every third request in file order (3rd, 6th, ...) is held out."""

SHOWN = 5
"""Picks a request is answered with (a fresh session, 5 shown)."""

MIN_SATISFIED = 3
"""A request "works" when at least this many of its shown picks satisfy it (3 of 5)."""

WORST = 15
"""Worst requests listed (with their picks) in the results."""

SATISFIED, NOT_SATISFIED, NOT_CHECKABLE = "satisfied", "not_satisfied", "not_checkable"

#: Fact name -> the ``Item.extra`` keys it may be stored under (first present wins).
FACT_FIELDS: dict[str, tuple[str, ...]] = {
    "cast": ("cast_full", "cast"),
    "director": ("director", "directors"),
    "writer": ("writer", "writers"),
    "runtime": ("runtime_min", "runtime_minutes", "runtime"),
    "certificate": ("certificate", "mpaa", "rated", "mpaa_rating"),
    "oscars_won": ("oscars_won", "oscar_wins", "oscars"),
    "oscar_nominations": ("oscar_nominations", "oscars_nominated", "oscar_noms"),
    "metacritic": ("metacritic", "metascore"),
    "rt_meter": ("rt_meter", "tomato_meter", "rotten_tomatoes", "tomatometer"),
    "imdb_rating": ("imdb_rating",),
    "imdb_votes": ("imdb_votes",),
    "original_language": ("original_language",),
    "language": ("language", "languages"),
    "country": ("country", "countries"),
}

SHORT_CAST = 8
"""A catalog whose cast lists never exceed this many names has no checkable cast."""

#: The acclaim rules, stated once (also in the suite file's ``rules``).
ACCLAIM_RULES: dict[str, str] = {
    "critics": "Metacritic >= 75 or Rotten Tomatoes meter >= 90 (not checkable when both are missing)",
    "underrated": "ML-1M rating count below the catalog median of rated items AND (ML-1M mean rating >= 3.8 over "
                  ">= 10 ratings, or Metacritic >= 70, or IMDb rating >= 7.5); at or above the median: not satisfied; "
                  "below it with no quality figure: not checkable",
    "top_rated": "ML-1M mean rating >= 4.2 over >= 100 ratings, or IMDb rating >= 8.0 over >= 10,000 votes",
}

#: Which facts each acclaim rule may use (a request is skipped when the catalog has none of them).
_ACCLAIM_FACTS = {"critics": ("metacritic", "rt_meter"), "underrated": ("ratings",), "top_rated": ("ratings",)}

_CERT_ALIASES = {"GP": "PG", "M": "PG", "M/PG": "PG", "X": "NC-17", "NC17": "NC-17", "PG13": "PG-13"}
_MPAA = ("G", "PG", "PG-13", "R", "NC-17")
_COUNTRY_ALIASES = {"uk": "united kingdom", "great britain": "united kingdom", "england": "united kingdom",
                    "britain": "united kingdom", "usa": "united states", "us": "united states",
                    "united states of america": "united states", "west germany": "germany"}


# --------------------------------------------------------------------------- the suite

@dataclass(frozen=True)
class Expected:
    """What every shown pick must satisfy for one request (see the module doc)."""

    people: tuple[tuple[str, str], ...] = ()
    runtime_min: int | None = None
    runtime_max: int | None = None
    certificates: tuple[str, ...] = ()
    certificates_not: tuple[str, ...] = ()
    oscars_won_min: int | None = None
    oscars_won_max: int | None = None
    oscar_nominations_min: int | None = None
    acclaim: str | None = None
    language: str | None = None
    language_not: str | None = None
    country: str | None = None
    hard: HardConstraints = field(default_factory=HardConstraints)
    relevant: tuple[str, ...] = ()

    def needs(self) -> set[str]:
        """The facts (:data:`FACT_FIELDS` names, or ``ratings``) this expectation reads."""
        out = {role for role, _ in self.people}
        if self.runtime_min is not None or self.runtime_max is not None:
            out.add("runtime")
        if self.certificates or self.certificates_not:
            out.add("certificate")
        if self.oscars_won_min is not None or self.oscars_won_max is not None:
            out.add("oscars_won")
        if self.oscar_nominations_min is not None:
            out.add("oscar_nominations")
        if self.language or self.language_not:
            out.add("language")
        if self.country:
            out.add("country")
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("runtime_min", "runtime_max", "oscars_won_min", "oscars_won_max", "oscar_nominations_min",
                     "acclaim", "language", "language_not", "country"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.people:
            out["people"] = [list(p) for p in self.people]
        for name in ("certificates", "certificates_not", "relevant"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        hard = {k: v for k, v in self.hard.to_dict().items() if v not in (None, [])}
        return out | hard


@dataclass(frozen=True)
class FreeformRequest:
    """One request of the suite."""

    id: str
    text: str
    kind: str
    expected: Expected
    held_out: bool = False
    reference_titles: tuple[str, ...] = ()
    """Always empty (the chat protocols' responders read it)."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "kind": self.kind, "held_out": self.held_out,
                "expected": self.expected.to_dict()}


_HARD_KEYS = ("year_min", "year_max", "genres_all", "genres_any", "exclude_genres", "exclude_items")
_KNOWN_KEYS = {"id", "kind", "text", "people", "runtime_min", "runtime_max", "certificates", "certificates_not",
               "oscars_won_min", "oscars_won_max", "oscar_nominations_min", "acclaim", "language", "language_not",
               "country", "relevant", *_HARD_KEYS}


def _request(row: Mapping[str, Any], held_out: bool) -> FreeformRequest:
    unknown = set(row) - _KNOWN_KEYS
    if unknown:
        raise ValueError(f"request {row.get('id')}: unknown keys {sorted(unknown)}")
    if row["kind"] not in KINDS:
        raise ValueError(f"request {row['id']}: unknown kind {row['kind']!r}")
    if row.get("acclaim") is not None and row["acclaim"] not in ACCLAIM_RULES:
        raise ValueError(f"request {row['id']}: unknown acclaim rule {row['acclaim']!r}")
    people = tuple((str(role), str(name)) for role, name in row.get("people", ()))
    if any(role not in ("cast", "director", "writer") for role, _ in people):
        raise ValueError(f"request {row['id']}: a person's role must be cast, director or writer")
    hard = HardConstraints.from_dict({k: row[k] for k in _HARD_KEYS if k in row})
    expected = Expected(people=people, runtime_min=row.get("runtime_min"), runtime_max=row.get("runtime_max"),
                        certificates=tuple(row.get("certificates", ())),
                        certificates_not=tuple(row.get("certificates_not", ())),
                        oscars_won_min=row.get("oscars_won_min"), oscars_won_max=row.get("oscars_won_max"),
                        oscar_nominations_min=row.get("oscar_nominations_min"), acclaim=row.get("acclaim"),
                        language=row.get("language"), language_not=row.get("language_not"), country=row.get("country"),
                        hard=hard, relevant=tuple(row.get("relevant", ())))
    return FreeformRequest(str(row["id"]), str(row["text"]), str(row["kind"]), expected, held_out)


def load_suite(path: Path | None = None) -> list[FreeformRequest]:
    """The suite in file order; within each kind every :data:`HELD_OUT_EVERY`-th is held out."""
    data = json.loads(Path(path or SUITE_PATH).read_text(encoding="utf-8"))
    out, per_kind = [], {}
    for row in data["requests"]:
        n = per_kind[row["kind"]] = per_kind.get(row["kind"], 0) + 1
        out.append(_request(row, held_out=n % HELD_OUT_EVERY == 0))
    ids = [r.id for r in out]
    if len(set(ids)) != len(ids):
        raise ValueError("request ids are not unique")
    return out


def suite_rules(path: Path | None = None) -> dict[str, str]:
    """The rules stated at the top of the suite file (phrase -> its exact meaning)."""
    return dict(json.loads(Path(path or SUITE_PATH).read_text(encoding="utf-8"))["rules"])


def interleaved(requests: Sequence[FreeformRequest], limit: int | None = None) -> list[FreeformRequest]:
    """The first ``limit`` requests taking one of each kind in turn (a slice that covers every
    kind); all of them, in file order, when ``limit`` is None."""
    if limit is None:
        return list(requests)
    queues = {k: [r for r in requests if r.kind == k] for k in dict.fromkeys(r.kind for r in requests)}
    out: list[FreeformRequest] = []
    while len(out) < limit and any(queues.values()):
        for queue in queues.values():
            if queue and len(out) < limit:
                out.append(queue.pop(0))
    return out


def resolve_relevant(requests: Iterable[FreeformRequest], items: Iterable[Item]) -> tuple[dict[str, frozenset[str]], list[str]]:
    """Request id -> catalog ids of its relevant set, matched by id, then by the "Title (Year)"
    label, then by normalised title and year (another catalog, e.g. MovieLens-100K). Returns the
    map and the relevant titles the catalog lacks (dropped)."""
    by_key: dict[str, str] = {}
    for item in items:
        for key in (item.id, item.label, f"{normalise_title(item.title)}|{item.year}"):
            by_key.setdefault(key, item.id)
    out, missing = {}, []
    for request in requests:
        ids = set()
        for title in request.expected.relevant:
            year = re.search(r"\((\d{4})\)\s*$", title)
            found = by_key.get(title) or by_key.get(f"{normalise_title(title)}|{int(year.group(1)) if year else None}")
            if found is None:
                missing.append(title)
            else:
                ids.add(found)
        out[request.id] = frozenset(ids)
    return out, sorted(set(missing))


# --------------------------------------------------------------------------- facts

@dataclass(frozen=True)
class RatingStats:
    """MovieLens rating count and mean per item (the catalog's own facts for the acclaim rules)."""

    counts: Mapping[str, int]
    means: Mapping[str, float]
    median_count: float

    @classmethod
    def from_interactions(cls, frame: Any) -> "RatingStats":
        """From an interactions frame with ``item_id`` and ``rating``; the median is over rated items."""
        grouped = frame.groupby("item_id")["rating"].agg(["count", "mean"])
        counts = {str(k): int(v) for k, v in grouped["count"].items()}
        means = {str(k): float(v) for k, v in grouped["mean"].items() if v == v}
        return cls(counts, means, float(statistics.median(counts.values())) if counts else 0.0)


def fact(item: Item, name: str) -> Any:
    """The value of fact ``name`` (:data:`FACT_FIELDS`) for ``item``, or None."""
    for key in FACT_FIELDS.get(name, (name,)):
        value = item.extra.get(key)
        if value not in (None, "", [], "N/A"):
            return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = re.search(r"-?\d+(?:\.\d+)?", value.replace(",", ""))
        return float(m.group()) if m else None
    return None


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [v for v in str(value).split(",")]


def _norm_name(name: str) -> str:
    name = re.sub(r"\([^)]*\)", " ", name)
    name = unicodedata.normalize("NFKD", name)
    name = "".join(c for c in name if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", " ", name).strip()


def certificate(item: Item) -> str | None:
    """The pick's MPAA certificate (G, PG, PG-13, R, NC-17) or None (absent or not an MPAA one)."""
    raw = fact(item, "certificate")
    if raw is None:
        return None
    value = str(raw).strip().upper().replace("RATED ", "")
    value = _CERT_ALIASES.get(value, value)
    return value if value in _MPAA else None


def _languages(item: Item) -> list[str]:
    return [n.strip().lower() for n in _names(fact(item, "language")) if n.strip()]


def _countries(item: Item) -> list[str]:
    out = []
    for n in _names(fact(item, "country")):
        n = n.strip().lower()
        out.append(_COUNTRY_ALIASES.get(n, n))
    return out


# --------------------------------------------------------------------------- the check

@dataclass(frozen=True)
class Verdict:
    """One pick against one request."""

    status: str
    failed: tuple[str, ...] = ()
    """Plain-words reasons a checkable part fails."""
    missing: tuple[str, ...] = ()
    """Facts a part needed that this pick lacks."""


def _check_language(item: Item, wanted: str | None, unwanted: str | None) -> tuple[list[str], list[str]]:
    failed, missing = [], []
    original = fact(item, "original_language")
    original = str(original).strip().lower() if original else None
    languages = _languages(item)
    if wanted:
        w = wanted.lower()
        if original:
            if original not in (w, _ISO.get(w, "")):
                failed.append(f"original language {original}, not {wanted}")
        elif not languages:
            missing.append("language")
        elif w not in languages:
            failed.append(f"not in {wanted} ({', '.join(languages)})")
        elif w != "english" and "english" in languages:
            missing.append("original language")  # both listed: which one is the film's own is unknown
    if unwanted:
        u = unwanted.lower()
        if original:
            if original in (u, _ISO.get(u, "")):
                failed.append(f"original language {original}")
        elif not languages:
            missing.append("language")
        elif u in languages:
            failed.append(f"in {unwanted}")
    return failed, missing


_ISO = {"english": "en", "french": "fr", "japanese": "ja", "italian": "it", "spanish": "es", "german": "de",
        "chinese": "zh", "cantonese": "cn", "swedish": "sv", "russian": "ru", "korean": "ko", "hindi": "hi"}


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _check_acclaim(item: Item, rule: str, stats: RatingStats | None) -> tuple[list[str], list[str]]:
    meta, rt = _number(fact(item, "metacritic")), _number(fact(item, "rt_meter"))
    imdb, votes = _number(fact(item, "imdb_rating")), _number(fact(item, "imdb_votes"))
    count = stats.counts.get(item.id, 0) if stats else None
    mean = stats.means.get(item.id) if stats else None
    if rule == "critics":
        if meta is None and rt is None:
            return [], ["metacritic/rt_meter"]
        if (meta is not None and meta >= 75) or (rt is not None and rt >= 90):
            return [], []
        return [f"critics: metacritic {_g(meta)}, rotten tomatoes {_g(rt)}"], []
    if rule == "underrated":
        if stats is None:
            return [], ["ratings"]
        if count >= stats.median_count:
            return [f"not little-known ({count} ratings >= median {stats.median_count:g})"], []
        tests = []
        if mean is not None and count >= 10:
            tests.append(mean >= 3.8)
        if meta is not None:
            tests.append(meta >= 70)
        if imdb is not None:
            tests.append(imdb >= 7.5)
        if not tests:
            return [], ["quality figure"]
        return ([], []) if any(tests) else ([f"little-known but not rated highly (mean {_g(mean)}, metacritic "
                                              f"{_g(meta)}, imdb {_g(imdb)})"], [])
    if rule == "top_rated":
        tests = []
        if stats is not None and mean is not None and count >= 100:
            tests.append(mean >= 4.2)
        if imdb is not None and (votes or 0) >= 10_000:
            tests.append(imdb >= 8.0)
        if not tests:
            return [], ["ratings"]
        return ([], []) if any(tests) else ([f"not top rated (mean {_g(mean)} over {count} ratings, imdb {_g(imdb)})"], [])
    raise ValueError(f"unknown acclaim rule {rule!r}")


def check_pick(expected: Expected, item: Item, stats: RatingStats | None = None,
               relevant: frozenset[str] | None = None) -> Verdict:
    """Does ``item`` satisfy ``expected``, from its facts? ``relevant``: the request's relevant
    set as catalog ids (default: ``expected.relevant`` as given, MovieLens-1M ids)."""
    failed = list(expected.hard.violations(item))
    missing: list[str] = []
    if expected.relevant:
        pool = relevant if relevant is not None else frozenset(expected.relevant)
        if item.id not in pool:
            failed.append("not in the relevant set")
    for role, name in expected.people:
        names = _names(fact(item, role))
        if not names:
            missing.append(role)
        elif _norm_name(name) not in {_norm_name(n) for n in names}:
            failed.append(f"{name} not in {role}")
    if expected.runtime_min is not None or expected.runtime_max is not None:
        runtime = _number(fact(item, "runtime"))
        if runtime is None:
            missing.append("runtime")
        else:
            if expected.runtime_min is not None and runtime < expected.runtime_min:
                failed.append(f"runtime {runtime:g} < {expected.runtime_min}")
            if expected.runtime_max is not None and runtime > expected.runtime_max:
                failed.append(f"runtime {runtime:g} > {expected.runtime_max}")
    if expected.certificates or expected.certificates_not:
        cert = certificate(item)
        if cert is None:
            missing.append("certificate")
        elif expected.certificates and cert not in expected.certificates:
            failed.append(f"rated {cert}, not {'/'.join(expected.certificates)}")
        elif cert in expected.certificates_not:
            failed.append(f"rated {cert}")
    if expected.oscars_won_min is not None or expected.oscars_won_max is not None:
        won = _number(fact(item, "oscars_won"))
        if won is None:
            missing.append("oscars_won")
        else:
            if expected.oscars_won_min is not None and won < expected.oscars_won_min:
                failed.append(f"won {won:g} Oscars < {expected.oscars_won_min}")
            if expected.oscars_won_max is not None and won > expected.oscars_won_max:
                failed.append(f"won {won:g} Oscars > {expected.oscars_won_max}")
    if expected.oscar_nominations_min is not None:
        nominated = _number(fact(item, "oscar_nominations"))
        won = _number(fact(item, "oscars_won"))
        total = None if nominated is None else max(nominated, won or 0)
        if total is None:
            missing.append("oscar_nominations")
        elif total < expected.oscar_nominations_min:
            failed.append(f"{total:g} Oscar nominations < {expected.oscar_nominations_min}")
    if expected.acclaim:
        f, m = _check_acclaim(item, expected.acclaim, stats)
        failed += f
        missing += m
    if expected.language or expected.language_not:
        f, m = _check_language(item, expected.language, expected.language_not)
        failed += f
        missing += m
    if expected.country:
        countries = _countries(item)
        wanted = _COUNTRY_ALIASES.get(expected.country.lower(), expected.country.lower())
        if not countries:
            missing.append("country")
        elif wanted not in countries:
            failed.append(f"not from {expected.country} ({', '.join(countries)})")
    if failed:
        return Verdict(NOT_SATISFIED, tuple(failed), tuple(missing))
    return Verdict(NOT_CHECKABLE if missing else SATISFIED, (), tuple(missing))


def available_facts(items: Iterable[Item], stats: RatingStats | None = None) -> set[str]:
    """The facts (:data:`FACT_FIELDS` names, ``ratings``) at least one item of the catalog has.
    ``cast`` counts only when some item lists more than :data:`SHORT_CAST` names: a short cast
    list (the first 8 names of an alphabetical cast, as an older enrichment kept) misses a star
    as often as not, so a name not found there proves nothing."""
    items = list(items)
    out = {name for name in FACT_FIELDS if any(fact(i, name) is not None for i in items)}
    if "cast" in out and not any(len(_names(fact(i, "cast"))) > SHORT_CAST for i in items):
        out.discard("cast")
    if stats is not None and stats.counts:
        out.add("ratings")
    return out


def unchecked_facts(expected: Expected, available: set[str]) -> list[str]:
    """The facts ``expected`` needs that the whole catalog lacks ([] = the request is checkable).
    An acclaim rule needs at least one of its facts; a language part is checkable with either
    ``language`` or ``original_language``."""
    needs = set(expected.needs())
    if "language" in needs and "original_language" in available:
        needs.discard("language")
    out = sorted(needs - available)
    if expected.acclaim and not set(_ACCLAIM_FACTS[expected.acclaim]) & available:
        out.append("/".join(_ACCLAIM_FACTS[expected.acclaim]))
    return out


@dataclass
class Judgement:
    """One request's shown list, judged."""

    verdicts: list[Verdict]

    @property
    def shown(self) -> int:
        return len(self.verdicts)

    def count(self, status: str) -> int:
        return sum(v.status == status for v in self.verdicts)

    @property
    def share(self) -> float | None:
        """Shown picks satisfying the request / shown picks (not checkable counts as not satisfying)."""
        return self.count(SATISFIED) / self.shown if self.shown else None

    @property
    def works(self) -> bool:
        """At least :data:`MIN_SATISFIED` shown picks satisfy the request."""
        return self.count(SATISFIED) >= MIN_SATISFIED


def judge(request: FreeformRequest, shown: Sequence[Item], stats: RatingStats | None = None,
          relevant: frozenset[str] | None = None) -> Judgement:
    """Every shown pick of ``request`` checked (:func:`check_pick`)."""
    return Judgement([check_pick(request.expected, item, stats, relevant) for item in shown])


# --------------------------------------------------------------------------- running the suite

class _Group:
    def __init__(self) -> None:
        self.requests = self.skipped = self.empty = self.works = 0
        self.status = {SATISFIED: 0, NOT_SATISFIED: 0, NOT_CHECKABLE: 0}
        self.percentiles: list[float] = []
        self.seconds: list[float] = []

    def add(self, judgement: Judgement | None, outcome: Any) -> None:
        self.requests += 1
        if judgement is None:
            self.skipped += 1
            return
        self.empty += not judgement.shown
        self.works += judgement.works
        for v in judgement.verdicts:
            self.status[v.status] += 1
        self.percentiles += [float(p) for p in outcome.popularity_percentiles]
        self.seconds.append(float(outcome.seconds))

    def summary(self) -> dict[str, Any]:
        checked = self.requests - self.skipped
        picks = sum(self.status.values())
        known = self.status[SATISFIED] + self.status[NOT_SATISFIED]
        return {
            "requests": self.requests, "checked_requests": checked, "skipped_not_checkable": self.skipped,
            "picks": picks, "picks_satisfied": self.status[SATISFIED], "picks_not_satisfied": self.status[NOT_SATISFIED],
            "picks_not_checkable": self.status[NOT_CHECKABLE],
            "pick_satisfaction": self.status[SATISFIED] / picks if picks else None,
            "pick_satisfaction_checkable": self.status[SATISFIED] / known if known else None,
            "requests_3_of_5": self.works, "requests_3_of_5_share": self.works / checked if checked else None,
            "median_popularity_percentile": statistics.median(self.percentiles) if self.percentiles else None,
            "empty_lists": self.empty,
            "median_seconds": statistics.median(self.seconds) if self.seconds else None,
        }


def run_freeform(requests: Sequence[FreeformRequest], respond: Callable[[FreeformRequest], Any],
                 stats: RatingStats | None = None, relevant: Mapping[str, frozenset[str]] | None = None,
                 available: set[str] | None = None, progress: bool = True, worst: int = WORST) -> dict[str, Any]:
    """Ask every request through ``respond`` (-> an object with ``shown`` items,
    ``popularity_percentiles`` and ``seconds``, e.g. :class:`eval.request_suite.RequestOutcome`)
    and judge its picks. ``relevant``: :func:`resolve_relevant`'s map (default: the sets as
    written); ``available``: :func:`available_facts` of the catalog (default: every fact), a
    request needing a fact outside it is skipped and counted ``skipped_not_checkable``.

    Returns a JSON-able dict: ``overall``, ``by_kind``, ``by_split`` (``held_out`` /
    ``not_held_out``), each with requests, checked_requests, skipped_not_checkable, picks,
    picks_satisfied / _not_satisfied / _not_checkable, ``pick_satisfaction`` (satisfied / shown),
    ``pick_satisfaction_checkable`` (satisfied / (satisfied + not satisfied)), ``requests_3_of_5``
    (count) and ``_share`` (among checked requests), ``median_popularity_percentile``,
    ``empty_lists``, ``median_seconds``; ``worst``: the ``worst`` checked requests with the
    lowest share (ties: most picks not satisfied), with their picks and verdicts; ``skipped``:
    id -> the missing facts; ``rows``: per request."""
    from tqdm.auto import tqdm

    groups: dict[str, _Group] = {}
    rows, skipped = [], {}
    for request in tqdm(requests, desc="free-form requests", unit="request", disable=not progress):
        lacking = unchecked_facts(request.expected, available) if available is not None else []
        outcome = respond(request)
        judgement = None
        if lacking:
            skipped[request.id] = lacking
        else:
            judgement = judge(request, outcome.shown, stats, (relevant or {}).get(request.id))
        for name in ("overall", f"kind:{request.kind}", "split:" + ("held_out" if request.held_out else "not_held_out")):
            groups.setdefault(name, _Group()).add(judgement, outcome)
        picks = [{"pick": it.label, "status": v.status, "failed": list(v.failed), "missing": list(v.missing)}
                 for it, v in zip(outcome.shown, judgement.verdicts if judgement else [])]
        rows.append({"id": request.id, "kind": request.kind, "text": request.text, "held_out": request.held_out,
                     "checked": judgement is not None, "n_shown": len(outcome.shown),
                     "n_satisfied": judgement.count(SATISFIED) if judgement else None,
                     "n_not_satisfied": judgement.count(NOT_SATISFIED) if judgement else None,
                     "n_not_checkable": judgement.count(NOT_CHECKABLE) if judgement else None,
                     "share": judgement.share if judgement else None,
                     "works": judgement.works if judgement else None,
                     "picks": picks if judgement else [it.label for it in outcome.shown],
                     "seconds": float(outcome.seconds)})

    def section(prefix: str, order: Sequence[str]) -> dict[str, Any]:
        rank = {k: i for i, k in enumerate(order)}
        names = sorted((n for n in groups if n.startswith(prefix)), key=lambda n: (rank.get(n[len(prefix):], 99), n))
        return {n[len(prefix):]: groups[n].summary() for n in names}

    checked = [r for r in rows if r["checked"]]
    checked.sort(key=lambda r: (r["share"] if r["share"] is not None else -1, -(r["n_not_satisfied"] or 0), r["id"]))
    return {"overall": groups.setdefault("overall", _Group()).summary(), "by_kind": section("kind:", KINDS),
            "by_split": section("split:", ("held_out", "not_held_out")), "worst": checked[:worst],
            "skipped": skipped, "rows": rows}


# --------------------------------------------------------------------------- plot

def plot_freeform(results: Mapping[str, Any], path: Path) -> None:
    """Two bar charts by request kind (then held out, all): share of shown picks satisfying the
    request, and share of requests with >= 3 of 5 satisfied; one bar per pipeline. ``results``
    is one :func:`run_freeform` result or ``{pipeline: result}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs: dict[str, Mapping[str, Any]] = {"results": results} if "by_kind" in results else dict(results)
    rank = {k: i for i, k in enumerate(KINDS)}
    kinds = sorted({k for r in runs.values() for k in r["by_kind"]}, key=lambda k: (rank.get(k, 99), k))
    groups = [*kinds, "held out", "all"]

    def value(run: Mapping[str, Any], name: str, key: str) -> float:
        figures = (run["by_split"].get("held_out") if name == "held out" else run["overall"] if name == "all"
                   else run["by_kind"].get(name)) or {}
        share = figures.get(key)
        return float("nan") if share is None else 100 * share

    width = 0.8 / max(len(runs), 1)
    fig, axes = plt.subplots(2, 1, figsize=(min(16.0, max(8.0, 0.6 * len(groups) * max(1, len(runs)) + 3)), 7.5),
                             sharex=True)
    for ax, key, label in ((axes[0], "pick_satisfaction", "shown picks satisfying (%)"),
                           (axes[1], "requests_3_of_5_share", "requests with >= 3 of 5 (%)")):
        for i, (name, run) in enumerate(runs.items()):
            xs = [g + (i - (len(runs) - 1) / 2) * width for g in range(len(groups))]
            values = [value(run, g, key) for g in groups]
            ax.bar(xs, values, width=width, label=name)
            for x, v in zip(xs, values):
                if v != v:  # every request of the group skipped: its facts are not in the catalog
                    ax.text(x, 2, "not checkable", rotation=90, ha="center", va="bottom", fontsize="x-small", color="grey")
        ax.set_ylim(0, 105)
        ax.set_ylabel(label)
    axes[0].set_title("Free-form suite: requests the chat is asked, by kind")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    axes[1].set_xticks(range(len(groups)))
    axes[1].set_xticklabels(groups, rotation=30, ha="right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
