"""Answers to questions about shown picks, composed from the picks' facts only.

:func:`answer_question` reads the question (:func:`agent.understanding.questions.read_pick_question`),
finds the picks it points at, and :func:`compose` writes one to three sentences from each pick's
catalog record (``Item.year``, ``Item.genres``, ``Item.extra``: cast, director, writer,
runtime_min, certificate, oscars_won, oscar_nominations, awards, metacritic, rt_meter,
imdb_rating, overview, tagline, keywords, country, language), the reason its card showed, the
request's constraints and the person's own words.

Invariants:

- every name and number in an answer comes from those sources (``eval/questions.py`` checks
  it); a fact the catalog lacks is said as "I don't know ...: the catalog has no <fact> for it",
  never guessed. :data:`CERTIFICATE_MEANINGS` (the MPAA's own definitions) is the one text of
  ours an answer adds;
- overview and tagline text is untrusted: it is cleaned (:func:`agent.understanding.context.clean_text`,
  links and markup removed), cut to its first one or two sentences and always quoted as the
  summary's words, never stated as ours, and nothing in it is ever followed;
- a single-pick answer names the pick's label ("Reservoir Dogs (1992)"), so the next "it" can be
  resolved from the conversation (:func:`discussed_position`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.reasons.summary import overview_sentences
from agent.types import Turn
from agent.understanding.context import clean_text
from agent.understanding.facets import UP_TO_PG
from agent.understanding.genres import wished_genres
from agent.understanding.profile import Constraints, InterestProfile, ItemRef
from agent.understanding.questions import PickQuestion, QuestionKind, read_pick_question
from retrieval.items import Item
from retrieval.untrusted import strip_instructions

#: The MPAA's meaning of each certificate (the old GP and M are today's PG).
CERTIFICATE_MEANINGS: dict[str, str] = {
    "G": "general audiences, all ages admitted",
    "PG": "parental guidance suggested: some material may not be suitable for children",
    "GP": "an old MPAA rating, today's PG: parental guidance suggested",
    "M": "an old MPAA rating, today's PG: parental guidance suggested",
    "M/PG": "an old MPAA rating, today's PG: parental guidance suggested",
    "PG-13": "parents strongly cautioned: some material may be inappropriate for children under 13",
    "R": "restricted: under 17 requires an accompanying parent or adult guardian",
    "NC-17": "no one 17 and under admitted",
    "X": "adults only",
}
#: Certificates from mildest to strictest (for "which is better for kids?").
CERTIFICATE_ORDER = ("G", "PG", "GP", "M", "M/PG", "PG-13", "R", "NC-17", "X")
#: Genres that say a film is made for children, and genres a parent may want to know about.
CHILD_GENRES = ("Children's", "Animation")
CAUTION_GENRES = ("Horror", "War", "Crime", "Thriller", "Film-Noir")
ASK_WHICH = "Which one do you mean? Give me its number in the list, or its title."
ASK_WHICH_TWO = "Which two should I compare? Give me their numbers in the list, e.g. \"the first and the third\"."
DONT_KNOW = "I don't know"


@dataclass(frozen=True)
class Answer:
    """One answer. ``item_ids``: the picks it is about (empty: it asks which); ``known``: False
    when the facts do not say ("I don't know ..."); ``question``: what was read."""

    text: str
    kind: QuestionKind
    item_ids: tuple[str, ...] = ()
    known: bool = True
    question: PickQuestion | None = None


@dataclass(frozen=True)
class AnswerContext:
    """What an answer may use besides the facts: the request's ``constraints`` and ``wished``
    genres (from its mood words), each shown pick's card ``reasons`` (item id -> text), and the
    number of picks ``shown``."""

    constraints: Constraints = field(default_factory=Constraints)
    wished: tuple[str, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)
    shown: int = 0


# ---------------------------------------------------------------------------- the conversation
_LIST_LINE = re.compile(r"^(\d{1,2})\. (.+?)(?: \[to explore\])?(?: - (.*))?$")


def shown_reasons(turns: Sequence[Turn], shown: Sequence[ItemRef]) -> dict[str, str]:
    """Item id -> the reason its card showed, read from the newest assistant turn that lists the
    shown picks ("1. Title (Year) - reason", as :meth:`agent.conversation.ChatAgent._list_text`
    writes it). Empty when no such turn is found."""
    by_label = {ref.title: ref.item_id for ref in shown}
    for turn in reversed(turns):
        if turn.role != "assistant":
            continue
        found: dict[str, str] = {}
        for line in turn.text.splitlines():
            m = _LIST_LINE.match(line.strip())
            if m and m.group(2) in by_label and m.group(3):
                found[by_label[m.group(2)]] = m.group(3).strip()
        if found:
            return found
    return {}


def discussed_position(turns: Sequence[Turn], shown: Sequence[ItemRef]) -> int:
    """1-based position of the pick the conversation discussed last: the only shown pick named
    by the newest assistant turn that names any (0 when that turn names several, e.g. the list
    itself, or none does)."""
    for turn in reversed(turns):
        if turn.role != "assistant":
            continue
        named = [i for i, ref in enumerate(shown, start=1) if ref.title and ref.title in turn.text]
        if named:
            return named[0] if len(named) == 1 else 0
    return 0


def answer_question(message: str, shown: Sequence[ItemRef], turns: Sequence[Turn], profile: InterestProfile | None,
                    lookup: Callable[[list[str]], Mapping[str, Item]], hint: int = 0) -> Answer:
    """Answer ``message``, a question about the last shown list ``shown``, from the facts.
    ``turns``: the conversation so far (for "it" and the cards' reasons); ``profile``: the
    standing request; ``lookup``: catalog ids -> items; ``hint``: a 1-based position another
    reader found (the LLM's ``refers_to``). Never raises on missing facts."""
    q = read_pick_question(message, shown, discussed_position(turns, shown), hint)
    if not q.picks:
        return Answer(ASK_WHICH_TWO if q.kind == "compare" else ASK_WHICH, q.kind, question=q)
    refs = [shown[p - 1] for p in q.picks]
    found = lookup([r.item_id for r in refs])
    items = [found[r.item_id] for r in refs if r.item_id in found]
    if len(items) < len(refs):
        return Answer("I can't find that one in the catalog any more.", q.kind, question=q, known=False)
    constraints = profile.constraints if profile is not None else Constraints()
    wished = wished_genres(profile.liked_attributes) if profile is not None else ()
    ctx = AnswerContext(constraints, tuple(wished), shown_reasons(turns, shown), len(shown))
    return compose(q, items, ctx, message)


# ---------------------------------------------------------------------------- composing
def compose(q: PickQuestion, items: Sequence[Item], ctx: AnswerContext, message: str = "") -> Answer:
    """The answer to ``q`` about ``items`` (the picks ``q.picks`` points at, in order); see the
    module doc for what it may say."""
    if not items:
        return Answer(ASK_WHICH, q.kind, question=q)
    if q.kind == "compare":
        text, known = _compare(q, items)
        return Answer(text, q.kind, tuple(i.id for i in items), known, q)
    item = items[0]
    writer = _WRITERS.get(q.kind, _about)
    text, known = writer(item, q, ctx, message)
    return Answer(text, q.kind, (item.id,), known, q)


def _why(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    reason = ctx.reasons.get(item.id, "").strip()
    met, unmet = request_fit(item, ctx.constraints, ctx.wished)
    parts = [f"Why {item.label}? Its card says: \"{_sentence(reason)}\"" if reason
             else f"{item.label} ranked high for your request."]
    if met:
        parts.append(f"It fits what you asked: {_join(met)}.")
    if unmet:
        parts.append(f"It does not meet: {_join(unmet)}.")
    if not reason and not met:
        parts.append("The catalog ties it to nothing you stated; it came from the films closest to your words "
                     "and your history.")
    return " ".join(parts), True


def request_fit(item: Item, c: Constraints, wished: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Which of the request's constraints ``item`` meets and which it does not, in words built
    from its facts ("it is from 1992", "Tom Hanks is in the cast", "it runs 99 minutes")."""
    met: list[str] = []
    unmet: list[str] = []

    def check(ok: bool, yes: str, no: str) -> None:
        (met if ok else unmet).append(yes if ok else no)

    if c.year_min is not None or c.year_max is not None:
        span = (f"{c.year_min} to {c.year_max}" if c.year_min is not None and c.year_max is not None
                else f"{c.year_min} on" if c.year_min is not None else f"up to {c.year_max}")
        ok = item.year is not None and (c.year_min or item.year) <= item.year <= (c.year_max or item.year)
        check(ok, f"it is from {item.year} ({span})", f"from {span}" + (f" (it is from {item.year})" if item.year else ""))
    for g in c.genres:
        check(g in item.genres, f"it is {_a(g)}", f"{_a(g)} (it is listed as {_join(list(item.genres))})")
    if c.genres_any:
        hit = [g for g in c.genres_any if g in item.genres]
        check(bool(hit), f"it is {_a(hit[0])}" if hit else "", f"{' or '.join(_genre_word(g) for g in c.genres_any)}")
    if c.exclude_genres:
        bad = [g for g in c.exclude_genres if g in item.genres]
        check(not bad, "it is not " + " or ".join(_genre_word(g) for g in c.exclude_genres),
              "no " + ", no ".join(_genre_word(g) for g in bad))
    for g in wished:
        if g in item.genres and g not in c.genres:
            met.append(f"it is {_a(g)}, as your words asked")
    for key, wanted in c.fields.items():
        names = _names(item.extra.get(key))
        ok = all(v in names for v in _names(wanted))
        value = " and ".join(_names(wanted))
        role = {"cast": f"{value} {'are' if len(_names(wanted)) > 1 else 'is'} in the cast",
                "director": f"it is directed by {value}",
                "writer": f"it is written by {value}", "language": f"it is in {value}",
                "country": f"it is from {value}"}.get(key, f"its {key} is {value}")
        check(ok, role, f"{key} {value}")
    for key, (low, high) in c.ranges.items():
        value = item.extra.get(key)
        ok = isinstance(value, (int, float)) and (low is None or value >= low) and (high is None or value <= high)
        said = {"runtime_min": f"it runs {value} minutes", "oscars_won": f"it won {value} Oscar{_s(value)}",
                "oscar_nominations": f"it has {value} Oscar nomination{_s(value)}"}.get(key, f"its {key} is {value}")
        check(ok, said, said if value is not None else f"{key.replace('_', ' ')} unknown")
    for key, values in c.one_of.items():
        value = item.extra.get(key)
        check(value in values, f"it is rated {value}" if key == "certificate" else f"its {key} is {value}",
              f"{key} {' or '.join(values)}" + (f" (it is {value})" if value else " (unknown)"))
    return [m for m in met if m], unmet


def _cast(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    cast = _names(item.extra.get("cast"))
    directors = _names(item.extra.get("director"))
    person = q.person or _named(message, cast + directors)
    if person:
        hit = _match_person(person, cast)
        if hit:
            return f"Yes: {hit} is in the cast of {item.label}.", True
        if not cast:
            return f"{DONT_KNOW}: the catalog has no cast list for {item.label}.", False
        directed = _match_person(person, directors)
        also = f" {directed} directed it, though." if directed else ""
        return f"No: {person} is not in the catalog's cast list for {item.label}; it has {_join(cast[:3])}.{also}", True
    if not cast:
        return f"{DONT_KNOW} who is in {item.label}: the catalog has no cast list for it.", False
    more = f" ({len(cast)} names in the catalog's list)" if len(cast) > 4 else ""
    return f"The cast of {item.label} includes {_join(cast[:4])}{more}.", True


def _people(key: str, verb: str, noun: str) -> Callable[[Item, PickQuestion, AnswerContext, str], tuple[str, bool]]:
    def write(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
        names = _names(item.extra.get(key))
        if not names:
            return f"{DONT_KNOW} who {verb} {item.label}: the catalog names no {noun} for it.", False
        person = q.person or _named(message, names)
        if person:
            hit = _match_person(person, names)
            if hit:
                return f"Yes: {hit} {verb} {item.label}.", True
            return f"No: the catalog names {_join(names)} as the {noun} of {item.label}.", True
        return f"{_join(names)} {verb} {item.label}.", True
    return write


def _length(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    minutes = item.extra.get("runtime_min")
    if not isinstance(minutes, int):
        return f"{DONT_KNOW} how long {item.label} is: the catalog has no running time for it.", False
    if q.runtime is not None:
        low, high = q.runtime
        ok = (low is None or minutes >= low) and (high is None or minutes <= high)
        return f"{'Yes' if ok else 'No'}: {item.label} runs {minutes} minutes.", True
    return f"{item.label} runs {minutes} minutes.", True


def _year(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    if item.year is None:
        return f"{DONT_KNOW} when {item.title} was made: the catalog has no year for it.", False
    return f"{item.label} came out in {item.year}.", True


def _children(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    cert = item.extra.get("certificate")
    kids = [g for g in item.genres if g in CHILD_GENRES]
    caution = [g for g in item.genres if g in CAUTION_GENRES]
    listed = f"it is listed as {_join(list(item.genres))}" if item.genres else ""
    if not isinstance(cert, str) or not cert:
        if kids:
            return (f"The catalog has no certificate for {item.label}, but {listed}, so it is made for children.",
                    True)
        return (f"{DONT_KNOW} whether {item.label} suits children: the catalog has no certificate for it"
                + (f"; {listed}." if listed else "."), False)
    meaning = CERTIFICATE_MEANINGS.get(cert)
    rated = f"{item.label} is rated {cert}" + (f" ({meaning})" if meaning else "")
    verdict = _verdict(cert, q.age)
    extra = f" {_sentence(listed[:1].upper() + listed[1:])}" if listed and (kids or caution) else ""
    return f"{verdict}{rated}.{extra}", True


def _verdict(cert: str, age: int | None) -> str:
    """How the certificate answers "can a child of ``age`` watch it?" (None: a child of any age),
    as the opening words of the answer."""
    if cert == "G":
        return "Yes: "
    if cert in UP_TO_PG:
        return "Yes: " if age is not None and age >= 10 else "Probably, with a parent's judgement: "
    if cert == "PG-13":
        if age is None:
            return "Not for young children, by its certificate: "
        return "Yes: " if age >= 13 else f"It is a parent's call for a {age}-year-old: "
    if cert == "R":
        if age is not None and age >= 17:
            return "Yes, by its certificate: "
        return "Only with a parent or guardian: " if age is not None and age >= 13 else "Probably not: "
    if cert in ("NC-17", "X"):
        return "Yes, by its certificate: " if age is not None and age >= 18 else "No: "
    return ""


def _plot(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    summary = quote_summary(item.extra.get("overview"))
    if summary:
        return f"{item.label}, in its summary's words: \"{summary}\"", True
    tagline = quote_summary(item.extra.get("tagline"), sentences=1)
    listed = f" It is listed as {_join(list(item.genres))}." if item.genres else ""
    if tagline:
        return f"The catalog has no summary of {item.label}, only its tagline: \"{tagline}\"{listed}", False
    keywords = [clean_text(k, 40) for k in _names(item.extra.get("keywords"))[:6]]
    if keywords:
        return (f"The catalog has no summary of {item.label}; its keywords are {_join(keywords)}.{listed}", False)
    return f"{DONT_KNOW} what {item.label} is about: the catalog has no summary for it.{listed}", False


def _awards(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    won, noms = item.extra.get("oscars_won"), item.extra.get("oscar_nominations")
    awards = quote_summary(item.extra.get("awards"), sentences=2, limit=160)
    if isinstance(won, int) and won > 0:
        more = f", from {noms} nominations" if isinstance(noms, int) and noms > won else ""
        yes = "Yes: " if _YES_NO.match(message.lower()) else ""
        return f"{yes}{item.label} won {won} Oscar{_s(won)}{more}, by the catalog's awards record.", True
    if isinstance(noms, int) and noms > 0:
        return f"No Oscar win: {item.label} was nominated for {noms} Oscar{_s(noms)} and won none, by the catalog's record.", True
    if awards:
        return f"The catalog records no Oscar for {item.label}; its awards line reads \"{awards}\"", True
    return f"{DONT_KNOW} whether {item.label} won anything: the catalog has no awards record for it.", False


_SCORE_NAMES = (("imdb", "imdb_rating", "IMDb rating"), ("rotten|tomato", "rt_meter", "Rotten Tomatoes meter"),
                ("metacritic", "metacritic", "Metacritic score"))


_YES_NO = re.compile(r"^\s*(?:did|does|do|is|was|has|have|had|any|can|could|will|would)\b")


def _reviews(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    scores = _scores(item)
    if not scores:
        return f"{DONT_KNOW} how {item.label} was received: the catalog has no critics' or IMDb scores for it.", False
    low = message.lower()
    asked = [(key, name) for cue, key, name in _SCORE_NAMES if re.search(cue, low)]
    missing = [name for key, name in asked if item.extra.get(key) is None]
    if asked and len(missing) == len(asked):  # "what is its IMDb rating?" and the catalog has none
        return f"{DONT_KNOW}: the catalog has no {_join(missing)} for {item.label}; it has {_join(scores)}.", False
    return f"{item.label} has {_join(scores)}.", True


def _scores(item: Item) -> list[str]:
    x = item.extra
    out = []
    if isinstance(x.get("imdb_rating"), (int, float)):
        out.append(f"an IMDb rating of {x['imdb_rating']}/10")
    if isinstance(x.get("rt_meter"), int):
        out.append(f"a Rotten Tomatoes meter of {x['rt_meter']}%")
    if isinstance(x.get("metacritic"), int):
        out.append(f"a Metacritic score of {x['metacritic']}/100")
    return out


def _language(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    langs, countries = _names(item.extra.get("language")), _names(item.extra.get("country"))
    if not langs and not countries:
        return f"{DONT_KNOW} its language: the catalog has no language or country for {item.label}.", False
    parts = ([f"is in {_join(langs)}"] if langs else []) + (
        [f"comes from {_join([_country(c) for c in countries])}"] if countries else [])
    return f"{item.label} {' and '.join(parts)}.", True


def _genre(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    if not item.genres:
        return f"{DONT_KNOW} its genre: the catalog lists none for {item.label}.", False
    listed = _join(list(item.genres))
    if q.genre:
        yes = q.genre in item.genres
        return f"{'Yes' if yes else 'No'}: {item.label} is listed as {listed}.", True
    return f"{item.label} is listed as {listed}.", True


def _about(item: Item, q: PickQuestion, ctx: AnswerContext, message: str) -> tuple[str, bool]:
    x = item.extra
    sentences = [f"{item.label}: {_brief(item, scores=False)}" + (f", with {_join(_names(x.get('cast'))[:3])}"
                                                                  if _names(x.get("cast")) else "") + "."]
    summary = quote_summary(x.get("overview"), sentences=1)
    if summary:
        sentences.append(f"Its summary: \"{summary}\"")
    return " ".join(sentences), True


def _compare(q: PickQuestion, items: Sequence[Item]) -> tuple[str, bool]:
    if q.aspect == "general" or len(items) < 2:
        lines = [f"{it.label}: {_brief(it)}." for it in items[:3]]
        return " ".join(lines), True
    value, unit, unknown_fact = {
        "length": (lambda it: it.extra.get("runtime_min"), lambda v: f"{v} minutes", "running time"),
        "year": (lambda it: it.year, lambda v: f"{v}", "year"),
        "reviews": (lambda it: it.extra.get("imdb_rating"), lambda v: f"{v}/10", "IMDb rating"),
        "awards": (lambda it: it.extra.get("oscars_won"), lambda v: f"{v}", "Oscar record"),
        "children": (lambda it: (CERTIFICATE_ORDER.index(it.extra["certificate"])
                                 if it.extra.get("certificate") in CERTIFICATE_ORDER else None),
                     lambda v: f"rated {CERTIFICATE_ORDER[v]}", "certificate"),
    }[q.aspect]
    known = [(value(it), it) for it in items if isinstance(value(it), (int, float))]
    missing = [it.label for it in items if not isinstance(value(it), (int, float))]
    gap = f" The catalog has no {unknown_fact} for {_join(missing)}." if missing else ""
    if len(known) < 2:
        return f"{DONT_KNOW}: the catalog has no {unknown_fact} for {_join(missing)}.", False
    # "which is more suitable for kids" wants the mildest certificate; "which is longer" the highest value
    direction = q.most or ("min" if q.aspect == "children" else "max")
    ranked = sorted(known, key=lambda vi: vi[0], reverse=direction == "max")
    best_value, best = ranked[0]
    ties = [it for v, it in known if v == best_value]
    if len(ties) == len(known):
        return f"{'Both' if len(ties) == 2 else 'All'} are level: {_join([it.label for it in ties])}, " \
               f"{unit(best_value)}.{gap}", True
    if len(ties) > 1:
        rest = "; ".join(f"{it.label} {unit(v)}" for v, it in ranked[len(ties):])
        return f"{_join([it.label for it in ties])} are level at the top ({unit(best_value)}); then {rest}.{gap}", True
    words = _ASPECT_WORDS[q.aspect][direction]
    if len(known) == 2 and len(items) == 2:
        other_value, other = ranked[1]
        return f"{best.label} {words[0]}: {unit(best_value)}, against {unit(other_value)} for {other.label}.{gap}", True
    rest = ", ".join(f"{it.label} at {unit(v)}" for v, it in ranked[1:])
    return f"{best.label} {words[1]} ({unit(best_value)}); then {rest}.{gap}", True


#: aspect -> end -> (the predicate for two picks, the predicate for more)
_ASPECT_WORDS = {
    "length": {"max": ("is longer", "is the longest"), "min": ("is shorter", "is the shortest")},
    "year": {"max": ("is newer", "is the newest"), "min": ("is older", "is the oldest")},
    "reviews": {"max": ("is rated higher on IMDb", "is rated highest on IMDb"),
                "min": ("is rated lower on IMDb", "is rated lowest on IMDb")},
    "awards": {"max": ("won more Oscars", "won the most Oscars"), "min": ("won fewer Oscars", "won the fewest Oscars")},
    "children": {"min": ("is milder by its certificate", "is the mildest by its certificate"),
                 "max": ("is stricter by its certificate", "is the strictest by its certificate")},
}


def _brief(item: Item, scores: bool = True) -> str:
    """Its genres, running time, certificate, director (and IMDb rating), comma-separated."""
    x = item.extra
    parts = [_join(list(item.genres)) or "no genre listed"]
    if isinstance(x.get("runtime_min"), int):
        parts.append(f"{x['runtime_min']} minutes")
    if x.get("certificate"):
        parts.append(f"rated {x['certificate']}")
    if _names(x.get("director")):
        parts.append(f"directed by {_join(_names(x.get('director')))}")
    if scores and isinstance(x.get("imdb_rating"), (int, float)):
        parts.append(f"IMDb {x['imdb_rating']}/10")
    return ", ".join(parts)


_WRITERS: dict[str, Callable[[Item, PickQuestion, AnswerContext, str], tuple[str, bool]]] = {
    "why": _why, "cast": _cast, "director": _people("director", "directed", "director"),
    "writer": _people("writer", "wrote", "writer"), "length": _length, "year": _year, "children": _children,
    "plot": _plot, "awards": _awards, "reviews": _reviews, "language": _language, "genre": _genre, "about": _about,
}


# ---------------------------------------------------------------------------- text helpers
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)|https?://\S+|www\.\S+|[`*_#>|\[\]{}]")
def quote_summary(text: Any, sentences: int = 2, limit: int = 300) -> str:
    """Untrusted free text (an overview, a tagline) made safe to quote: sentences addressing the
    system or promoting the film dropped (:func:`retrieval.untrusted.strip_instructions`, as for
    reasons and prompts), cleaned of control characters, chat-template tokens, tags, links and
    markup, double quotes made single, cut to its first ``sentences`` sentences
    (:func:`agent.reasons.summary.overview_sentences`) and at most ``limit`` characters ("" when
    nothing is left)."""
    if not isinstance(text, str) or not text.strip():
        return ""
    kept = strip_instructions(clean_text(text, 2000))
    cleaned = clean_text(_LINK.sub(lambda m: m.group(1) or " ", kept), 2000).replace('"', "'")
    pieces = overview_sentences(cleaned)
    out = " ".join(pieces[:sentences])
    if len(out) > limit and len(pieces) and sentences > 1:
        out = pieces[0]
    return clean_text(out, limit)


def _names(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [value.strip()] if isinstance(value, str) and value.strip() else []


def _named(message: str, names: Sequence[str]) -> str | None:
    """The first of ``names`` written in ``message`` (any case), whole or by its last word."""
    low = f" {message.lower()} "
    for name in names:
        if f" {name.lower()} " in re.sub(r"[^\w' -]", " ", low):
            return name
    return None


def _match_person(said: str, names: Sequence[str]) -> str | None:
    """The name among ``names`` that ``said`` means: the same full name (any case), or the same
    last name when ``said`` is one word ("Hanks")."""
    key = said.strip().lower()
    for name in names:
        if name.lower() == key:
            return name
    if " " not in key:
        hits = [n for n in names if n.lower().split()[-1] == key]
        if len(hits) == 1:
            return hits[0]
    return None


def _join(words: Sequence[str]) -> str:
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _country(name: str) -> str:
    """A country name as it reads after "from" ("the United States", "Italy")."""
    plural = ("United ", "Netherlands", "Philippines", "Czech Republic", "Soviet Union", "Bahamas", "Dominican Republic")
    return f"the {name}" if name.startswith(plural) else name


def _genre_word(genre: str) -> str:
    return "children's" if genre == "Children's" else genre.lower()


#: a catalog genre as the noun of "it is a ..." ("it is an animated film", "it is a war film")
_GENRE_NOUNS = {"Children's": "children's film", "Film-Noir": "film noir", "Animation": "animated film",
                "Documentary": "documentary", "Musical": "musical", "Western": "western", "Comedy": "comedy",
                "Drama": "drama", "Thriller": "thriller", "Romance": "romance", "Mystery": "mystery"}


def _a(genre: str) -> str:
    word = _GENRE_NOUNS.get(genre, f"{genre.lower()} film")
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _a_genres(genres: Sequence[str]) -> str:
    if not genres:
        return "a film"
    words = " and ".join(_genre_word(g) for g in genres)
    return ("an " if words[:1] in "aeiou" else "a ") + words + " film"


def _s(n: Any) -> str:
    return "" if n == 1 else "s"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "\"")) else text + "."
