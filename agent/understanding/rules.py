"""The rule reader: :func:`parse_rules` reads one message deterministically (never raises), from
the pieces beside it (titles in :mod:`~agent.understanding.references`, negation scope in
:mod:`~agent.understanding.negation`, years in :mod:`~agent.understanding.years`, genres and
audiences in :mod:`~agent.understanding.genres`), and says which words it left unread
(:func:`unread_words`). :class:`agent.understanding.understander.Understander` runs it first and
asks the LLM only for what it leaves unread.

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
5b. **Moods and occasions** ("a good cry", "date night", "nothing violent": :mod:`agent.understanding.moods`)
   are read as names into ``moods``: preferences, never filters; a negated clause a mood reads
   ("not gory") is not also a disliked attribute. **People** by full name or catalog surname set
   ``fields`` (two actors joined by "and" both required).
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
import re
from collections.abc import Mapping, Sequence

from agent.understanding.extraction import Extraction, TurnIntent
from agent.understanding.facets import read_facets
from agent.understanding.people import find_people
from agent.understanding.genres import AUDIENCE_RE, genre_mentions, read_genres, with_kind_hints
from agent.understanding.lexicon import GENRE_RE
from agent.understanding.moods import read_moods
from agent.understanding.negation import is_negated, negation_scopes
from agent.understanding.profile import ItemRef
from agent.understanding.questions import asks_about_pick
from agent.understanding.references import (GENERIC_WORDS, LIKE_CUE, MAX_TITLE_CUES, generic_only, read_liked_titles,
                                            resolve_title, wish_not_reference)
from agent.understanding.text import lower_same_length, mask_spans
from agent.understanding.vocabulary import Vocabulary, listed
from agent.understanding.years import read_years
from retrieval.titles import normalise_title

_CHITCHAT = re.compile(
    r"^\s*(hi|hello|hey|yo|hiya|good (morning|evening|afternoon)|thanks?( you)?|thank you|thx|ok(ay)?|cool|great|"
    r"nice|bye|goodbye|see you|how are you( doing)?|who are you|what('s| is) up|lol|haha)\b[\s!.,?a-z]*$", re.I)
_WANT = re.compile(r"\b(recommend|suggest|watch|movie|movies|film|films|something|anything|show me|looking for|"
                   r"in the mood|want|give me|find|any ideas)\b", re.I)
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
             "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}


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


# "a heist film with a twist ending", "show me some movie about space": a fresh ask for a kind of film
_NEW_ASK = re.compile(
    r"^\s*(?:(?:i(?:'d|\s+would)?\s+(?:want|like|need)|give\s+me|show\s+me|recommend(?:\s+me)?|find\s+me|suggest|"
    r"(?:can|could)\s+you\s+(?:recommend|suggest|find)(?:\s+me)?|(?:i'?m\s+)?looking\s+for)\s+)?"
    r"(?:(?:a|an|some|one)\s+(?:[\w'-]+\s+){0,5}?(?:film|movie|flick|picture)s?(?![\w'])"
    # "something about a submarine", "anything set in space", "something romantic set in Paris":
    # a theme asked for on its own
    r"|(?:something|anything)\s+(?:[\w'-]+\s+){0,2}?(?:about|set\s+in|involving|based\s+on|where|in\s+which)(?![\w']))")
# "something with Harrison Ford", "anything directed by Hitchcock": a person asked for on their own
_PERSON_ASK = re.compile(r"^\s*(?:something|anything)\s+(?:with|starring|featuring|by|(?:directed|written)\s+by)\s")
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


_CAST_JOIN = re.compile(r"\s*(?:,|&|\+|and|with|plus|alongside|together\s+with|,\s*and)\s*")


# ---------------------------------------------------------------------------- the rule reader
def parse_rules(message: str, vocab: Vocabulary, shown: Sequence[ItemRef] = ()) -> Extraction:
    """Deterministic reading of ``message`` (never raises); see the module doc for the rules.
    ``shown`` is the last list shown, in order, for "the second one" and title questions."""
    text = message.strip()
    ex = Extraction(source="rules")
    if not text:
        ex.intent = "chitchat"
        return ex
    low = lower_same_length(text)
    facets = read_facets(low)  # before titles: "an Oscar winner" is not the film "Oscar"
    ex.ranges, ex.one_of, ex.none_of = dict(facets.ranges), dict(facets.one_of), dict(facets.none_of)
    ex.fields.update(facets.fields)
    ex.acclaim = facets.acclaim
    titles = read_liked_titles(mask_spans(text, facets.spans), mask_spans(low, facets.spans), vocab)
    ex.liked_items = titles.liked
    masked = mask_spans(low, titles.spans + facets.spans)
    scopes = negation_scopes(masked)
    # a negated title ("not Heat", "no more Children of the Corn") is a disliked item
    disliked_spans: list[tuple[int, int]] = []
    for s in scopes[:MAX_TITLE_CUES]:
        said = text[s.start:s.end]
        stripped = said.strip()
        if (generic_only(said) or re.search(r"\d", said)
                or (" " not in stripped and not stripped[:1].isupper())):  # "no gore": a word, not a title
            continue
        found = resolve_title(vocab, stripped, strict=True)
        if found is not None:
            ref, length = found
            offset = s.start + (len(said) - len(said.lstrip()))
            if all(r.item_id != ref.item_id for r in ex.disliked_items + ex.liked_items):
                ex.disliked_items.append(ref)
            disliked_spans.append((offset, offset + length))
    masked = mask_spans(masked, disliked_spans)
    removed = titles.spans + titles.cues + disliked_spans + facets.spans
    years = read_years(masked, scopes, vocab.latest_year)
    ex.year_min, ex.year_max, ex.refine = years.year_min, years.year_max, years.refine
    ex.refers_to = parse_ordinal(text, len(shown))
    genres = read_genres(mask_spans(masked, years.spans), vocab, scopes)
    ex.genres, ex.exclude_genres = genres.wanted, genres.excluded
    ex.genres_any = list(genres.either)
    # moods and occasions ("a good cry", "date night", "nothing violent"): preferences the
    # conversation turns into leanings (agent.understanding.moods.mood_reading)
    moods = read_moods(masked, scopes)
    ex.moods = list(dict.fromkeys(m.name for m, _ in moods))
    removed += [span for _, span in moods]
    # negated words that are neither a genre, a title, a date nor a mood ("not gory" is one):
    # disliked attributes ("no subtitles")
    for s in scopes:
        if any(a < s.end and s.start < b for _, (a, b) in moods):
            continue
        span = masked[s.start:s.end].strip()
        words = [w for w in re.findall(r"[a-z][a-z'-]*", span) if w not in GENERIC_WORDS]
        if (not words or GENRE_RE.search(span) or AUDIENCE_RE.search(span) or re.search(r"\d", span) or len(span) > 40
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
            removed.append((m.start(), m.end()))  # "directed by" is read too, not a wish for text
    # people named by full name: "with Tom Hanks", "a Kathryn Bigelow film" (one per role, except
    # actors joined by "and", "&", "," or "with": "De Niro and Pacino in the same movie" needs both)
    cast_end = -1
    for person in find_people(masked, vocab.people, vocab.surnames, text):
        if is_negated(person.start, scopes):
            continue
        have = ex.fields.setdefault(person.role, person.name)
        if person.role == "cast" and person.name not in listed(have) and _CAST_JOIN.fullmatch(masked[cast_end:person.start]):
            ex.fields["cast"] = [*listed(have), person.name]
        elif have != person.name:
            continue
        removed.append((person.start, person.end))
        cast_end = person.end if person.role == "cast" else cast_end
    # mood words kept as soft text: "tense", "feel-good", "slow", ...
    for m in re.finditer(r"\b(tense|dark|light|feel[- ]good|uplifting|sad|slow|fast[- ]paced|violent|gory|quirky|"
                         r"smart|clever|cozy|epic|classic|cult|indie|twisty|mind[- ]bending|heartwarming|gritty|"
                         r"atmospheric|thought[- ]provoking|romantic|suspenseful|scary|funny)\b", masked):
        w = m.group(1)
        if not is_negated(m.start(), scopes) and w not in ex.liked_attributes and not (
                w == "romantic" and "Romance" in ex.genres):
            ex.liked_attributes.append(w)
    ex.intent = _rule_intent(text, ex, shown, vocab)
    ex.follow_up = ex.intent == "refine" or bool(_FOLLOW_UP.search(low))
    person_ask = bool(_PERSON_ASK.match(low)) and any(r in ex.fields for r in ("cast", "director", "writer"))
    ex.new_ask = not ex.follow_up and bool(_NEW_ASK.match(low) or ex.moods or person_ask)  # "I need a good cry": a fresh ask
    ex.focus = _focus(text, low, removed + years.spans + [(s.cue, s.end) for s in scopes]
                      + [(m.start(), m.end()) for m in AUDIENCE_RE.finditer(masked)])
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


def unread_words(focus: str, vocab: Vocabulary, attributes: Sequence[str] = ()) -> list[str]:
    """Words of the retrieval ``focus`` that no rule read: not a genre word, not a mood word
    already taken as a liked attribute (``attributes``), not filler. Empty = the rules read the
    whole message; otherwise the words themselves ("heist", "twist ending") describe the film."""
    low = focus.lower()
    low = mask_spans(low, [(m.start, m.end) for m in genre_mentions(low, vocab)])
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
    "that's", "there's", "here's", "who's", "thats", "theres",
})


# themes whose first word is also filler ("this time", "set in"): joined so the word is kept
_FILLER_THEMES = re.compile(r"\b(time)\s+(travel\w*|machines?|loops?|warps?)\b", re.I)


def _focus(text: str, low: str, removed: Sequence[tuple[int, int]]) -> str:
    """``text`` minus the ``removed`` spans and request filler: the retrieval text ("a time travel
    movie" keeps "time-travel": "time" alone is filler, as in "this time")."""
    kept = _FILLER_THEMES.sub(r"\1-\2", mask_spans(text, removed))
    words = re.findall(r"[A-Za-z0-9][\w'&-]*", kept)
    return " ".join(w for w in words if w.lower() not in _FILLER)


def focus_text(message: str, vocab: Vocabulary | None = None) -> str:
    """``message`` without "like <title>" clauses, negated clauses, date phrases, audiences and
    request filler ("only", "movies", "I want"): what is left describes the wanted content and is
    embedded for retrieval (titles act through their item vectors, negations through filters)."""
    if vocab is not None:
        return parse_rules(message, vocab).focus
    low = lower_same_length(message)
    scopes = negation_scopes(low)
    years = read_years(low, scopes)
    cues = [(m.start(), len(low)) for m in LIKE_CUE.finditer(low) if not wish_not_reference(low, m)]
    spans = cues + years.spans + [(s.cue, s.end) for s in scopes] + [(m.start(), m.end()) for m in AUDIENCE_RE.finditer(low)]
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
    if asks_about_pick(text, shown):  # "who is in it?", "which is longer, 1 or 3?", "is it ok for kids?"
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
