"""Questions about shown picks, read by rules: which kind of fact is asked ("who directed it?",
"is it ok for my 8 year old?", "which is longer, 1 or 3?") and which picks it points at.

:func:`read_pick_question` returns a :class:`PickQuestion`: the :data:`QuestionKind`, the 1-based
positions in the last shown list it refers to (in the order the message names them), and the
details some kinds carry (a person's name, a child's age, a genre, a comparison's aspect, a
length bound). It never looks at the facts: :mod:`agent.answers` composes the answer from them.

References: an ordinal ("the second one", "the 3rd", "the last one"), a number ("number 3", "#3",
"pick 2", "1 or 3" in a comparison), a shown title, or a pronoun ("it", "that one", "this film"),
which means the pick discussed last (``discussed``), else the only pick when one is shown. A
message whose reference cannot be resolved gets no position (the caller asks which one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agent.understanding.facets import read_facets
from agent.understanding.lexicon import GENRE_WORDS
from agent.understanding.profile import ItemRef
from retrieval.titles import normalise_title

QuestionKind = Literal["why", "cast", "director", "writer", "length", "children", "plot", "awards", "compare",
                       "year", "genre", "reviews", "language", "about"]
#: what a comparison compares ("general": the main facts of both side by side)
Aspect = Literal["length", "year", "reviews", "awards", "children", "general"]
QUESTION_KINDS: tuple[str, ...] = ("why", "cast", "director", "writer", "length", "children", "plot", "awards",
                                   "compare", "year", "genre", "reviews", "language", "about")


@dataclass(frozen=True)
class PickQuestion:
    """One question about shown picks. ``picks``: 1-based positions in the last shown list, in
    the order named (empty = unresolved: ask which); ``person``: a name the question checks ("is
    Tom Hanks in it?"); ``age``: a child's age it mentions; ``genre``: a catalog genre it checks
    ("is it a comedy?"); ``aspect`` and ``most``: what a comparison compares and which end it asks
    for ("which is longer?" max, "which is older?" min; with every shown pick for "which is the
    longest?"); ``runtime``: an inclusive minutes
    range the question tests ("is it under 2 hours?"); ``pronoun``: it pointed with "it"/"that one"."""

    kind: QuestionKind
    picks: tuple[int, ...] = ()
    person: str | None = None
    age: int | None = None
    genre: str | None = None
    aspect: Aspect = "general"
    most: Literal["max", "min"] | None = None
    runtime: tuple[int | None, int | None] | None = None
    pronoun: bool = False


_ORDINAL_WORDS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
                  "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8,
                  "ninth": 9, "9th": 9, "tenth": 10, "10th": 10}
_ORDINAL = re.compile(r"\b(" + "|".join(_ORDINAL_WORDS) + r")\b(?!\s+(?:time|place|half|century|world))")
_NUMBERED = re.compile(r"(?:#\s*|\bnumber\s+|\bno\.\s*|\bnr\.?\s*|\b(?:pick|film|movie|option)\s+)(\d{1,2})\b")
_PAIR = re.compile(r"(?<![\w#])(\d{1,2})\s*(?:,|or|and|vs\.?|versus|&)\s*(?:#\s*)?(\d{1,2})(?![\w-])")
_PAIR_THAN = re.compile(r"(?<![\w#])(\d{1,2})\s+(?:\w+er|more\s+\w+|less\s+\w+)\s+than\s+(?:#\s*)?(\d{1,2})(?!\s*(?:min|hour|hr|h\b|year|oscar))(?![\w-])")
_LAST = re.compile(r"\b(?:the\s+)?(?:last|final|bottom)\s+(?:one|film|movie|pick)\b|"
                   r"\bthe\s+(?:last|final|bottom)(?=\s*(?:[?.!,]|$|\s+(?:or|and|vs)\b))")
PRONOUN = re.compile(r"(?<![\w'])(?:it|its|it's|that\s+one|this\s+one|that\s+film|this\s+film|that\s+movie|"
                     r"this\s+movie|the\s+film|the\s+movie|that|this)(?![\w'])")
_OF_THE_LIST = re.compile(r"\bwhich\s+(?:one|of)\b|\bof\s+(?:them|these|those|the\s+list|your\s+picks|the\s+\w+\s+picks)\b|"
                          r"\b(?:longest|shortest|oldest|newest)\s+one\b")
_BOTH = re.compile(r"\b(?:them|both|these\s+two|those\s+two|the\s+two)\b")
_REQUEST = re.compile(r"\b(?:recommend|suggest|show\s+me|find\s+me|give\s+me|looking\s+for|(?<!win\s)(?<!won\s)anything|something|"
                      r"any\s+(?:other|more)|more\s+like|similar|instead|other|else|another|make\s+it|i\s+want|i'd\s+like|we\s+want|"
                      r"(?:can|could|should|must)\s+(?:it|they|that)\s+be)\b|^\s*(?:what|how)\s+about\b")
_QUESTION_START = re.compile(r"^\s*(?:what|what's|whats|who|who's|when|where|why|how|is|was|does|did|do|are|"
                             r"can|could|would|will|should|tell\s+me|which|any|has|had)\b")

#: what "is ... a comedy?" asks about: a pronoun, an ordinal or number, or a title (blanked as "the film")
_SUBJECT = (r"(?:it|that|this|that\s+one|this\s+one|the\s+film|the\s+movie|the\s+\w+\s+one|the\s+(?:last|first)|"
            r"number\s+\d{1,2}|#\s*\d{1,2}|no\.\s*\d{1,2})")
#: "is tom hanks in it?" in lower case: a name, not "is there violence in it?"
_LOWER_PERSON_IN = re.compile(
    r"\b(?:is|was)\s+(?!(?:there|it|that|this|he|she|anything|something|anyone)\b)([a-z][\w.'-]*(?:\s+[a-z][\w.'-]*){1,2})\s+"
    r"in\s+(?:it|that|this|that\s+one|this\s+one|the\s+\w+\s+one|the\s+film|the\s+movie)\b")
# cue -> kind, tried in order (the first that matches wins)
_CUES: tuple[tuple[QuestionKind, re.Pattern[str]], ...] = (
    ("why", re.compile(r"\bwhy\b|\bhow\s+come\b|\bwhat\s+makes\s+(?:it|that|this)\b|\breason\b|\bwhy'?d\s+you\b")),
    ("children", re.compile(
        r"\b(?:kids?|children|child|family|toddlers?|teens?|teenagers?|(?:\d{1,2})[- ]?(?:year|yr)s?[- ]olds?|"
        r"suitable|appropriate|age[- ]appropriate|safe\s+for|ok\s+for|okay\s+for|fine\s+for|certificate|mpaa|"
        r"age\s+rating|parental|what\s+is\s+it\s+rated|what's\s+it\s+rated|what\s+(?:age|rating)\s+is|"
        r"rated\s+(?:g|pg|pg-13|r|nc-17)\b|is\s+it\s+(?:g|pg|pg-13|r|nc-17)\b)")),
    ("awards", re.compile(r"\boscars?\b|\bacademy\s+awards?\b|\bawards?\b|\bwin\s+anything\b|\bwon\s+anything\b|"
                          r"\bwin\s+any\b|\bwon\s+any\b|\bnominat|\bprizes?\b|\bdid\s+it\s+win\b")),
    ("cast", re.compile(r"\bwho(?:'s|\s+is|\s+are|\s+was|\s+were)?\s+(?:in|starring|acting)\b|\bwho\s+stars\b|"
                        r"\bstar(?:s|ring|red)?\b|\bcast\b|\bactors?\b|\bactress(?:es)?\b|\bwho\s+plays\b|"
                        r"\bleads?\b|\bappear|" + _LOWER_PERSON_IN.pattern)),
    ("director", re.compile(r"\bdirect(?:s|ed|or|ors|ing)?\b|\bwho\s+made\b|\bfilm[- ]?maker\b|\bwho\s+shot\b")),
    ("writer", re.compile(r"\bwr(?:ote|iter|iters|itten)\b|\bscreenplay\b|\bscript\b")),
    ("length", re.compile(r"\bhow\s+long\b|\bruntime\b|\brunning\s+time\b|\blength\b|\bminutes?\b|\bhours?\b|"
                          r"\bduration\b|\bis\s+it\s+(?:long|short|too\s+long)\b|\blonger\b|\bshorter\b|"
                          r"\blongest\b|\bshortest\b")),
    ("year", re.compile(r"\bwhen\b|\bwhat\s+year\b|\bwhich\s+year\b|\bhow\s+old\s+is\b|\breleased?\b|\bcame\s+out\b|"
                        r"\bcome\s+out\b|\bolder\b|\bnewer\b|\boldest\b|\bnewest\b|\bmore\s+recent\b|\bdecade\b")),
    ("reviews", re.compile(r"\breviews?\b|\bcritics?\b|\bmetacritic\b|\brotten\b|\btomatoes\b|\bimdb\b|\bscores?\b|"
                           r"\bany\s+good\b|\bwell\s+(?:rated|reviewed|liked)\b|\brat(?:ed|ing|ings)\b|\bbetter\b|"
                           r"\bbest\b|\bacclaimed\b|\bhow\s+good\b|\bworth\s+(?:it|watching|seeing)\b")),
    ("language", re.compile(r"\blanguages?\b|\bsubtitles?\b|\bin\s+english\b|\bdubbed\b|\bcountry\b|"
                            r"\bwhere\s+(?:was|is)\s+it\s+(?:made|from|shot)\b|\bwhere\s+is\s+it\s+from\b|\bforeign\b")),
    ("genre", re.compile(r"\bgenres?\b|\bwhat\s+kind\s+of\s+(?:film|movie)\b|\bwhat\s+sort\s+of\b|\bwhat\s+type\s+of\b|"
                         r"\bis\s+" + _SUBJECT + r"\s+(?:a|an)\s+[a-z-]+(?:\s+(?:film|movie))?\s*\??$|"
                         r"\bis\s+" + _SUBJECT + r"\s+(?:scary|funny|animated|romantic)\b")),
    ("about", re.compile(r"(?:\btell\s+me\s+(?:more\s+)?about\b|\bmore\s+about\b|\bwhat\s+do\s+you\s+know\b|\binfo\b|"
                         r"\bdetails?\b|\bmore\s+on\b|\bwhat\s+is\s+(?:it|that|this)\s*\??$)"
                         r"(?!.*\b(?:plot|story|summary|synopsis|premise)\b)")),
    ("plot", re.compile(r"\bwhat(?:'s|\s+is|\s+was)?\s+(?:it|that|this|that\s+one|this\s+one|the\s+film|the\s+movie|"
                        r"the\s+\w+\s+one|[\w\s',:-]{1,60}?)\s+about\b|\bplot\b|\bstory\b|\bsynopsis\b|\bsummary\b|"
                        r"\bpremise\b|\bwhat\s+happens\b|\boverview\b|\btagline\b")),
)
_COMPARE = re.compile(r"\bcompare[sd]?\b|\bcomparison\b|\bvs\.?(?!\w)|\bversus\b|\bdifference\b|\bdiffer\b|"
                      r"\bwhich\s+(?:one|of\s+(?:them|the\s+two|these|those|the\s+\w+)|is|was|has|won|would|should|"
                      r"film|movie|runs)\b|\b(?:longest|shortest|oldest|newest|best|worst)\b|\bmost\s+(?:recent|oscars)\b")
_THAN = re.compile(r"\b(?:\w+er|more\s+\w+|less\s+\w+)\s+than\b")
_SUPERLATIVE = re.compile(r"\b(?:longest|shortest|oldest|newest|best|worst|highest|lowest)\b|\bmost\s+(?:recent|oscars)\b")
_MOST = {"longest": ("length", "max"), "shortest": ("length", "min"), "oldest": ("year", "min"),
         "newest": ("year", "max"), "most recent": ("year", "max"), "best": ("reviews", "max"),
         "highest rated": ("reviews", "max"), "worst": ("reviews", "min"), "lowest rated": ("reviews", "min"),
         "most oscars": ("awards", "max")}
_ASPECTS: tuple[tuple[Aspect, re.Pattern[str]], ...] = (
    ("length", re.compile(r"\blong(?:er|est)?\b|\bshort(?:er|est)?\b|\bruntime\b|\blength\b|\bminutes\b")),
    ("year", re.compile(r"\bolder\b|\boldest\b|\bnewer\b|\bnewest\b|\bmore\s+recent\b|\bmost\s+recent\b|\bearlier\b|"
                        r"\blater\b|\bfirst\s+made\b|\bcame\s+out\s+first\b")),
    ("awards", re.compile(r"\boscars?\b|\bawards?\b|\bnominations?\b")),
    ("children", re.compile(r"\bkids?\b|\bchildren\b|\bfamily\b|\bsuitable\b|\bsafer\b|\bcertificate\b")),
    ("reviews", re.compile(r"\bbetter\b|\bbest\b|\bworse\b|\bworst\b|\brated\b|\breviews?\b|\bcritics?\b|\bscores?\b|"
                           r"\bacclaimed\b")),
)
_AGE = re.compile(r"\b(\d{1,2})[- ]?(?:year|yr)s?[- ]old")
_PERSON_IN = re.compile(r"\b(?:is|was|are|does|did)\s+([A-Za-z][\w.'-]*(?:\s+[A-Za-z][\w.'-]*){0,3}?)\s+"
                        r"(?:in\s+(?:it|that|this|the|there)|star\b|act\b|appear|play\b|direct\b|write\b|in\s+the\s+cast)")
_PERSON_HAVE = re.compile(r"\b(?:does|did)\s+(?:it|that|this|that\s+one|this\s+one|the\s+\w+\s+one)\s+"
                          r"(?:have|star|feature|include)\s+([A-Za-z][\w.'-]*(?:\s+[A-Za-z][\w.'-]*){0,3}?)\s*(?:\?|$|,|\bin\b)")
_PERSON_BY = re.compile(r"\b(?:directed|written)\s+by\s+([A-Za-z][\w.'-]*(?:\s+[A-Za-z][\w.'-]*){0,3}?)\s*(?:\?|$|,)")
_NOT_A_PERSON = frozenset({"it", "that", "this", "the", "he", "she", "they", "there", "anyone", "anybody", "someone",
                           "somebody", "who", "one", "that one", "this one", "the film", "the movie"})


def question_kind(low: str, message: str = "", positions: int = 0) -> QuestionKind | None:
    """The kind a lower-cased question ``low`` asks for, None when no cue matches (a bare
    reference). ``message`` (as written) tells a capitalised name ("is Tom Hanks in it?");
    ``positions``: how many picks it names ("is the first longer than 2 hours?" with one is not a
    comparison, "is 1 longer than 3?" is)."""
    if _COMPARE.search(low) or (_THAN.search(low) and positions >= 2):
        return "compare"
    if message and _person(message):
        return "director" if re.search(r"\bdirect", low) else "writer" if re.search(r"\bwr(?:ote|ite|itten)", low) \
            else "cast"
    return next((kind for kind, cue in _CUES if cue.search(low)), None)


def title_variants(label: str) -> list[str]:
    """The names a person may use for a shown title, normalised, longest first: the whole title,
    without its parenthesised alternatives ("Life Is Beautiful (La Vita e bella)"), and its main
    title before a colon or an "or:" ("Dr. Strangelove or: How I Learned ...")."""
    title = re.sub(r"\s*\(\d{4}\)\s*$", "", label)
    plain = re.sub(r"\s*\([^)]*\)", "", title)
    out = {normalise_title(v) for v in (title, plain, re.split(r":|\s+or:?\s+", plain)[0])}
    return sorted((v for v in out if len(v) >= 4), key=len, reverse=True)


def _title_spans(message: str, shown: Sequence[ItemRef]) -> list[tuple[int, int, int]]:
    """(start, end, position) of each shown title named in ``message``, in normalised-text
    offsets; a title inside a longer one named at the same place ("Toy Story" in "Toy Story 2")
    is dropped."""
    norm = f" {normalise_title(message)} "
    spans: list[tuple[int, int, int]] = []
    for i, ref in enumerate(shown, start=1):
        for v in title_variants(ref.title):
            at = norm.find(f" {v} ")
            if at >= 0:
                spans.append((at, at + len(v) + 1, i))
                break
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    kept: list[tuple[int, int, int]] = []
    for span in spans:
        if not any(k[0] <= span[0] and span[1] <= k[1] for k in kept):
            kept.append(span)
    return kept


def mentioned_positions(message: str, shown: Sequence[ItemRef]) -> list[int]:
    """1-based positions of the shown picks that ``message`` names (ordinals, numbers, "the last
    one", titles), in the order they appear in the message, each once. Words inside a named
    title ("Close Encounters of the *Third* Kind") are not read as an ordinal."""
    n = len(shown)
    norm_len = max(len(normalise_title(message)) + 2, 1)
    found: list[tuple[float, int]] = [(start / norm_len, pos) for start, _, pos in _title_spans(message, shown)]
    low = without_titles(message, shown)
    scale = max(len(low), 1)
    for m in _ORDINAL.finditer(low):
        found.append((m.start() / scale, _ORDINAL_WORDS[m.group(1)]))
    for m in _NUMBERED.finditer(low):
        found.append((m.start() / scale, int(m.group(1))))
    for m in _PAIR.finditer(low):
        if not re.match(r"\s*(?:min|hour|hr|h\b|year|yr|oscar|-)", low[m.end():]):
            found += [(m.start(1) / scale, int(m.group(1))), (m.start(2) / scale, int(m.group(2)))]
    for m in _PAIR_THAN.finditer(low):
        found += [(m.start(1) / scale, int(m.group(1))), (m.start(2) / scale, int(m.group(2)))]
    for m in _LAST.finditer(low):
        found.append((m.start() / scale, n))
    out: list[int] = []
    for _, pos in sorted(found):
        if 0 < pos <= n and pos not in out:
            out.append(pos)
    return out


def without_titles(message: str, shown: Sequence[ItemRef]) -> str:
    """``message`` lower-cased with the shown titles blanked (as " the film "), so a title's
    words ("Star Wars", "Who Framed Roger Rabbit?", "Close Encounters of the Third Kind") are
    never read as a cue, an ordinal or a pronoun."""
    low = f" {message.lower()} "
    variants: set[str] = set()
    for ref in shown:
        title = re.sub(r"\s*\(\d{4}\)\s*$", "", ref.title).lower()
        plain = re.sub(r"\s*\([^)]*\)", "", title)
        variants |= {title, plain, re.split(r":|\s+or:?\s+", plain)[0], re.sub(r"^(.*), (the|a|an)$", r"\2 \1", plain)}
    for v in sorted(variants, key=len, reverse=True):  # longest first: "toy story 2" before "toy story"
        if len(v) >= 4:
            low = re.sub(r"(?<![\w'])" + re.escape(v) + r"(?:'s)?(?![\w'])", " the film ", low)
    return re.sub(r"\s+", " ", low).strip()


def asks_about_pick(message: str, shown: Sequence[ItemRef]) -> bool:
    """True when ``message`` is a question about a shown pick: a question, pointing at a pick (a
    reference, a pronoun, or a superlative over the list), asking for a kind of fact, and not
    asking for other films ("anything else with Tom Hanks?", "what about something older?")."""
    low = without_titles(message, shown)
    if not shown or _REQUEST.search(low):
        return False
    if not (low.endswith("?") or _QUESTION_START.match(low)):
        return False
    positions = mentioned_positions(message, shown)
    points = bool(positions) or bool(PRONOUN.search(low)) or bool(_BOTH.search(low)) or bool(
        _SUPERLATIVE.search(low) and _OF_THE_LIST.search(low))
    return points and question_kind(low, message, len(positions)) is not None


def read_pick_question(message: str, shown: Sequence[ItemRef], discussed: int = 0, hint: int = 0) -> PickQuestion:
    """Read a question about the shown picks (see the module doc). ``discussed`` is the 1-based
    position of the pick discussed last (0 = none), ``hint`` a position another reader found (the
    LLM's ``refers_to``), used when the rules find none. Never raises."""
    low = without_titles(message, shown)
    positions = mentioned_positions(message, shown)
    if not positions and hint and 0 < hint <= len(shown):
        positions = [hint]
    pronoun = bool(PRONOUN.search(re.sub(r"\bthe film\b", " ", low)))
    if discussed > len(shown):
        discussed = 0
    kind = question_kind(low, message, len(positions) + (1 if pronoun and discussed else 0)) or "about"
    aspect: Aspect = "general"
    most: Literal["max", "min"] | None = None
    if kind == "compare":
        aspect = next((a for a, cue in _ASPECTS if cue.search(low)), "general")
        for word, (a, direction) in sorted(_MOST.items(), key=lambda kv: -len(kv[0])):
            if re.search(rf"\b{word}\b", low):
                aspect, most = a, direction  # type: ignore[assignment]
                break
        if len(positions) == 1 and discussed and discussed != positions[0]:
            positions = [discussed, positions[0]]  # "how does it compare with the first?"
        elif len(positions) < 2 and (_BOTH.search(low) and len(shown) == 2 or not positions and aspect != "general"):
            positions = list(range(1, len(shown) + 1))  # "which of them is longer?": the whole list
        elif len(positions) < 2:
            positions = []  # one pick named and nothing to compare it with: ask
        most = most or _direction(low, aspect)
    elif not positions:
        positions = [discussed] if discussed else [1] if len(shown) == 1 else []
    picks = tuple(positions if kind == "compare" else positions[:1])
    genre = None
    if kind == "genre":
        m = re.search(r"\bis\s+" + _SUBJECT + r"\s+(?:a|an)\s+([a-z-]+(?:\s+fiction)?)\b", low) or re.search(
            r"\bis\s+" + _SUBJECT + r"\s+([a-z-]+)\b", low)
        genre = GENRE_WORDS.get(m.group(1)) if m else None
    runtime = read_facets(low).ranges.get("runtime_min") if kind == "length" else None
    age = int(m.group(1)) if (m := _AGE.search(low)) else None
    person = _person(message)
    if person is None and kind == "cast" and (m := _LOWER_PERSON_IN.search(low)):
        person = " ".join(w[:1].upper() + w[1:] for w in m.group(1).split())
    return PickQuestion(kind=kind, picks=picks, person=person, age=age, genre=genre, aspect=aspect,
                        most=most, runtime=runtime, pronoun=pronoun)


def _direction(low: str, aspect: Aspect) -> Literal["max", "min"]:
    """Which end a comparison asks for: "shorter", "older", "worse" the low end; for children
    the mildest certificate unless it asks for the stricter one."""
    if aspect == "children":
        return "max" if re.search(r"\b(?:stricter|harsher|more\s+(?:violent|adult|grown-up))\b", low) else "min"
    return "min" if re.search(r"\b(?:shorter|older|earlier|worse|less|fewer|lower)\b", low) else "max"


#: words a name may hold in lower case ("Ethan van der Beek", "Benicio del Toro")
_PARTICLES = frozenset({"de", "van", "von", "der", "den", "da", "del", "della", "di", "du", "le", "la", "st.", "mc"})


def _person(message: str) -> str | None:
    """A capitalised name the question asks about ("is Tom Hanks in it?", "does it star Meryl
    Streep?", "was it directed by Spielberg?"), as written; None when none. Lower-case names are
    left to the answer, which looks for the pick's own cast and director names in the message."""
    for pattern in (_PERSON_HAVE, _PERSON_IN, _PERSON_BY):
        m = pattern.search(message)
        if not m:
            continue
        name = m.group(1).strip(" ,.?!")
        words = name.split()
        if name.lower() in _NOT_A_PERSON or _ORDINAL.fullmatch(name.lower()):
            continue
        if words and words[0][:1].isupper() and all(w[:1].isupper() or w.lower() in _PARTICLES for w in words) \
                and words[0].lower() not in ("it", "that", "this", "the", "there", "he", "she", "they"):
            return name
    return None
