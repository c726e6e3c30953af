"""Understanding one user message: LLM extraction (JSON schema) validated against the catalog,
with a deterministic rule-based parser as the floor.

Pipeline: :func:`parse_rules` always runs. When an engine is given,
:meth:`Understander.understand` also asks it for a :func:`extraction_schema` JSON; every LLM
value is then validated (:func:`validate_llm`): a wanted genre must be named outside a negation
and an excluded one inside it (so an LLM that reads "for kids" as "no Children's" is overruled),
years must be sane and backed by a number or era word in the message, titles must fuzzy-match a
catalog item AND be named in the message (its distinctive words, not just "the"). Malformed
output, an engine error or a timeout fall back to the rules alone (``source == "rules"``) and
never raise.

How the rules read a message (:func:`parse_rules`), in order:

1. **Titles** the person names as references ("like Se7en", "similar to Heat", "I loved Star
   Wars: A New Hope - ...", "The Matrix is my favourite") are resolved to catalog items (exact
   normalised title, fuzzy, or the title's words in order) and masked, so the words of a title
   ("Star *Wars*", "*Children* of the Corn", "*2001*: A Space Odyssey") are never read as a genre
   or a year.
2. **Negation scope**: a cue ("not", "no", "nothing", "without", "except", "skip", "anything
   but", "I don't want", "isn't", "non-", ...) negates the words after it up to the end of its
   clause: punctuation, a dash, "but", "just", "please", "and a ...", or "for <audience>". So in
   "a thriller, but not a horror movie" only Horror is excluded and in "no sci-fi and no fantasy,
   just a good drama" Drama stays wanted.
3. **Years** (:func:`parse_years`): explicit ranges; decades ("the 80s", "the eighties", "'50s",
   "early 90s" = 1990-1994, "late 70s" = 1975-1979; "the 80s or 90s" = 1980-1999); periods
   ("golden age of Hollywood" = 1930-1959, "silent era" = up to 1929, "during World War II" =
   1939-1945); open bounds ("before 1980" = up to 1979, "after 1995" = from 1996, "since 1990",
   "1990 or later", "up to 1960", "1975 or earlier"). A negated bound is its complement:
   "nothing (made) after 1970" = up to 1970, "nothing before 1990" / "not older than 1990" = from
   1990, "no later than 1960" = up to 1960. Bounds intersect a decade ("90s, nothing after 1995").
4. **Genres**: genre words and plurals ("romances", "cowboy movie", "rom-com", "action-adventure",
   "romantic comedy"); inside a negation scope they are excluded, otherwise required. Mood words
   ("funny", "scary", "romantic" alone, "family") stay soft wishes unless negated. Genres joined
   by "or" ("a comedy or a romance") are a taste, not a filter.
5. **Audiences** ("for kids", "for my 6 year old", "family night", "the whole family", "my kids")
   require Children's; negated ("not for kids") they exclude it.
6. ``focus``: the message minus titles, negated clauses, dates, audiences and request filler
   ("only", "movies", "I want", "please"): what is left describes the wanted content and is
   embedded for retrieval. A message that states only constraints gets the neutral focus "film".
7. ``follow_up``: the message continues the standing request ("also ...", "it should be ...",
   "what about ...", "make it ...") or states a taste ("I like crime stories", "I love Heat");
   :func:`agent.understanding.profile_update.apply_extraction` uses it to decide whether earlier constraints stay.
8. ``complete``: a recommend/refine message whose every word the rules read (no word of the focus
   is left over once genre words, mood words and filler are taken out): the LLM reading is
   skipped for it (on 2 CPU cores it costs 10-30 s and can only add what the rules missed).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.understanding.profile import YEAR_HI, YEAR_LO, ItemRef
from retrieval.titles import normalise_title

TurnIntent = Literal["recommend", "refine", "question", "clarify", "chitchat"]
INTENTS: tuple[str, ...] = ("recommend", "refine", "question", "clarify", "chitchat")

# user words -> catalog genre names (only those present in the catalog are used); plurals in -s /
# -es are matched too ("romances", "westerns")
GENRE_WORDS: dict[str, str] = {
    "action": "Action", "adventure": "Adventure", "adventures": "Adventure", "animation": "Animation",
    "animated": "Animation", "cartoon": "Animation", "cartoons": "Animation", "anime": "Animation",
    "claymation": "Animation", "stop-motion": "Animation",
    "children": "Children's", "children's": "Children's", "kids": "Children's", "family": "Children's",
    "comedy": "Comedy", "comedies": "Comedy", "funny": "Comedy", "crime": "Crime", "gangster": "Crime",
    "documentary": "Documentary", "documentaries": "Documentary", "drama": "Drama", "dramas": "Drama",
    "fantasy": "Fantasy", "fantasies": "Fantasy", "film-noir": "Film-Noir", "noir": "Film-Noir",
    "horror": "Horror", "scary": "Horror", "slasher": "Horror",
    "musical": "Musical", "musicals": "Musical", "mystery": "Mystery", "mysteries": "Mystery",
    "whodunit": "Mystery", "whodunnit": "Mystery", "romance": "Romance", "romantic": "Romance", "romcom": "Romance",
    "sci-fi": "Sci-Fi", "scifi": "Sci-Fi", "sci fi": "Sci-Fi", "science fiction": "Sci-Fi", "science-fiction": "Sci-Fi",
    "thriller": "Thriller", "thrillers": "Thriller", "war": "War", "western": "Western", "westerns": "Western",
    "cowboy": "Western", "cowboys": "Western",
}
# Words that name two genres at once ("a rom-com" = Comedy AND Romance).
COMPOUND_GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "rom-com": ("Comedy", "Romance"), "romcom": ("Comedy", "Romance"), "rom com": ("Comedy", "Romance"),
    "dramedy": ("Comedy", "Drama"),
}
# Mood words that hint at a genre: as a wish they stay soft (query text, liked attributes), so
# "a funny animated movie for kids" does not demand Comedy AND Animation AND Children's; negated
# ("nothing scary") they still exclude the genre. "romantic" right before a genre noun ("a
# romantic comedy", "romantic dramas") names the Romance genre and is hard.
SOFT_GENRE_WORDS = frozenset({"funny", "scary", "romantic", "family"})
# Words for a kind of film the catalog has no genre for: the genres such films carry, added to the
# retrieval focus as text (never a filter), so "clever heist movies" finds crime thrillers even
# when no item text says "heist" (MovieLens items have no plots). The words stay unread, so the
# text still leads the ranking (agent.ranking.fusion.TEXT_LED_WEIGHT).
KIND_HINTS: dict[str, tuple[str, ...]] = {
    "heist": ("Crime", "Thriller"), "robbery": ("Crime", "Thriller"),
    "twist": ("Thriller", "Mystery"), "spy": ("Action", "Thriller"), "espionage": ("Action", "Thriller"),
    "detective": ("Crime", "Mystery"), "murder": ("Crime", "Thriller"), "killer": ("Crime", "Thriller"),
    "mafia": ("Crime", "Drama"), "mob": ("Crime", "Drama"), "cop": ("Action", "Crime"), "police": ("Action", "Crime"),
    "zombie": ("Horror",), "vampire": ("Horror",), "ghost": ("Horror",), "monster": ("Horror", "Sci-Fi"),
    "superhero": ("Action", "Adventure"), "space": ("Sci-Fi",), "alien": ("Sci-Fi",), "robot": ("Sci-Fi",),
    "dinosaur": ("Adventure", "Sci-Fi"), "pirate": ("Adventure",), "knight": ("Adventure", "Fantasy"),
    "dragon": ("Fantasy",), "wizard": ("Fantasy",), "boxer": ("Drama",), "boxing": ("Drama",),
    "courtroom": ("Drama",), "prison": ("Crime", "Drama"), "disaster": ("Action", "Thriller"),
}
_CHITCHAT = re.compile(
    r"^\s*(hi|hello|hey|yo|hiya|good (morning|evening|afternoon)|thanks?( you)?|thank you|thx|ok(ay)?|cool|great|"
    r"nice|bye|goodbye|see you|how are you( doing)?|who are you|what('s| is) up|lol|haha)\b[\s!.,?a-z]*$", re.I)
_WANT = re.compile(r"\b(recommend|suggest|watch|movie|movies|film|films|something|anything|show me|looking for|"
                   r"in the mood|want|give me|find|any ideas)\b", re.I)
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
             "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}


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

    def _ref(self, i: int, said: str, score: float) -> ItemRef:
        label = self.titles[i] + (f" ({self.years[i]})" if self.years[i] else "")
        return ItemRef(self.ids[i], label, said.strip(), round(min(score, 1.0) * 100, 1))

    @functools.cached_property
    def _by_key(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, k in enumerate(self.keys):
            out.setdefault(k, []).append(i)
        return out

    @functools.cached_property
    def _key_words(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(k.split()) for k in self.keys)

    @functools.cached_property
    def _parts(self) -> tuple[frozenset[str], ...]:
        """Each key's title parts around ":" and " - " ("Star Wars: Episode V - The Empire Strikes
        Back" -> "star wars", "the empire strikes back"): the series title and subtitles people
        use alone. Parts of fewer than two distinctive words other than the first are left out."""
        out = []
        for i, k in enumerate(self.keys):
            parts = [normalise_title(p) for p in re.split(r":|\s-\s", re.sub(r"\([^)]*\)", " ", self.titles[i]))]
            keep = {p for j, p in enumerate(parts) if p and p != k
                    and (j == 0 or len([w for w in p.split() if w not in _TITLE_STOP]) >= 2)}
            out.append(frozenset(keep))
        return tuple(out)

    def exact(self, said: str) -> ItemRef | None:
        """The item whose normalised title is exactly ``said``'s (a year in ``said`` breaks ties;
        otherwise the first-listed item). None if none."""
        key = normalise_title(said)
        found = self._by_key.get(key) if len(key) >= 2 else None
        if not found:
            return None
        year = _year_in(said)
        i = next((j for j in found if year and self.years[j] == year), found[0])
        return self._ref(i, said, 1.0)

    def match(self, said: str, cutoff: float = 0.82) -> ItemRef | None:
        """Best catalog item for ``said`` (exact normalised title first, then difflib ratio >=
        ``cutoff``; ties go to the first-listed item). None if nothing fits."""
        key = normalise_title(said)
        if len(key) < 2:
            return None
        ref = self.exact(said)
        if ref is not None:
            return ref
        best: tuple[float, int] | None = None
        if best is None:
            close = difflib.get_close_matches(key, self.keys, n=5, cutoff=cutoff)
            for c in close:
                i = self.keys.index(c)
                score = difflib.SequenceMatcher(None, key, c).ratio()
                if best is None or score > best[0]:
                    best = (score, i)
        if best is None:
            return None
        return self._ref(best[1], said, best[0])

    def match_words(self, said: str, min_cover: float = 0.6) -> ItemRef | None:
        """A title whose words contain ``said``'s words in order, covering at least ``min_cover``
        of the title's distinctive words ("Star Wars: A New Hope" -> "Star Wars: Episode IV - A New
        Hope"), or with a part before or after ":" / " - " that is exactly ``said`` ("Star Wars",
        "The Empire Strikes Back"). At least two distinctive words are needed; the closest cover
        wins, ties to the first-listed item."""
        words = normalise_title(said).split()
        if len([w for w in words if w not in _TITLE_STOP]) < 2:
            return None
        joined, first = " ".join(words), words[0]
        best: tuple[float, int] | None = None
        for i, kw in enumerate(self._key_words):
            cover = 0.0
            if len(kw) >= len(words) and first in kw and _in_order(words, kw):
                distinct = [w for w in kw if w not in _TITLE_STOP] or kw
                cover = sum(w in words for w in distinct) / len(distinct)
            if cover < min_cover:
                if joined not in self._parts[i]:
                    continue
                cover = 0.6
            if best is None or cover > best[0]:
                best = (cover, i)
        return None if best is None else self._ref(best[1], said, best[0] * 0.95)

    def find_in(self, text: str, min_len: int = 4) -> list[ItemRef]:
        """Catalog titles that occur verbatim (normalised, whole words) in ``text``; longest first."""
        norm = f" {normalise_title(text)} "
        found: dict[str, ItemRef] = {}
        for i, k in enumerate(self.keys):
            if len(k) >= min_len and f" {k} " in norm and self.ids[i] not in found:
                found[self.ids[i]] = self._ref(i, k, 1.0)
        return sorted(found.values(), key=lambda r: -len(r.said))


def _in_order(words: Sequence[str], seq: Sequence[str]) -> bool:
    it = iter(seq)
    return all(any(w == s for s in it) for w in words)


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
        g = GENRE_WORDS.get(w) or GENRE_WORDS.get(w.rstrip("s")) or GENRE_WORDS.get(re.sub(r"es$", "", w))
        return g if g in self.genres else None

    @functools.cached_property
    def latest_year(self) -> int | None:
        """The catalog's latest film year (decides whether "the 20s" means the 1920s or 2020s)."""
        return max((y for y in self.titles.years if y), default=None)


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
    ``refers_to`` is a 1-based position in the last shown list (0 = none); ``follow_up`` is True
    when the message continues the standing request ("also a comedy", "it should be from 1995",
    "what about the 80s?") rather than starting a new one."""

    intent: TurnIntent = "recommend"
    liked_items: list[ItemRef] = field(default_factory=list)
    disliked_items: list[ItemRef] = field(default_factory=list)
    liked_attributes: list[str] = field(default_factory=list)
    disliked_attributes: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    genres_any: list[str] = field(default_factory=list)  # "a comedy or a romance": at least one
    exclude_genres: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    fields: dict[str, str] = field(default_factory=dict)
    soft: list[str] = field(default_factory=list)
    refine: Literal["older", "newer"] | None = None
    refers_to: int = 0
    source: Literal["llm", "rules"] = "rules"
    rejected: list[str] = field(default_factory=list)
    focus: str = ""  # the message minus titles, negations, dates and filler: retrieval text
    follow_up: bool = False
    complete: bool = False  # the rules accounted for every word: an LLM reading has nothing to add
    new_ask: bool = False   # phrased as a fresh ask for a kind of film ("a heist film with ...")

    def has_content(self) -> bool:
        return bool(self.liked_items or self.disliked_items or self.liked_attributes or self.disliked_attributes
                    or self.genres or self.genres_any or self.exclude_genres or self.year_min is not None or self.year_max is not None
                    or self.fields or self.soft or self.refine or self.refers_to)

    def states_request(self) -> bool:
        """True when the message states what it wants on its own: genres (an audience included),
        a period, or a fresh ask for a kind of film ("a heist film with a twist ending") - the
        test for "a new request" in :func:`agent.understanding.profile_update.apply_extraction`. A liked
        reference alone ("something like Alien" after "a horror film from the 80s") or a wish
        ("anything with a great soundtrack") narrows the standing request instead."""
        return bool(self.genres or self.genres_any or self.year_min is not None or self.year_max is not None
                    or self.new_ask)


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


def _lower(text: str) -> str:
    """``text`` in lower case with straight apostrophes, same length (positions stay valid)."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    low = text.lower()
    return low if len(low) == len(text) else "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _mask(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with each (start, end) span blanked out (same length)."""
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


# ---------------------------------------------------------------------------- negation scope
_NEG_CUE = re.compile(
    r"(?<![\w'])(?:no\s+more|not|no|non(?=-)|never|none(?:\s+of)?|nothing|without|except(?:\s+for)?|excluding|"
    r"avoid|skip(?:ping)?|minus|hate[sd]?|dislike[sd]?|can'?t\s+stand|cannot\s+stand|sick\s+of|tired\s+of|spare\s+me|"
    r"(?:do|does|did|would|could)(?:\s+not|n'?t)\s+(?:like|want|need|enjoy|care\s+for|fancy|love)|"
    r"dont\s+(?:like|want|need|enjoy|care\s+for|fancy)|"
    r"(?:is|are|was|were)(?:\s+not|n'?t)|isnt|arent|ain'?t|"
    r"(?:anything|everything)\s+(?:but|except|other\s+than|besides)|other\s+than|rather\s+than|instead\s+of|"
    r"less|fewer)(?![\w'])")
# cue words that do not negate what follows: "not sure", "no preference", "no more than"
_NEG_CANCEL = re.compile(
    r"\s*(?:sure|bad|a\s+problem|problem|worries|matter|preference|particular|specific|idea|rush|doubt|kidding|"
    r"only|just|necessarily|much\s+of\s+a|limits?|than|in\s+particular|fan\s+of\s+(?:long|subtitles))(?![\w'])")
_AUDIENCE_FOR = (r"for\s+(?:the\s+|my\s+|our\s+|a\s+|little\s+|young\s+|small\s+)*(?:kids?|children|child|kiddos?|"
                 r"toddlers?|little\s+ones|grandkids|grandchildren|family|\d{1,2}(?=[\s-]+years?[\s-]+old))")
_SCOPE_END_HARD = re.compile(r"[,.;:!?()\[\]\"]|\s[-\u2013\u2014]+\s|\s[-\u2013\u2014]+$")
_SCOPE_END_WORD = re.compile(
    r"(?<![\w'])(?:but|just|only|instead|rather|though|although|however|because|unless|while|whereas|so\s+that|"
    r"as\s+long\s+as|i\s+want|i'd\s+like|i\s+would\s+like|i\s+prefer|i'd\s+prefer|give\s+me|show\s+me|preferably|"
    r"ideally|maybe|perhaps|please|something|anything|"
    r"and\s+(?:a|an|some|something|i|it|it's|maybe|also|preferably|ideally|from|with|set|make)|" + _AUDIENCE_FOR +
    r")(?![\w'])")


@dataclass(frozen=True)
class _Scope:
    cue: int    # where the negation cue starts
    start: int  # what it negates: low[start:end]
    end: int


def _neg_scopes(low: str) -> list[_Scope]:
    """Negated stretches of ``low``: from each cue to the end of its clause."""
    out: list[_Scope] = []
    for m in _NEG_CUE.finditer(low):
        rest = low[m.end():]
        if _NEG_CANCEL.match(rest):
            continue
        end = len(rest)
        if m.group(0) == "non":  # "non-horror thriller": only the hyphenated word
            word = re.match(r"-[\w'-]+", rest)
            if word:
                out.append(_Scope(m.start(), m.end(), m.end() + word.end()))
            continue
        hard = _SCOPE_END_HARD.search(rest)
        if hard:
            end = hard.start()
        for w in _SCOPE_END_WORD.finditer(rest[:end]):
            if rest[:w.start()].strip():
                end = w.start()
                break
        if rest[:end].strip():
            out.append(_Scope(m.start(), m.end(), m.end() + end))
    return out


def _negated(pos: int, scopes: Sequence[_Scope]) -> bool:
    return any(s.start <= pos < s.end for s in scopes)


def _directly_negated(low: str, pos: int, scopes: Sequence[_Scope], max_words: int = 3) -> bool:
    """True when a cue negates ``pos`` closely: at most ``max_words`` words between the cue and
    ``pos`` ("nothing made after 1970", "I don't want anything older than 1990") and no genre
    word among them ("no horror after 1980" negates the horror, not the year)."""
    for s in scopes:
        if s.start <= pos < s.end or pos == s.start:
            between = low[s.start:pos]
            if len(re.findall(r"[\w'-]+", between)) <= max_words and not _GENRE_RE.search(between):
                return True
    return False


# ---------------------------------------------------------------------------- years
_Y = r"(1[89]\d\d|20[0-3]\d)"
_DECADE_WORDS = {"twenties": 2, "thirties": 3, "forties": 4, "fifties": 5, "sixties": 6, "seventies": 7,
                 "eighties": 8, "nineties": 9}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12}
_DECADE = re.compile(
    r"(?<![\w'])(?:(early|mid|late)[\s-]*)?(?:(?:(1[89]|20)(\d)0|'?(\d)0)'?s|(" + "|".join(_DECADE_WORDS) + r"))(?![\w])")
_RANGE = re.compile(r"(?<!\d)" + _Y + r"\s*(?:-|\u2013|to|and|through|thru|until|till)\s*" + _Y + r"(?!\d)")
# prefix bounds: keyword then year -> (lower, upper) as a function of the year
_PREFIX_BOUNDS: tuple[tuple[str, Any], ...] = (
    (r"before|prior\s+to|earlier\s+than|older\s+than|pre", lambda y: (None, y - 1)),
    (r"after|later\s+than|newer\s+than|more\s+recent\s+than|post", lambda y: (y + 1, None)),
    (r"since|starting\s+(?:in|from)", lambda y: (y, None)),
    (r"until|till|up\s+(?:to|until|through)|through", lambda y: (None, y)),
)
_PREFIX = re.compile(r"(?<![\w'])(" + "|".join(f"(?:{p})" for p, _ in _PREFIX_BOUNDS) + r")[\s-]+(?:the\s+year\s+)?"
                     + _Y + r"(?!\d)")
_SUFFIX = re.compile(
    r"(?<!\d)" + _Y + r"(?:\s+(?:(or|and)\s+(earlier|before|older|prior|later|after|newer|more\s+recent|beyond|up|onwards?)"
    r"|(on(?:wards?)?|forwards?|at\s+the\s+latest|at\s+the\s+earliest))|(\+))(?![\w])")
_PERIODS: tuple[tuple[re.Pattern[str], int | None, int | None], ...] = (
    (re.compile(r"\bgolden[\s-]+age(?:\s+of\s+(?:hollywood|cinema|film|movies))?\b|\bclassic(?:al)?\s+hollywood\b"), 1930, 1959),
    (re.compile(r"\bsilent(?:[\s-]+(?:era|film|films|movie|movies|picture|pictures|cinema|comed(?:y|ies)|days|age|classics?))+\b"
                r"|\bsilents\b"), None, 1929),
    (re.compile(r"\b(?:(?:made|filmed|shot|released|produced)\s+)?during\s+(?:the\s+)?(?:world\s+war\s+(?:ii|2|two)|"
                r"second\s+world\s+war|ww\s?(?:ii|2))\b"), 1939, 1945),
    (re.compile(r"\b(?:(?:made|filmed|shot|released|produced)\s+)?during\s+(?:the\s+)?(?:world\s+war\s+(?:i|1|one)|"
                r"first\s+world\s+war|ww\s?(?:i|1)|great\s+war)\b"), 1914, 1918),
)
_SINGLE_YEAR = re.compile(r"(?<![\w'])(?:from|in|of|released\s+in|made\s+in)\s+" + _Y
                          + r"(?!\d)(?!\s*(?:-|\u2013|to\b|and\b|or\b|through\b|on\b|onwards?\b|\+))")
_OLDER = re.compile(r"\b(older|earlier|less recent|more classic|not so recent|not so new)\b")
_NEWER = re.compile(r"\b(newer|more recent|more modern|later|less old)\b")


@dataclass
class _Years:
    year_min: int | None = None
    year_max: int | None = None
    refine: Literal["older", "newer"] | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)  # the date phrases (kept out of focus)


def _complement(lo: int | None, hi: int | None) -> tuple[int | None, int | None] | None:
    """The years outside a one-sided bound; None for a two-sided one (not one range)."""
    if lo is not None and hi is None:
        return None, lo - 1
    if hi is not None and lo is None:
        return hi + 1, None
    return None


def _decade_bounds(m: re.Match[str], latest: int | None) -> tuple[int, int]:
    part, century, digit4, digit2, word = m.groups()
    if word:
        start = 1900 + 10 * _DECADE_WORDS[word]
    elif century:
        start = int(century + digit4 + "0")
    else:
        d = int(digit2)
        recent = 2000 + 10 * d
        start = recent if d == 0 or (d <= 3 and latest is not None and latest >= recent) else 1900 + 10 * d
    lo, hi = start, start + 9
    if part == "early":
        hi = start + 4
    elif part == "late":
        lo = start + 5
    elif part == "mid":
        lo, hi = start + 3, start + 7
    return lo, hi


def _read_years(low: str, scopes: Sequence[_Scope], latest: int | None = None) -> _Years:
    out = _Years()
    m = _RANGE.search(low)
    if m:
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        out.year_min, out.year_max = a, b
        start = m.start()
        between = re.search(r"(?:between|from)\s+$", low[:start])
        out.spans.append((between.start() if between else start, m.end()))
        return out
    bounds: list[tuple[int | None, int | None]] = []
    for m in _PREFIX.finditer(low):
        keyword, year = m.group(1), int(m.group(2))
        for pattern, rule in _PREFIX_BOUNDS:
            if re.fullmatch(pattern, keyword):
                bound = rule(year)
                break
        else:  # pragma: no cover - the alternation is built from the same patterns
            continue
        if _directly_negated(low, m.start(), scopes):
            bound = _complement(*bound) or bound
        bounds.append(bound)
        out.spans.append((m.start(), m.end()))
    for m in _SUFFIX.finditer(low):
        year, word = int(m.group(1)), (m.group(3) or m.group(4) or m.group(5) or "")
        upper = re.match(r"earlier|before|older|prior|at\s+the\s+latest", word)
        bounds.append((None, year) if upper else (year, None))
        out.spans.append((m.start(), m.end()))
    ranges: list[tuple[int | None, int | None]] = []
    for m in _DECADE.finditer(low):
        if m.group(5) and re.search(r"\b(?:his|her|their|my|your|our|early|late)\s+$", low[:m.start()]) and not m.group(1):
            continue  # "in her twenties" is an age
        lo, hi = _decade_bounds(m, latest)
        out.spans.append((m.start(), m.end()))
        if _directly_negated(low, m.start(), scopes):
            continue  # "nothing from the 80s": not one range; the rest still applies
        ranges.append((lo, hi))
    for pattern, lo, hi in _PERIODS:
        for m in pattern.finditer(low):
            out.spans.append((m.start(), m.end()))
            if _directly_negated(low, m.start(), scopes):
                flipped = _complement(lo, hi)
                if flipped:
                    bounds.append(flipped)
            else:
                ranges.append((lo, hi))
    if ranges:  # several decades or periods: the span from the earliest to the latest ("the 80s or 90s")
        los = [r[0] for r in ranges]
        his = [r[1] for r in ranges]
        out.year_min = None if any(v is None for v in los) else min(v for v in los if v is not None)
        out.year_max = None if any(v is None for v in his) else max(v for v in his if v is not None)
    for lo, hi in bounds:  # bounds narrow ("the 90s, but nothing after 1995")
        if lo is not None:
            out.year_min = lo if out.year_min is None else max(out.year_min, lo)
        if hi is not None:
            out.year_max = hi if out.year_max is None else min(out.year_max, hi)
    if out.year_min is not None and out.year_max is not None and out.year_min > out.year_max:
        out.year_min = out.year_max = None  # contradictory: state nothing rather than an empty range
    if ranges or bounds:
        return out
    m = _SINGLE_YEAR.search(low)
    if m and not _directly_negated(low, m.start(), scopes):
        out.year_min = out.year_max = int(m.group(1))
        out.spans.append((m.start(), m.end()))
        return out
    if _OLDER.search(low):
        out.refine = "older"
    elif _NEWER.search(low):
        out.refine = "newer"
    return out


def parse_years(text: str, latest: int | None = None) -> tuple[int | None, int | None, Literal["older", "newer"] | None]:
    """(year_min, year_max, refine) from decades ("90s", "1980s", "the eighties", "early 70s",
    "the 80s or 90s"), periods ("golden age of Hollywood", "silent era"), ranges ("between 1980
    and 1990", "1980-1990"), bounds ("before 1980" = up to 1979, "after 2000" = from 2001, "since
    1995", "1990 or later", "up to 1960"), negated bounds ("nothing after 1970" = up to 1970,
    "not older than 1990" = from 1990), one year ("from 1995"), and relative words ("older" /
    "newer"). ``latest``: the catalog's latest year ("the 20s" = the 2020s only when it has them)."""
    low = _lower(text)
    years = _read_years(low, _neg_scopes(low), latest)
    return years.year_min, years.year_max, years.refine


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


# ---------------------------------------------------------------------------- genres and audiences
_ALL_GENRE_WORDS = sorted(set(GENRE_WORDS) | set(COMPOUND_GENRE_WORDS), key=len, reverse=True)
_GENRE_RE = re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(w) for w in _ALL_GENRE_WORDS) + r")(?:e?s)?(?![\w])")
_AUDIENCE = re.compile(
    r"(?<![\w'])(?:" + _AUDIENCE_FOR + r"(?:[\s-]+years?[\s-]+olds?)?|"
    r"(?:my|our|the|a)\s+(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")[\s-]+years?[\s-]+olds?|"
    r"(?:whole|entire)\s+family|family[\s-]+(?:night|movie|movies|film|films|friendly|evening|fun|time|viewing|day|"
    r"outing|weekend|afternoon|gathering)|(?:with|for)\s+(?:the|my|our)\s+family|"
    r"(?:my|our)\s+(?:kids|children|little\s+ones|toddlers?|kiddos)|"
    r"(?:kid|kids|child|children)[\s-]+(?:friendly|safe|appropriate)|suitable\s+for\s+(?:kids|children)|"
    r"birthday\s+party)(?![\w])")


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    genre: str
    soft: bool = False       # a mood word: a wish, not a filter
    audience: bool = False   # "for kids", "family night": Children's wanted


def _mentions(low: str, vocab: Vocabulary) -> list[_Mention]:
    """Genre words (with plurals, compounds and catalog genre names) and audience phrases in
    ``low`` (already lower-cased and masked), in text order."""
    out: list[_Mention] = []
    taken: list[tuple[int, int]] = []
    words = sorted(set(_ALL_GENRE_WORDS) | {g.lower() for g in vocab.genres}, key=len, reverse=True)
    for w in words:
        for m in re.finditer(r"(?<![\w'])" + re.escape(w) + r"(?:e?s)?(?![\w])(?!-(?:packed|ish|esque|like|y)\b)", low):
            if any(a <= m.start() < b or m.start() <= a < m.end() for a, b in taken):
                continue
            genres = COMPOUND_GENRE_WORDS.get(w) or ((vocab.genre(w),) if vocab.genre(w) else ())
            genres = tuple(g for g in genres if g in vocab.genres)
            if not genres:
                continue
            taken.append((m.start(), m.end()))
            out += [_Mention(m.start(), m.end(), g, soft=w in SOFT_GENRE_WORDS) for g in genres]
    out.sort(key=lambda x: x.start)
    # "romantic comedy", "romantic dramas": "romantic" names the genre when a genre noun follows
    for i, x in enumerate(out):
        if x.soft and low[x.start:x.end] == "romantic" and any(
                0 < y.start - x.end <= 2 and not y.soft for y in out[i + 1:i + 3]):
            out[i] = _Mention(x.start, x.end, x.genre)
    if "Children's" in vocab.genres:
        for m in _AUDIENCE.finditer(low):
            age = m.group(1)
            if age and (int(age) if age.isdigit() else _NUMBER_WORDS.get(age, 99)) > 12:
                continue
            digits = re.search(r"(\d{1,2})[\s-]+years?[\s-]+old", m.group(0))
            if digits and int(digits.group(1)) > 12:
                continue
            out.append(_Mention(m.start(), m.end(), "Children's", audience=True))
        out.sort(key=lambda x: x.start)
    return out


@dataclass
class _Genres:
    wanted: list[str] = field(default_factory=list)    # required (hard)
    either: list[str] = field(default_factory=list)    # "a comedy or a romance": a taste
    excluded: list[str] = field(default_factory=list)


def _read_genres(low: str, vocab: Vocabulary, scopes: Sequence[_Scope]) -> _Genres:
    out = _Genres()
    mentions = _mentions(low, vocab)
    positive: list[_Mention] = []
    for x in mentions:
        if _negated(x.start, scopes):
            if x.genre not in out.excluded:
                out.excluded.append(x.genre)
        elif not x.soft:  # mood words stay wishes (liked attributes)
            positive.append(x)
    # genres joined by "or" ("a comedy or a romance", "either a western or a war movie") are a taste
    plain = [x for x in positive if not x.audience]
    either: set[int] = set()
    for a, b in zip(plain, plain[1:]):
        between = low[a.end:b.start]
        if a.genre != b.genre and len(between) <= 40 and re.search(r"\bor\b|/", between) and not re.search(r"[.;!?]", between):
            either |= {id(a), id(b)}
    for x in positive:
        target = out.either if id(x) in either else out.wanted
        if x.genre not in target and x.genre not in out.excluded:
            target.append(x.genre)
    out.either = [g for g in out.either if g not in out.wanted]
    return out


# ---------------------------------------------------------------------------- titles
_TITLE_STOP = frozenset({"the", "a", "an", "of", "and", "in", "on", "to", "for", "with", "from", "by", "at", "is", "it",
                         "movie", "film", "part", "my", "me", "i"})
_GENERIC = frozenset({"a", "an", "the", "any", "more", "another", "other", "too", "much", "so", "really", "movie",
                      "movies", "film", "films", "flick", "flicks", "one", "ones", "stuff", "kind", "kinds", "of", "type",
                      "sort", "genre", "genres", "something", "anything", "that", "is", "it", "in", "with", "made",
                      "released", "please", "this", "these", "those", "them", "some", "things", "thing", "good",
                      "great", "old", "new", "watching", "watch", "to", "see", "tonight", "again", "else", "all",
                      "me", "you", "i", "we", "us", "what", "who", "which", "first", "second", "third", "fourth",
                      "fifth", "last", "next", "previous", "same", "isn't", "not", "no", "but", "and", "or", "mood",
                      "now", "today", "right"})
_LIKE_CUE = re.compile(
    r"(?<![\w'])(?:like|similar\s+to|such\s+as|as\s+good\s+as|loved|love|enjoyed|liked|adored|adore|fan\s+of|"
    r"in\s+the\s+vein\s+of|along\s+the\s+lines\s+of|in\s+the\s+style\s+of|reminiscent\s+of|reminds\s+me\s+of|"
    r"same\s+vibe\s+as|the\s+vibe\s+of|the\s+feel\s+of|a\s+la)\s+")
_NOT_A_LIKE = re.compile(  # "I'd like a ...", "I feel like a cowboy movie", "would like to" (but "I love Heat")
    r"(?:\b(?:would|i'd|id|i|we|we'd|you'd|feel|feels|feeling|look|looks|sound|sounds|seem|seems)\s*)$")
_NOT_A_TITLE_NEXT = re.compile(r"(?:to|a|an|some|something|anything|movies?|films?|watching|seeing|it|that|this|one|more)(?![\w'])")


def _wish_not_reference(low: str, m: re.Match[str]) -> bool:
    """True for "I'd like a ...", "I feel like something ...", "we'd love to ...": a wish, not "like <title>"."""
    return (m.group(0).startswith(("like", "love")) and bool(_NOT_A_LIKE.search(low[max(0, m.start() - 14):m.start()]))
            and bool(_NOT_A_TITLE_NEXT.match(low, m.end())))


_FAVOURITE = re.compile(
    r"(?:^|(?<=[.!?;,]\s)|(?<=\band\s))([^.!?;,]{1,70}?)\s+(?:is|was|'s|are|were)\s+(?:my\s+(?:all[\s-]time\s+|absolute\s+|"
    r"very\s+)?(?:favou?rite|fave)|one\s+of\s+my\s+favou?rites|(?:so\s+|really\s+)?(?:great|amazing|brilliant|"
    r"awesome|fantastic|excellent|incredible|the\s+best))\b")
_TITLE_CUT = re.compile(
    r"\s*(?:[,;!?]|\.(?:\s|$)|\s[-\u2013\u2014]+\s|(?<![\w'])(?:but|and|from|with|in\s+the|please|or|that|which|who|for|"
    r"because|except|without|not|is|was|are|if|so|since|as|made|released|set|only|just|something|anything|what|"
    r"should|i|i'm|i'd|maybe|though|too|again|tonight|plus)(?![\w']))", re.I)
_MAX_TITLE_CUES = 6  # title look-ups per message and cue kind (bounds the time of a pathological message)
_PRONOUN = re.compile(r"^(?:it|that|this|them|those|these|one|ones|him|her|the\s+one|the\s+same)$")


def _generic_only(text: str) -> bool:
    """True when ``text`` is only genre words, audience words and generic words ("a horror movie")."""
    rest = _GENRE_RE.sub(" ", text.lower())
    rest = re.sub(r"\b(?:kids?|children|family|\d0'?s|\d{4}s?)\b", " ", rest)
    return not [w for w in re.findall(r"[a-z0-9']+", rest) if w not in _GENERIC]


def _resolve_title(vocab: Vocabulary, region: str, strict: bool = False) -> tuple[ItemRef, int] | None:
    """The catalog item named at the start of ``region`` and how many characters its name takes:
    prefixes of ``region`` ending at a clause break or a function word, longest first, each tried
    as an exact title, then (the longest four) as a fuzzy title (>= 0.82; not when ``strict``) or
    as a title's words in order (:meth:`TitleIndex.match_words`)."""
    region = region[:90]
    cuts = [len(region)] + [m.start() for m in _TITLE_CUT.finditer(region) if m.start() > 0]
    cands: list[tuple[str, int]] = []
    for cut in sorted(set(cuts), reverse=True):
        cand = region[:cut].strip().strip("\"'").strip()
        if len(cand) < 2 or any(cand.lower() == c.lower() for c, _ in cands):
            continue
        if _PRONOUN.match(cand.lower()) or _generic_only(cand):
            continue
        cands.append((cand, len(region[:cut].rstrip())))
    for cand, length in cands:  # exact titles first (cheap), longest first
        ref = vocab.titles.exact(cand)
        if ref is not None:
            return ref, length
    for cand, length in cands[:4]:  # then fuzzy (not when strict) / words in order, for the longest few
        ref = (None if strict else vocab.titles.match(cand)) or vocab.titles.match_words(cand)
        if ref is not None:
            return ref, length
    return None


@dataclass
class _Titles:
    liked: list[ItemRef] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # the titles' places in the message
    cues: list[tuple[int, int]] = field(default_factory=list)   # "like", "similar to", "is my favourite"


def _read_liked_titles(text: str, low: str, vocab: Vocabulary) -> _Titles:
    out = _Titles()

    def add(ref: ItemRef, start: int, length: int) -> None:
        out.spans.append((start, start + length))
        if all(r.item_id != ref.item_id for r in out.liked):
            out.liked.append(ref)

    def read_from(start: int) -> None:
        for _ in range(3):  # "I loved Heat and Toy Story"
            found = _resolve_title(vocab, text[start:])
            if found is None:
                return
            ref, length = found
            add(ref, start, length)
            more = re.match(r"\s*(?:,\s*(?:and\s+)?|and\s+|&\s+|or\s+)", low[start + length:])
            if more is None:
                return
            start += length + more.end()

    for m in list(_LIKE_CUE.finditer(low))[:_MAX_TITLE_CUES]:
        if any(a <= m.start() < b for a, b in out.spans):
            continue
        if _wish_not_reference(low, m):
            continue
        out.cues.append((m.start(), m.end()))
        read_from(m.end())
    for m in list(_FAVOURITE.finditer(low))[:_MAX_TITLE_CUES]:
        s = m.start(1) + (len(m.group(1)) - len(m.group(1).lstrip()))
        found = _resolve_title(vocab, text[s:m.end(1)].strip())
        if found is not None:
            add(found[0], s, found[1])
            out.cues.append((m.end(1), m.end()))
    return out


# ---------------------------------------------------------------------------- follow-ups
# "a heist film with a twist ending", "show me some movie about space": a fresh ask for a kind of film
_NEW_ASK = re.compile(
    r"^\s*(?:(?:i(?:'d|\s+would)?\s+(?:want|like|need)|give\s+me|show\s+me|recommend(?:\s+me)?|find\s+me|suggest|"
    r"(?:can|could)\s+you\s+(?:recommend|suggest|find)(?:\s+me)?|(?:i'?m\s+)?looking\s+for)\s+)?"
    r"(?:a|an|some|one)\s+(?:[\w'-]+\s+){0,5}?(?:film|movie|flick|picture)s?(?![\w'])")
_FOLLOW_UP = re.compile(
    r"^\s*(?:and|also|but|plus|now|ok(?:ay)?\s*,?\s*(?:but|now|and)|so|actually|ideally|preferably|only|just|"
    r"what\s+about|how\s+about|make\s+it|same|rather|instead|then|oh\s+and|this\s+time|narrow)(?![\w'])"
    # a taste ("I like crime stories", "I love Heat"), not a request for something else ("I'd like a western")
    r"|^\s*(?:i|we)\s+(?:really\s+|also\s+|do\s+|generally\s+|usually\s+)?(?:like|love|enjoy|prefer|adore|dig)"
    r"(?!\s+(?:to|a|an|some|something|anything|movies?|films?)(?![\w']))(?![\w'])"
    r"|(?<![\w'])(?:it|they|that|those|these|the\s+film|the\s+movie)\s+(?:should|must|has\s+to|have\s+to|needs?\s+to|"
    r"could|can|would)(?![\w'])"
    r"|(?<![\w'])(?:also|too|as\s+well|instead|this\s+time|same\s+but|more\s+of\s+those|of\s+those)\s*[.!?]?\s*$"
    r"|(?<![\w'])also(?![\w'])")


# ---------------------------------------------------------------------------- the rule reader
def parse_rules(message: str, vocab: Vocabulary, shown: Sequence[ItemRef] = ()) -> Extraction:
    """Deterministic reading of ``message`` (never raises); see the module doc for the rules.
    ``shown`` is the last list shown, in order, for "the second one" and title questions."""
    text = message.strip()
    ex = Extraction(source="rules")
    if not text:
        ex.intent = "chitchat"
        return ex
    low = _lower(text)
    titles = _read_liked_titles(text, low, vocab)
    ex.liked_items = titles.liked
    masked = _mask(low, titles.spans)
    scopes = _neg_scopes(masked)
    # a negated title ("not Heat", "no more Children of the Corn") is a disliked item
    disliked_spans: list[tuple[int, int]] = []
    for s in scopes[:_MAX_TITLE_CUES]:
        said = text[s.start:s.end]
        stripped = said.strip()
        if (_generic_only(said) or re.search(r"\d", said)
                or (" " not in stripped and not stripped[:1].isupper())):  # "no gore": a word, not a title
            continue
        found = _resolve_title(vocab, stripped, strict=True)
        if found is not None:
            ref, length = found
            offset = s.start + (len(said) - len(said.lstrip()))
            if all(r.item_id != ref.item_id for r in ex.disliked_items + ex.liked_items):
                ex.disliked_items.append(ref)
            disliked_spans.append((offset, offset + length))
    masked = _mask(masked, disliked_spans)
    removed = titles.spans + titles.cues + disliked_spans
    years = _read_years(masked, scopes, vocab.latest_year)
    ex.year_min, ex.year_max, ex.refine = years.year_min, years.year_max, years.refine
    ex.refers_to = parse_ordinal(text, len(shown))
    genres = _read_genres(_mask(masked, years.spans), vocab, scopes)
    ex.genres, ex.exclude_genres = genres.wanted, genres.excluded
    ex.genres_any = list(genres.either)
    # negated words that are neither a genre, a title nor a date: disliked attributes ("no gore")
    for s in scopes:
        span = masked[s.start:s.end].strip()
        words = [w for w in re.findall(r"[a-z][a-z'-]*", span) if w not in _GENERIC]
        if (not words or _GENRE_RE.search(span) or _AUDIENCE.search(span) or re.search(r"\d", span) or len(span) > 40
                or any(s.start <= a < s.end for a, _ in years.spans)
                or re.fullmatch(r"(?:sure|really|bad|now|yet|thanks|so|that|this|one|it|else|mood|the mood|in the mood|"
                                r"older|newer|earlier|later|animated)", " ".join(words))):
            continue
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
    for m in re.finditer(r"\b(tense|dark|light|feel[- ]good|uplifting|sad|slow|fast[- ]paced|violent|gory|quirky|"
                         r"smart|clever|cozy|epic|classic|cult|indie|twisty|mind[- ]bending|heartwarming|gritty|"
                         r"atmospheric|thought[- ]provoking|romantic|suspenseful|scary|funny)\b", masked):
        w = m.group(1)
        if not _negated(m.start(), scopes) and w not in ex.liked_attributes and not (
                w == "romantic" and "Romance" in ex.genres):
            ex.liked_attributes.append(w)
    ex.intent = _rule_intent(text, ex, shown, vocab)
    ex.follow_up = ex.intent == "refine" or bool(_FOLLOW_UP.search(low))
    ex.new_ask = not ex.follow_up and bool(_NEW_ASK.match(low))
    ex.focus = _focus(text, low, removed + years.spans + [(s.cue, s.end) for s in scopes]
                      + [(m.start(), m.end()) for m in _AUDIENCE.finditer(masked)])
    ex.focus = with_kind_hints(ex.focus, vocab)
    if ex.intent == "clarify" and _unread_words(ex.focus, ex, vocab):
        ex.intent = "recommend"  # "a movie about a boxer": short, but it says what the film is about
    ex.complete = ex.intent in ("recommend", "refine") and ex.has_content() and not _unread_words(ex.focus, ex, vocab)
    if not ex.focus and not (ex.genres or ex.liked_attributes or ex.liked_items or ex.genres_any) and ex.has_content():
        ex.focus = "film"  # only constraints were stated: rank within them rather than ask again
    return ex


def _unread_words(focus: str, ex: Extraction, vocab: Vocabulary) -> list[str]:
    # "more like the first one": the ordinal was read as a reference to a shown pick
    refs = [w for w in _ORDINALS if _ORDINALS[w] == ex.refers_to] if ex.refers_to else []
    return unread_words(focus, vocab, [*ex.liked_attributes, *refs])


def wished_genres(attributes: Sequence[str]) -> tuple[str, ...]:
    """Genres the mood words among the liked ``attributes`` hint at ("funny" -> Comedy): wishes
    that raise such films in the ranking (agent.ranking.fusion.WISHED_GENRE_WEIGHT), never a filter."""
    return tuple(dict.fromkeys(GENRE_WORDS[a] for a in attributes if a in SOFT_GENRE_WORDS))


def unread_words(focus: str, vocab: Vocabulary, attributes: Sequence[str] = ()) -> list[str]:
    """Words of the retrieval ``focus`` that no rule read: not a genre word, not a mood word
    already taken as a liked attribute (``attributes``), not filler. Empty = the rules read the
    whole message; otherwise the words themselves ("heist", "twist ending") describe the film."""
    low = focus.lower()
    low = _mask(low, [(m.start, m.end) for m in _mentions(low, vocab)])
    read = {w for a in attributes for w in a.lower().split()}
    return [w for w in re.findall(r"[a-z][a-z'-]*", low) if w not in read and w not in _FILLER]


# request filler: words that say "I want a film", not what the film is about
_FILLER = frozenset({
    "only", "just", "movie", "movies", "film", "films", "flick", "flicks", "picture", "pictures", "something",
    "anything", "please", "recommend", "recommendation", "recommendations", "suggest", "suggestion", "want", "wanna",
    "give", "show", "me", "i", "i'd", "i'm", "id", "im", "we", "we'd", "us", "my", "our", "a", "an", "the", "some",
    "any", "good", "find", "looking", "look", "for", "in", "of", "from", "to", "watch", "watching", "see", "seeing",
    "tonight", "mood", "feel", "can", "could", "you", "what", "what's", "whats", "which", "should", "would", "is",
    "are", "be", "it", "it's", "that", "this", "these", "those", "one", "ones", "worth", "made", "released", "set",
    "either", "whichever", "mind", "don't", "dont", "fine", "both", "genre", "genres", "also", "enough", "two", "and",
    "or", "but", "else", "nothing", "maybe", "perhaps", "kind", "sort", "type", "really", "so", "very", "next", "if",
    "do", "have", "got", "get", "any", "ideas", "idea", "put", "on", "at", "thanks", "thank", "hey", "hi", "hello",
    "stuff", "okay", "ok", "well", "sure", "has", "had", "been", "there", "they", "them", "all", "about", "pick",
    "picks", "options", "option", "list", "favourite", "favorite", "fave", "yes", "like", "similar", "vein",
    "lines", "style", "same", "more", "era", "period", "decade", "years", "year", "time", "like", "need", "needs",
    "has", "have", "to", "let's", "lets", "let", "whatever", "whole", "much", "lot", "lots", "with", "as", "long",
    "would", "love", "i'll", "take", "guess", "else", "which", "was", "were", "will", "ever", "around", "mostly",
    "other", "another", "than", "new", "then", "now", "time", "great", "best", "top", "some", "gimme", "tell",
    "not", "no", "sure", "ideally", "preferably", "too", "older", "newer", "earlier", "later", "recent", "instead",
    "rather", "actually", "again", "different", "should", "must", "it'd", "ones", "ok", "hmm", "well", "how",
})


def with_kind_hints(focus: str, vocab: Vocabulary) -> str:
    """``focus`` plus the catalog genres of its :data:`KIND_HINTS` words ("heist movies" ->
    "heist movies; crime, thriller"); unchanged when it names none."""
    words = [w.rstrip("s") if w.rstrip("s") in KIND_HINTS else w for w in re.findall(r"[a-z]+", focus.lower())]
    have = {g.lower() for g in vocab.genres}
    hints = [g.lower() for w in words if w in KIND_HINTS for g in KIND_HINTS[w]]
    hints = [g for g in dict.fromkeys(hints) if g in have and g not in focus.lower()]
    return f"{focus}; {', '.join(hints)}" if hints else focus


def _focus(text: str, low: str, removed: Sequence[tuple[int, int]]) -> str:
    """``text`` minus the ``removed`` spans and request filler: the retrieval text."""
    kept = _mask(text, removed)
    words = re.findall(r"[A-Za-z0-9][\w'&-]*", kept)
    return " ".join(w for w in words if w.lower() not in _FILLER)


def focus_text(message: str, vocab: Vocabulary | None = None) -> str:
    """``message`` without "like <title>" clauses, negated clauses, date phrases, audiences and
    request filler ("only", "movies", "I want"): what is left describes the wanted content and is
    embedded for retrieval (titles act through their item vectors, negations through filters)."""
    if vocab is not None:
        return parse_rules(message, vocab).focus
    low = _lower(message)
    scopes = _neg_scopes(low)
    years = _read_years(low, scopes)
    cues = [(m.start(), len(low)) for m in _LIKE_CUE.finditer(low) if not _wish_not_reference(low, m)]
    spans = cues + years.spans + [(s.cue, s.end) for s in scopes] + [(m.start(), m.end()) for m in _AUDIENCE.finditer(low)]
    return _focus(message, low, spans)


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
    that fails is dropped and named in ``rejected``: a wanted genre must be named outside a
    negation (or by an audience phrase: "for kids" = Children's), an excluded one inside it; a
    title must match a catalog item and be named in the message (:func:`named_in`: a film the
    person never mentioned is an invention). Raises ValueError when ``raw`` is not an object with
    a valid intent (the caller then uses the rules)."""
    if not isinstance(raw, dict):
        raise ValueError(f"extraction is not a JSON object: {type(raw).__name__}")
    intent = raw.get("intent")
    if intent not in INTENTS:
        raise ValueError(f"invalid intent {intent!r}")
    ex = Extraction(intent=intent, source="llm")  # type: ignore[arg-type]
    low = _lower(message)
    mentioned = _polarity(message, vocab)
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
            ref = vocab.titles.match(said) or vocab.titles.match_words(said)
            if ref is None or not named_in(message, said, ref):
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


def _polarity(message: str, vocab: Vocabulary) -> dict[str, set[str]]:
    """Genres the message wants ("genres": named outside a negation, audiences included; mood
    words too, as the LLM may read "funny" as Comedy) and the ones it negates ("exclude_genres")."""
    low = _lower(message)
    scopes = _neg_scopes(low)
    out: dict[str, set[str]] = {"genres": set(), "exclude_genres": set()}
    for x in _mentions(low, vocab):
        if _negated(x.start, scopes):
            out["exclude_genres"].add(x.genre)
        elif not x.soft:
            out["genres"].add(x.genre)
    return out


def named_in(message: str, said: str, ref: ItemRef) -> bool:
    """True when ``message`` names the catalog item ``ref`` (as ``said``): every distinctive word
    of ``said`` occurs in the message (a typo of one or two letters allowed) and so do at least
    half the distinctive words of one of the item's titles. "The Matrix" is not named by "I only
    want movies from the 1980s." although both contain "the"."""
    msg = normalise_title(message).split()
    msg_set = set(msg)

    def present(word: str) -> bool:
        if word in msg_set:
            return True
        return len(word) >= 4 and any(abs(len(m) - len(word)) <= 2 and difflib.SequenceMatcher(None, word, m).ratio() >= 0.8
                                      for m in msg)

    def distinct(words: list[str]) -> list[str]:
        return [w for w in words if w not in _TITLE_STOP] or words

    said_words = distinct(normalise_title(said).split())
    if not said_words or not all(present(w) for w in said_words):
        return False
    title = re.sub(r"\s*\(\d{4}\)\s*$", "", ref.title)
    for key in title_keys(title):
        words = distinct(key.split())
        if words and sum(present(w) for w in words) >= max(1, (len(words) + 1) // 2):
            return True
    return False


def merge(rules: Extraction, llm: Extraction) -> Extraction:
    """Union of two validated readings. The rules win on what they detect with certainty
    (negation polarity: a genre the rules read as wanted is never excluded; years, refine,
    ordinals, follow-up, chit-chat/question/refine intents)."""
    out = Extraction(source="llm")
    wanted_by_rules = set(rules.genres)
    out.exclude_genres = list(dict.fromkeys(rules.exclude_genres + [g for g in llm.exclude_genres
                                                                   if g not in wanted_by_rules]))
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
    out.follow_up, out.new_ask = rules.follow_up, rules.new_ask
    out.genres_any = [g for g in rules.genres_any if g not in out.genres and g not in out.exclude_genres]
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

    def __init__(self, engine: Any | None, max_tokens: int = 200, budget_s: float | None = None) -> None:
        self.engine, self.max_tokens, self.budget_s = engine, max_tokens, budget_s

    def messages(self, message: str, vocab: Vocabulary, profile_summary: str, shown: Sequence[ItemRef]) -> list[Any]:
        from agent.understanding.context import clean_text
        from agent.llm.engine import Message
        from prompts import render

        shown_text = "\n".join(f"{i}. {clean_text(r.title, 120)}" for i, r in enumerate(shown, 1)) or "(nothing yet)"
        user = render("understand_user", genres=", ".join(vocab.genres), profile=clean_text(profile_summary, 600),
                      shown=shown_text, message=clean_text(message, 600))
        return [Message("system", render("understand_system")), Message("user", user)]

    def understand(self, message: str, vocab: Vocabulary, profile_summary: str = "",
                   shown: Sequence[ItemRef] = ()) -> tuple[Extraction, str | None]:
        """(validated extraction, notice or None). Never raises."""
        rules = parse_rules(message, vocab, shown)
        if self.engine is None or rules.complete or (rules.intent == "chitchat" and not rules.has_content()):
            return rules, None  # nothing left for a (slow) LLM reading to add
        from agent.llm.engine import EngineTimeout

        try:
            raw = self.engine.generate_json(self.messages(message, vocab, profile_summary, shown),
                                            extraction_schema(vocab.genres), max_tokens=self.max_tokens,
                                            timeout_s=self.budget_s)
            return merge(rules, validate_llm(raw, message, vocab, shown)), None
        except EngineTimeout:
            return rules, (f"I read your message with simple rules (the language model's reading takes longer than "
                           f"{self.budget_s:g} s here).") if self.budget_s else (
                           "I read your message with simple rules (the language model timed out).")
        except Exception as exc:  # noqa: BLE001 - any engine/validation failure degrades to the rules
            return rules, f"I read your message with simple rules (the language model's reading failed: {type(exc).__name__})."
