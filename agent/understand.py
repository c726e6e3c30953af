"""Understanding one user message: LLM extraction (JSON schema) validated against the catalog,
with a deterministic rule-based parser as the floor.

Pipeline: :func:`parse_rules` always runs (regexes for decades/years, genre words, "not X",
"like <title>", ordinals, chit-chat). When an engine is given, :meth:`Understander.understand`
also asks it for a :func:`extraction_schema` JSON; every LLM value is then validated
(:func:`validate_llm`): genres must be catalog genres the message actually mentions, years must
be sane and backed by a number or era word in the message, titles must fuzzy-match a catalog
item AND appear in the message. Malformed output, an engine error or a timeout fall back to the
rules alone (``source == "rules"``) and never raise.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.profile import YEAR_HI, YEAR_LO, ItemRef
from retrieval.titles import normalise_title

TurnIntent = Literal["recommend", "refine", "question", "clarify", "chitchat"]
INTENTS: tuple[str, ...] = ("recommend", "refine", "question", "clarify", "chitchat")

# user words -> catalog genre names (only those present in the catalog are used)
GENRE_WORDS: dict[str, str] = {
    "action": "Action", "adventure": "Adventure", "adventures": "Adventure", "animation": "Animation",
    "animated": "Animation", "cartoon": "Animation", "cartoons": "Animation", "anime": "Animation",
    "children": "Children's", "children's": "Children's", "kids": "Children's", "family": "Children's",
    "comedy": "Comedy", "comedies": "Comedy", "funny": "Comedy", "crime": "Crime", "gangster": "Crime",
    "documentary": "Documentary", "documentaries": "Documentary", "drama": "Drama", "dramas": "Drama",
    "fantasy": "Fantasy", "film-noir": "Film-Noir", "noir": "Film-Noir", "horror": "Horror", "scary": "Horror",
    "musical": "Musical", "musicals": "Musical", "mystery": "Mystery", "mysteries": "Mystery",
    "whodunit": "Mystery", "romance": "Romance", "romantic": "Romance", "romcom": "Romance",
    "sci-fi": "Sci-Fi", "scifi": "Sci-Fi", "science fiction": "Sci-Fi", "science-fiction": "Sci-Fi",
    "thriller": "Thriller", "thrillers": "Thriller", "war": "War", "western": "Western", "westerns": "Western",
}
# Mood words that hint at a genre: as a wish they stay soft (query text, liked attributes), so
# "a funny animated movie for kids" does not demand Comedy AND Animation AND Children's; negated
# ("nothing scary") they still exclude the genre.
SOFT_GENRE_WORDS = frozenset({"funny", "scary", "romantic", "family"})
_CHITCHAT = re.compile(
    r"^\s*(hi|hello|hey|yo|hiya|good (morning|evening|afternoon)|thanks?( you)?|thank you|thx|ok(ay)?|cool|great|"
    r"nice|bye|goodbye|see you|how are you( doing)?|who are you|what('s| is) up|lol|haha)\b[\s!.,?a-z]*$", re.I)
_WANT = re.compile(r"\b(recommend|suggest|watch|movie|movies|film|films|something|anything|show me|looking for|"
                   r"in the mood|want|give me|find|any ideas)\b", re.I)
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
             "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}
_NEG = r"(?:not|no|without|less|fewer|except|avoid|hate|hated|don'?t like|do not like|dislike|disliked|nothing|never|none of|no more)"
_LIKE = r"(?:like|similar to|such as|as good as|loved|love|enjoyed|liked|fan of|in the vein of)"
_STOP_TITLE = re.compile(r"\s*(?:,|;|\.|!|\?|\bbut\b|\band\b|\bfrom\b|\bwith\b|\bin the\b|\bplease\b|\bor\b|$)", re.I)


@dataclass(frozen=True)
class TitleIndex:
    """Normalised catalog titles for fuzzy matching. ``keys[i]`` is a normalised title (alternate
    titles in parentheses get their own key) of item ``ids[i]`` with display title ``titles[i]``."""

    keys: tuple[str, ...]
    ids: tuple[str, ...]
    titles: tuple[str, ...]
    years: tuple[int | None, ...]

    @classmethod
    def build(cls, rows: Sequence[tuple[str, str, int | None]]) -> "TitleIndex":
        keys, ids, titles, years = [], [], [], []
        for item_id, title, year in rows:
            for key in title_keys(title):
                keys.append(key), ids.append(item_id), titles.append(title), years.append(year)
        return cls(tuple(keys), tuple(ids), tuple(titles), tuple(years))

    def match(self, said: str, cutoff: float = 0.82) -> ItemRef | None:
        """Best catalog item for ``said`` (exact normalised title first, then difflib ratio >=
        ``cutoff``; ties go to the better-known, i.e. first-listed, item). None if nothing fits."""
        key = normalise_title(said)
        if len(key) < 2:
            return None
        year = _year_in(said)
        best: tuple[float, int] | None = None
        for i, k in enumerate(self.keys):
            if k == key:
                score = 1.0 + (0.01 if year and self.years[i] == year else 0.0)
                if best is None or score > best[0]:
                    best = (score, i)
        if best is None:
            close = difflib.get_close_matches(key, self.keys, n=5, cutoff=cutoff)
            for c in close:
                i = self.keys.index(c)
                score = difflib.SequenceMatcher(None, key, c).ratio()
                if best is None or score > best[0]:
                    best = (score, i)
        if best is None:
            return None
        i = best[1]
        label = self.titles[i] + (f" ({self.years[i]})" if self.years[i] else "")
        return ItemRef(self.ids[i], label, said.strip(), round(min(best[0], 1.0) * 100, 1))

    def find_in(self, text: str, min_len: int = 4) -> list[ItemRef]:
        """Catalog titles that occur verbatim (normalised, whole words) in ``text``; longest first."""
        norm = f" {normalise_title(text)} "
        found: dict[str, ItemRef] = {}
        for i, k in enumerate(self.keys):
            if len(k) >= min_len and f" {k} " in norm and self.ids[i] not in found:
                label = self.titles[i] + (f" ({self.years[i]})" if self.years[i] else "")
                found[self.ids[i]] = ItemRef(self.ids[i], label, k, 100.0)
        return sorted(found.values(), key=lambda r: -len(r.said))


@dataclass(frozen=True)
class Vocabulary:
    """The catalog's vocabulary: genre names, field values (lowercase -> canonical) per list or
    string field, and the title index. Built once per catalog state by :func:`vocabulary_from_mirror`."""

    genres: tuple[str, ...]
    fields: Mapping[str, Mapping[str, str]]
    titles: TitleIndex
    genre_counts: Mapping[str, int] = field(default_factory=dict)

    def genre(self, word: str) -> str | None:
        """Catalog genre for a user word (synonyms included), or None."""
        w = word.strip().lower()
        by_lower = {g.lower(): g for g in self.genres}
        if w in by_lower:
            return by_lower[w]
        g = GENRE_WORDS.get(w) or GENRE_WORDS.get(w.rstrip("s"))
        return g if g in self.genres else None


def vocabulary_from_mirror(mirror: Any, field_names: Sequence[str] = ("director", "language", "country", "cast")) -> Vocabulary:
    """The :class:`Vocabulary` of a :class:`retrieval.store.MetaMirror` (genres, chosen fields, titles)."""
    counts: dict[str, int] = {}
    fields: dict[str, dict[str, str]] = {f: {} for f in field_names}
    rows = []
    for item_id, meta in zip(mirror.ids, mirror.metas):
        for g in meta.get("genres") or ():
            counts[g] = counts.get(g, 0) + 1
        for f in field_names:
            v = meta.get(f)
            for s in (v if isinstance(v, list) else [v] if isinstance(v, str) else []):
                fields[f].setdefault(s.lower(), s)
        year = meta.get("year")
        rows.append((item_id, str(meta.get("title", item_id)), int(year) if isinstance(year, (int, float)) else None))
    genres = tuple(sorted(counts, key=lambda g: -counts[g]))
    return Vocabulary(genres, {f: v for f, v in fields.items() if v}, TitleIndex.build(rows), counts)


@dataclass
class Extraction:
    """A validated reading of one message. Years inclusive; ``refine`` is "older"/"newer"/None;
    ``refers_to`` is a 1-based position in the last shown list (0 = none)."""

    intent: TurnIntent = "recommend"
    liked_items: list[ItemRef] = field(default_factory=list)
    disliked_items: list[ItemRef] = field(default_factory=list)
    liked_attributes: list[str] = field(default_factory=list)
    disliked_attributes: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    exclude_genres: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    fields: dict[str, str] = field(default_factory=dict)
    soft: list[str] = field(default_factory=list)
    refine: Literal["older", "newer"] | None = None
    refers_to: int = 0
    source: Literal["llm", "rules"] = "rules"
    rejected: list[str] = field(default_factory=list)
    focus: str = ""  # the message minus titles, negations and dates: retrieval text

    def has_content(self) -> bool:
        return bool(self.liked_items or self.disliked_items or self.liked_attributes or self.disliked_attributes
                    or self.genres or self.exclude_genres or self.year_min is not None or self.year_max is not None
                    or self.fields or self.soft or self.refine or self.refers_to)


# ---------------------------------------------------------------------------- text helpers
def title_keys(title: str) -> list[str]:
    """Normalised keys of a catalog title: the full title, the title without parentheses, and
    each parenthesised alternate title ("Seven (Se7en)" -> "seven se7en", "seven", "se7en")."""
    keys = [normalise_title(title)]
    base = re.sub(r"\([^)]*\)", " ", title)
    keys.append(normalise_title(base))
    keys += [normalise_title(a) for a in re.findall(r"\(([^)]*)\)", title) if not re.fullmatch(r"\d{4}", a.strip())]
    out: list[str] = []
    for k in keys:
        if k and k not in out:
            out.append(k)
    return out


def _year_in(text: str) -> int | None:
    m = re.search(r"\b(1[89]\d\d|20[0-3]\d)\b", text)
    return int(m.group(1)) if m else None


def _sane_year(value: Any) -> int | None:
    try:
        year = int(value)
    except (TypeError, ValueError):
        return None
    return year if YEAR_LO <= year <= YEAR_HI else None


def parse_years(text: str) -> tuple[int | None, int | None, Literal["older", "newer"] | None]:
    """(year_min, year_max, refine) from decades ("90s", "1980s", "early 70s"), ranges ("between
    1980 and 1990", "1980-1990"), bounds ("before 1980", "after 2000", "since 1995"), one year
    ("from 1995"), and relative words ("older" / "newer")."""
    t = text.lower()
    lo: int | None = None
    hi: int | None = None
    m = re.search(r"\b(?:between\s+)?(1[89]\d\d|20[0-3]\d)\s*(?:-|–|to|and)\s*(1[89]\d\d|20[0-3]\d)\b", t)
    if m:
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        return a, b, None
    m = re.search(r"\b(early|mid|late)?[\s-]*(?:(19|20)|')?(\d)0'?s\b", t)
    if m:
        century = m.group(2) or ("20" if m.group(3) in "012" else "19")  # "the 20s" = the 2020s; "the 30s"..."90s" = 19xx
        start = int(century + m.group(3) + "0")
        part = m.group(1)
        lo, hi = start, start + 9
        if part == "early":
            hi = start + 4
        elif part == "late":
            lo = start + 5
        elif part == "mid":
            lo, hi = start + 3, start + 7
        return lo, hi, None
    m = re.search(r"\b(?:before|older than|earlier than|pre|until|up to)[\s-]+(1[89]\d\d|20[0-3]\d)\b", t)
    if m:
        hi = int(m.group(1)) - (0 if "until" in m.group(0) or "up to" in m.group(0) else 1)
    m2 = re.search(r"\b(?:after|newer than|later than|post|since)[\s-]+(1[89]\d\d|20[0-3]\d)\b", t)
    if m2:
        lo = int(m2.group(1)) + (0 if "since" in m2.group(0) else 1)
    if lo is not None or hi is not None:
        return lo, hi, None
    m = re.search(r"\b(?:from|in|of)\s+(1[89]\d\d|20[0-3]\d)\b", t)
    if m:
        y = int(m.group(1))
        return y, y, None
    if re.search(r"\b(older|earlier|less recent|more classic|not so recent|not so new)\b", t):
        return None, None, "older"
    if re.search(r"\b(newer|more recent|more modern|later|less old)\b", t):
        return None, None, "newer"
    return None, None, None


def parse_ordinal(text: str, n_shown: int) -> int:
    """1-based shown position a message points at ("the second one", "#3", "number 2", "the last
    one"); 0 when none or out of range."""
    t = text.lower()
    pos = 0
    m = re.search(r"(?:#|\bnumber\s+|\bno\.?\s*)(\d{1,2})\b", t)
    if m:
        pos = int(m.group(1))
    else:
        m = re.search(r"\b(" + "|".join(_ORDINALS) + r")\b(?:\s+(?:one|film|movie|pick))?", t)
        if m:
            pos = _ORDINALS[m.group(1)]
        elif n_shown and re.search(r"\b(last|final)\s+(one|film|movie|pick)\b", t):
            pos = n_shown
    return pos if 0 < pos <= n_shown else 0


def _genre_mentions(text: str, vocab: Vocabulary, soft: bool = True) -> list[tuple[int, str]]:
    """(position, catalog genre) for each genre word in ``text``; ``soft=False`` skips the mood
    words of :data:`SOFT_GENRE_WORDS`."""
    t = text.lower()
    out: list[tuple[int, str]] = []
    words = sorted(set(GENRE_WORDS) | {g.lower() for g in vocab.genres}, key=len, reverse=True)
    taken: list[tuple[int, int]] = []
    for w in words:
        if not soft and w in SOFT_GENRE_WORDS:
            continue
        for m in re.finditer(r"(?<![\w-])" + re.escape(w) + r"(?![\w-])", t):
            if any(a <= m.start() < b for a, b in taken):
                continue
            g = vocab.genre(w)
            if g:
                out.append((m.start(), g))
                taken.append((m.start(), m.end()))
    return sorted(out)


def parse_rules(message: str, vocab: Vocabulary, shown: Sequence[ItemRef] = ()) -> Extraction:
    """Deterministic reading of ``message`` (never raises). ``shown`` is the last list shown,
    in order, for "the second one" and title questions."""
    text = message.strip()
    low = text.lower()
    ex = Extraction(source="rules")
    if not text:
        ex.intent = "chitchat"
        return ex
    ex.year_min, ex.year_max, ex.refine = parse_years(text)
    ex.refers_to = parse_ordinal(text, len(shown))
    # negated spans: "not X", "no horror", "without gore" (up to punctuation or a conjunction)
    neg_spans: list[tuple[int, int, str]] = []
    for m in re.finditer(r"\b" + _NEG + r"\s+(?:any\s+|too\s+|much\s+|more\s+|so\s+|a\s+|the\s+)?([^,.;!?]+)", low):
        span = re.split(r"\b(?:but|please|from|set in|that|which|i want|i'd like)\b", m.group(1))[0].strip()
        if span:
            neg_spans.append((m.start(1), m.start(1) + len(span), span))
    hard = set(_genre_mentions(text, vocab, soft=False))
    for pos, g in _genre_mentions(text, vocab):
        if any(a <= pos < b for a, b, _ in neg_spans):
            if g not in ex.exclude_genres:
                ex.exclude_genres.append(g)
        elif (pos, g) in hard and g not in ex.genres:
            ex.genres.append(g)
    if len(ex.genres) > 1 and re.search(r"\bor\b", low):  # "comedy or romance": a taste, not a filter
        ex.liked_attributes += [g.lower() for g in ex.genres]
        ex.genres = []
    # liked titles: "like Se7en", "loved The Matrix"
    for m in re.finditer(r"\b" + _LIKE + r"\s+(.+)", text, re.I):
        before = low[max(0, m.start() - 14):m.start()]
        if re.search(r"(would|i'd|i)\s*$", before) and re.match(r"(?i)like\s+(to|a|an|some|something|movies?|films?)\b", m.group(0)):
            continue
        cand = _STOP_TITLE.split(m.group(1), maxsplit=1)[0].strip(" \"'")
        ref = vocab.titles.match(cand) if cand else None
        if ref is None and cand:
            found = vocab.titles.find_in(cand)
            ref = found[0] if found else None
        if ref is not None and all(r.item_id != ref.item_id for r in ex.liked_items):
            ex.liked_items.append(ref)
    # negated spans that are titles or attributes (genres handled above)
    for _, _, span in neg_spans:
        if _genre_mentions(span, vocab):
            continue
        ref = vocab.titles.match(span, cutoff=0.9)
        if ref is not None:
            ex.disliked_items.append(ref)
        elif len(span) <= 40 and not re.fullmatch(r"(sure|really|bad|now|yet|thanks|so|that|this|one|it)", span):
            ex.disliked_attributes.append(span)
    # "directed by X", "in French"
    directors = vocab.fields.get("director", {})
    m = re.search(r"\b(?:directed by|by director|from director|a film by|movies? by|films? by)\s+([A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,3})", text)
    if m and directors:
        name = _field_match(m.group(1), directors)
        if name:
            ex.fields["director"] = name
    langs = vocab.fields.get("language", {})
    m = re.search(r"\bin ([A-Z][a-z]+)\b", text)
    if m and langs and m.group(1).lower() in langs and m.group(1).lower() != "english":
        ex.fields["language"] = langs[m.group(1).lower()]
    # mood words kept as soft text: "tense", "feel-good", "slow", ...
    for w in re.findall(r"\b(tense|dark|light|feel[- ]good|uplifting|sad|slow|fast[- ]paced|violent|gory|quirky|"
                        r"smart|clever|cozy|epic|classic|cult|indie|twisty|mind[- ]bending|heartwarming|gritty|"
                        r"atmospheric|thought[- ]provoking|romantic|suspenseful|scary|funny)\b", low):
        if not any(w in span for _, _, span in neg_spans) and w not in ex.liked_attributes:
            ex.liked_attributes.append(w)
    ex.intent = _rule_intent(text, ex, shown, vocab)
    ex.focus = focus_text(text)
    return ex


def focus_text(message: str) -> str:
    """``message`` without "like <title>" clauses, negated clauses and date phrases: what is
    left describes the wanted content and is embedded for retrieval (titles act through their
    item vectors, negations through filters)."""
    t = re.sub(r"\b" + _LIKE + r"\s+[^,.;!?]+", " ", message, flags=re.I)
    t = re.sub(r"\b" + _NEG + r"\s+[^,.;!?]+", " ", t, flags=re.I)
    t = re.sub(r"\b(from|in|of|between|before|after|since)?\s*(the\s+)?(early|mid|late)?[\s-]*((19|20)?\d0'?s|1[89]\d\d|20[0-3]\d)\b", " ", t, flags=re.I)
    t = re.sub(r"\b(but|and|or|please|something|anything|movies?|films?|recommend|suggest|i want|give me|show me)\b", " ", t, flags=re.I)
    return re.sub(r"\s+", " ", re.sub(r"[,.;!?]+", " ", t)).strip()


def _field_match(said: str, values: Mapping[str, str]) -> str | None:
    key = said.strip().lower()
    if key in values:
        return values[key]
    close = difflib.get_close_matches(key, list(values), n=1, cutoff=0.85)
    return values[close[0]] if close else None


def _rule_intent(text: str, ex: Extraction, shown: Sequence[ItemRef], vocab: Vocabulary) -> TurnIntent:
    low = text.lower().strip()
    content = ex.has_content()
    if _CHITCHAT.match(low) and not content:
        return "chitchat"
    is_question = low.endswith("?") or re.match(r"^(what|who|when|where|why|how|is|was|does|did|tell me|which)\b", low)
    mentions_shown = ex.refers_to or any(normalise_title(r.title.rsplit(" (", 1)[0]) in normalise_title(text) for r in shown
                                         if len(normalise_title(r.title.rsplit(" (", 1)[0])) >= 4)
    if shown and is_question and mentions_shown and not re.search(r"\b(more like|similar|instead|other|else)\b", low):
        return "question"
    if shown and (ex.refine or re.search(r"\b(more like|less|more|instead|other|else|different|another|again)\b", low)):
        return "refine"
    if content:
        return "recommend"
    if _WANT.search(low):
        return "clarify" if len(re.findall(r"\w+", low)) <= 6 else "recommend"
    if len(re.findall(r"\w+", low)) <= 3:
        return "chitchat"
    return "recommend"


# ---------------------------------------------------------------------------- LLM extraction
def extraction_schema(genres: Sequence[str]) -> dict[str, Any]:
    """The JSON schema the LLM fills (short strings, bounded arrays, genres an enum)."""
    short = {"type": "string", "maxLength": 60}
    genre = {"type": "string", "enum": list(genres)} if genres else short
    return {
        "type": "object",
        "properties": {
            "intent": {"type": "string", "enum": list(INTENTS)},
            "liked_titles": {"type": "array", "items": short, "maxItems": 3},
            "disliked_titles": {"type": "array", "items": short, "maxItems": 3},
            "liked_attributes": {"type": "array", "items": short, "maxItems": 4},
            "disliked_attributes": {"type": "array", "items": short, "maxItems": 4},
            "genres": {"type": "array", "items": genre, "maxItems": 3},
            "exclude_genres": {"type": "array", "items": genre, "maxItems": 3},
            "year_min": {"type": ["integer", "null"]},
            "year_max": {"type": ["integer", "null"]},
            "refers_to": {"type": "integer", "minimum": 0, "maximum": 20},
        },
        "required": ["intent", "liked_titles", "disliked_titles", "liked_attributes", "disliked_attributes",
                     "genres", "exclude_genres", "year_min", "year_max", "refers_to"],
        "additionalProperties": False,
    }


def _str_list(value: Any, limit: int = 4, max_chars: int = 60) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v.strip()[:max_chars] for v in value[:limit] if isinstance(v, str) and v.strip()]


def validate_llm(raw: Any, message: str, vocab: Vocabulary, shown: Sequence[ItemRef] = ()) -> Extraction:
    """Validate an LLM extraction against the catalog vocabulary AND the message. Every value
    that fails is dropped and named in ``rejected``. Raises ValueError when ``raw`` is not an
    object with a valid intent (the caller then uses the rules)."""
    if not isinstance(raw, dict):
        raise ValueError(f"extraction is not a JSON object: {type(raw).__name__}")
    intent = raw.get("intent")
    if intent not in INTENTS:
        raise ValueError(f"invalid intent {intent!r}")
    ex = Extraction(intent=intent, source="llm")  # type: ignore[arg-type]
    low = message.lower()
    norm_msg = f" {normalise_title(message)} "
    mentioned = {"genres": {g for _, g in _genre_mentions(message, vocab, soft=False)},
                 "exclude_genres": {g for _, g in _genre_mentions(message, vocab)}}
    for key, target in (("genres", ex.genres), ("exclude_genres", ex.exclude_genres)):
        for g in _str_list(raw.get(key), 3):
            canon = vocab.genre(g)
            if canon and canon in mentioned[key] and canon not in target:
                target.append(canon)
            else:
                ex.rejected.append(f"{key}:{g}")
    ex.genres = [g for g in ex.genres if g not in ex.exclude_genres]
    has_time_word = bool(re.search(r"\d|\b(old|older|new|newer|recent|classic|decade|century|era|modern)\b", low))
    for key in ("year_min", "year_max"):
        value = raw.get(key)
        if value is None:
            continue
        year = _sane_year(value)
        if year is None or not has_time_word:
            ex.rejected.append(f"{key}:{value}")
        else:
            setattr(ex, key, year)
    if ex.year_min is not None and ex.year_max is not None and ex.year_min > ex.year_max:
        ex.rejected.append(f"years:{ex.year_min}>{ex.year_max}")
        ex.year_min = ex.year_max = None
    for key, target in (("liked_titles", ex.liked_items), ("disliked_titles", ex.disliked_items)):
        for said in _str_list(raw.get(key), 3):
            ref = vocab.titles.match(said)
            words = [w for w in normalise_title(said).split() if len(w) > 2] or normalise_title(said).split()
            in_message = bool(words) and sum(f" {w} " in norm_msg for w in words) >= max(1, (len(words) + 1) // 2)
            if ref is None or not in_message:
                ex.rejected.append(f"{key}:{said}")
            elif all(r.item_id != ref.item_id for r in target):
                target.append(ref)
    for key, target in (("liked_attributes", ex.liked_attributes), ("disliked_attributes", ex.disliked_attributes)):
        for attr in _str_list(raw.get(key), 4, 40):
            words = [w for w in re.findall(r"[a-z]+", attr.lower()) if len(w) > 2]
            if words and any(w in low for w in words) and attr.lower() not in (a.lower() for a in target):
                target.append(attr)
            else:
                ex.rejected.append(f"{key}:{attr}")
    refers = raw.get("refers_to")
    if isinstance(refers, int) and 0 < refers <= len(shown):
        ex.refers_to = refers
    return ex


def merge(rules: Extraction, llm: Extraction) -> Extraction:
    """Union of two validated readings. The rules win on what they detect with certainty
    (negations, years, refine, ordinals, chit-chat/question/refine intents)."""
    out = Extraction(source="llm")
    out.exclude_genres = list(dict.fromkeys(rules.exclude_genres + llm.exclude_genres))
    out.genres = [g for g in dict.fromkeys(rules.genres + llm.genres) if g not in out.exclude_genres]
    if rules.liked_attributes and not rules.genres and llm.genres and set(g.lower() for g in llm.genres) <= set(rules.liked_attributes):
        out.genres = []  # "comedy or romance" stays a taste
    for name in ("liked_items", "disliked_items"):
        merged: dict[str, ItemRef] = {r.item_id: r for r in getattr(llm, name)}
        merged.update({r.item_id: r for r in getattr(rules, name)})
        setattr(out, name, list(merged.values()))
    disliked = {r.item_id for r in out.disliked_items}
    out.liked_items = [r for r in out.liked_items if r.item_id not in disliked]
    for name in ("liked_attributes", "disliked_attributes", "soft"):
        seen: dict[str, str] = {}
        for v in getattr(rules, name) + getattr(llm, name):
            seen.setdefault(v.lower(), v)
        setattr(out, name, list(seen.values()))
    if rules.year_min is not None or rules.year_max is not None:
        out.year_min, out.year_max = rules.year_min, rules.year_max
    else:
        out.year_min, out.year_max = llm.year_min, llm.year_max
    out.fields = {**llm.fields, **rules.fields}
    out.refine = rules.refine
    out.refers_to = rules.refers_to or llm.refers_to
    out.rejected = rules.rejected + llm.rejected
    out.focus = rules.focus
    if rules.intent in ("chitchat", "question", "refine") or (llm.intent == "chitchat" and out.has_content()):
        out.intent = rules.intent
    elif llm.intent in ("refine", "question") and not out.refers_to and not out.refine and rules.intent != llm.intent:
        out.intent = rules.intent  # a refine/question needs something to point at
    else:
        out.intent = llm.intent
    if out.intent == "clarify" and out.has_content():
        out.intent = "recommend"
    return out


class Understander:
    """Reads messages with an optional engine (``None`` = rules only). Stateless across sessions."""

    def __init__(self, engine: Any | None, max_tokens: int = 200) -> None:
        self.engine, self.max_tokens = engine, max_tokens

    def messages(self, message: str, vocab: Vocabulary, profile_summary: str, shown: Sequence[ItemRef]) -> list[Any]:
        from agent.context import clean_text
        from agent.engine import Message
        from prompts import render

        shown_text = "\n".join(f"{i}. {clean_text(r.title, 120)}" for i, r in enumerate(shown, 1)) or "(nothing yet)"
        user = render("understand_user", genres=", ".join(vocab.genres), profile=clean_text(profile_summary, 600),
                      shown=shown_text, message=clean_text(message, 600))
        return [Message("system", render("understand_system")), Message("user", user)]

    def understand(self, message: str, vocab: Vocabulary, profile_summary: str = "",
                   shown: Sequence[ItemRef] = ()) -> tuple[Extraction, str | None]:
        """(validated extraction, notice or None). Never raises."""
        rules = parse_rules(message, vocab, shown)
        if self.engine is None or (rules.intent == "chitchat" and not rules.has_content()):
            return rules, None
        try:
            raw = self.engine.generate_json(self.messages(message, vocab, profile_summary, shown),
                                            extraction_schema(vocab.genres), max_tokens=self.max_tokens)
            return merge(rules, validate_llm(raw, message, vocab, shown)), None
        except Exception as exc:  # noqa: BLE001 - any engine/validation failure degrades to the rules
            return rules, f"I read your message with simple rules (the language model's reading failed: {type(exc).__name__})."
