"""Moods and occasions, read by stated rules: "something to cheer me up", "I need a good cry",
"a date night film", "a cosy film for a rainy Sunday", "something mindless, I want to switch my
brain off", "for Christmas", "something inspiring", "a laugh-out-loud comedy with friends",
"nothing violent", "scary but not gory".

Each :class:`Mood` is a preference, never a filter: the genres it leans towards are raised and
those that would spoil it lowered (:data:`agent.ranking.fusion.WISHED_GENRE_WEIGHT` each), its
``about`` sentence describes the wanted film for retrieval (embedded by MiniLM and matched by
BM25 against overviews and keywords, so the text can outrank popularity), and its ``shun`` words
lower films whose overview or keywords carry them ("not gory" lowers films with "gore",
"slasher", "splatter"). Which genres a mood leans to or from is written here once, from what
such films are, not learned: the free-form suite is too small to learn them from, and its held
out third (``eval.freeform``) measures whether the rule generalises.

A genre the message asks for (or wishes for through another mood) is never lowered: "scary but
not gory" leans towards horror although "not gory" alone would lower films with gore. Phrases
are matched in :data:`MOODS` order and each span is read once, so "feeling sad, cheer me up" is
the cheering-up mood, not "a sad film".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.understanding.negation import Scope, is_negated


@dataclass(frozen=True)
class Mood:
    """One mood or occasion: ``name`` as shown to the person ("a good cry"), ``pattern`` (regex
    over the lower-cased message, word-bounded by :func:`read_moods`), ``fit``: how a pick of a
    genre it leans towards serves it, in a reason, addressing the person ("it is a drama, for the
    good cry you want"; "" = never said: "nothing violent" is not provable from the facts),
    catalog genres it leans
    ``towards`` and ``away`` from, an ``about`` sentence (embedded with the request; "" = none),
    ``terms`` (matched by BM25 against overviews and keywords; "" = none: no word defines the
    mood) and ``shun`` words (films whose text carries them are lowered; "" = none).
    ``negated``: the pattern itself says what to avoid ("hates violence"), so it is read inside
    a negation scope too. ``rating``: the weight of the mean-rating feature for this mood instead
    of the learned one (None = learned): "switch my brain off" asks for the popular crowd-pleaser,
    not the best rated film, so it is -1 there."""

    name: str
    pattern: str
    fit: str = ""
    towards: tuple[str, ...] = ()
    away: tuple[str, ...] = ()
    about: str = ""
    terms: str = ""
    shun: str = ""
    negated: bool = False
    rating: float | None = None


_AVOID = (r"(?:hates?|can'?t\s+stand|cannot\s+stand|dislikes?|no|not|nothing|without|avoid|zero|minimal|too\s+much|"
          r"less|isn'?t|is\s+not|aren'?t|are\s+not|don'?t\s+want|do\s+not\s+want)")
_CALM = ("Horror", "War", "Crime", "Thriller")

#: In matching order (an earlier mood's span is not read again by a later one).
MOODS: tuple[Mood, ...] = (
    Mood("nothing violent", _AVOID + r"\s+(?:\w+\s+){0,2}?(?:violence|violent|fighting|guns?|shoot(?:ing|outs?))"
         r"|non[- ]?violent",
         away=("Action", "War", "Crime", "Horror", "Thriller"), shun="violence violent murder killer shootout massacre",
         negated=True),
    Mood("nothing gory", _AVOID + r"\s+(?:\w+\s+){0,2}?(?:gor(?:e|y)|blood(?:y)?|splatter|guts|gruesome|slasher)",
         shun="gore gory splatter slasher bloody gruesome", negated=True),
    Mood("getting over a breakup", fit="to help you get over a breakup", pattern=
         r"(?:after|over|getting\s+over|get\s+over)\s+(?:a|my|the|our|his|her)\s+(?:break[- ]?up|divorce|split|ex)|"
         r"(?:got|been|just\s+got)\s+dumped|broken[- ]hearted|heart[- ]?broken|(?:mend|heal)\s+a\s+broken\s+heart",
         towards=("Comedy",), away=(*_CALM, "Drama"),
         about="a funny, warm comedy about getting over a breakup, friendship and starting again",
         terms="breakup dumped divorce divorced woman ex-girlfriend heartbreak single woman reunion"),
    Mood("cheering you up", fit="to cheer you up", pattern=
         r"cheer\s+(?:me|us|you|her|him|them)\s+up|pick[- ]me[- ]up|feel(?:ing)?\s+(?:down|blue|low|sad|better|"
         r"depressed|miserable)|(?:bad|rough|hard|long|awful|terrible)\s+(?:day|week)|"
         r"make\s+me\s+(?:smile|happy)|feel[- ]good",
         towards=("Comedy",), away=(*_CALM, "Drama"),
         about="a warm, funny, feel-good comedy with a happy ending about friendship, love and new beginnings"),
    Mood("a date night", fit="for your date night", pattern=
         r"date[- ]night|(?:first|a|our|on\s+a)\s+date|romantic\s+(?:evening|night|dinner)|valentine'?s(?:\s+day)?|"
         r"anniversary|(?:with|for)\s+my\s+(?:wife|husband|girlfriend|boyfriend|partner|fianc[eé]e?|date|other\s+half)"
         r"(?!\s+and\s+(?:the\s+|my\s+|our\s+)?(?:kids|children|family|son|daughter))|"
         r"as\s+a\s+couple|couples?\s+(?:night|evening)",
         towards=("Romance", "Comedy"), away=("Horror", "War"),
         about="a charming, witty romantic comedy about two people falling in love",
         terms="romantic comedy falling in love new love love at first sight"),
    Mood("something cosy", fit="for the warm, gentle watch you want", pattern=
         r"cos(?:y|ie)|coz(?:y|ie)|rainy\s+(?:(?:sunday|saturday|winter)\s+)?(?:day|afternoon|evening|weekend|night)|"
         r"rainy\s+(?:sunday|saturday)|"
         r"lazy\s+(?:sunday|saturday|afternoon|day|weekend|evening)|sunday\s+afternoon|comfort(?:ing)?\s+"
         r"(?:film|movie|watch|viewing)|curl(?:ed)?\s+up|snuggl\w*|wholesome|heart[- ]?warming|charming|gentle|"
         r"relax(?:ing)?|chill(?:ed)?(?:\s+out)?|unwind|easy[- ]going|easy\s+watch|laid[- ]back|light[- ]?hearted",
         towards=("Comedy", "Romance", "Children's"), away=(*_CALM, "Action", "Sci-Fi"),
         about="a gentle, warm, charming and heartwarming film: cosy, funny and kind"),
    Mood("a good cry", fit="for the good cry you want", pattern=
         r"good\s+cry|(?:make|made|makes)\s+(?:me|us|you)\s+(?:cry|weep|sob)|(?:want|need)\s+to\s+(?:cry|weep|sob)|"
         r"cry\s+(?:my|our)\s+eyes\s+out|tear[- ]?jerker|weepie|weepy|(?:box\s+of\s+)?tissues|sob\s+story|"
         r"heart[- ]?breaking|heart[- ]?wrenching|emotional|sad|tragic|bittersweet",
         towards=("Drama", "Romance"), away=("Comedy", "Action", "Horror", "Sci-Fi"),
         about="a moving, heartbreaking drama about love, loss, illness and death that will make you cry",
         terms="tearjerker tragic love terminal illness cancer dying grief loss of loved one"),
    Mood("something scary", fit="to scare you", pattern=
         r"scary|spooky|creepy|frightening|terrifying|chilling|scare\s+(?:me|us)|give\s+(?:me|us)\s+(?:the\s+)?"
         r"(?:chills|creeps|nightmares)|halloween",
         towards=("Horror", "Thriller"), away=("Comedy",),
         about="a frightening, suspenseful and atmospheric horror film full of dread and the supernatural",
         terms="haunted house ghost supernatural paranormal possession demon witch evil spirit"),
    Mood("switching your brain off", fit="to switch your brain off", pattern=
         r"mindless|brainless|switch\s+(?:my|your|our|the)\s+brains?\s+off|turn\s+(?:my|your|our|the)\s+brains?\s+off|"
         r"(?:switch|turn)\s+off\s+(?:my|your|our|the)\s+brains?|no[- ]brainer|popcorn|dumb\s+fun|"
         r"(?:don'?t|do\s+not)\s+(?:want|have)\s+to\s+think|guilty\s+pleasure|big\s+dumb|(?:pure|just)\s+(?:fun|"
         r"entertainment)|light\s+entertainment",
         towards=("Action", "Comedy"), away=("Drama", "Documentary", "Film-Noir", "War"),
         about="a fun, loud, fast-paced popcorn blockbuster full of action, explosions and jokes", rating=-1.0),
    Mood("Christmas", fit="for your Christmas", pattern=
         r"christmas|xmas|x-mas|festive|holiday\s+season|santa|yuletide|the\s+holidays",
         about="a Christmas film: christmas eve, santa claus, the holiday season",
         terms="christmas christmas eve santa claus"),
    Mood("something inspiring", fit="to inspire you", pattern=
         r"inspir(?:ing|ational|e\s+me|ed)|motivat(?:ing|ed|ion|ional|e\s+me)|uplifting|empowering|"
         r"underdog|against\s+(?:all\s+)?(?:the\s+)?odds|never\s+give\s+up",
         towards=("Drama",), away=("Horror", "Thriller", "Crime"),
         about="an inspiring true story of an underdog who overcomes the odds: a sport, a teacher, a dream",
         terms="underdog based on true story sport coach teacher competition training"),
    Mood("a good laugh", fit="to make you laugh", pattern=
         r"laugh[- ]out[- ]loud|hilarious|make\s+(?:me|us)\s+laugh|really\s+funny|so\s+funny|funniest|"
         r"crack\s+(?:me|us)\s+up|belly\s+laughs?|side[- ]splitting|laugh\s+(?:till|until)|good\s+laugh",
         towards=("Comedy",), away=("Drama", "War", "Horror"),
         about="a hilarious, silly, laugh-out-loud comedy full of gags and jokes", terms="spoof parody slapstick"),
    Mood("something fun", fit="for the fun you want", pattern=
         r"(?:just\s+|good\s+|some\s+|bit\s+of\s+|lots\s+of\s+|plain\s+|silly\s+)?fun|entertaining|a\s+good\s+time",
         towards=("Comedy", "Adventure"), away=("War", "Documentary"),
         about="a fun, entertaining crowd-pleaser"),
    Mood("with friends", fit="to watch with your friends", pattern=
         r"with\s+(?:my\s+|some\s+|a\s+few\s+|the\s+)?(?:friends|mates|buddies|pals|the\s+guys|the\s+girls|the\s+lads)|"
         r"(?:movie|film)\s+party|sleepover|game\s+night|(?:boys|girls|guys)'?\s+night",
         towards=("Comedy",), about="a fun crowd-pleaser to watch with friends"),
    Mood("a cult classic", pattern=
         r"cult\s+(?:classics?|films?|movies?|flicks?|favou?rites?|following|hits?|comedy|comedies|horror|sci-fi)",
         about="a cult classic with a devoted following: offbeat, quirky, a midnight movie",
         terms="cult film cult classic midnight movie b movie"),
    Mood("edge of your seat", fit="to keep you on the edge of your seat", pattern=
         r"edge\s+of\s+(?:my|your|our|the)\s+seats?|adrenaline|heart[- ]pounding|pulse[- ]pounding|nail[- ]biting|"
         r"gripping|action[- ]packed|thrill\s+ride|white[- ]knuckle",
         towards=("Action", "Thriller"), away=("Documentary", "Musical", "Romance", "Children's"),
         about="a gripping, fast, suspenseful thriller full of action and tension",
         terms="race against time chase hostage suspense"),
    Mood("something thought-provoking", fit="to make you think", pattern=
         r"thought[- ]provoking|make\s+(?:me|you|us)\s+think|philosophical|cerebral|intellectual|profound|"
         r"mind[- ]bending|mind[- ]blowing|existential",
         towards=("Drama",), away=("Children's", "Animation"),
         about="a thought-provoking, intelligent, philosophical film about big ideas, the mind and what is real",
         terms="philosophy existentialism consciousness artificial intelligence reality identity"),
)

_COMPILED = tuple((m, re.compile(r"(?<![\w'])(?:" + m.pattern + r")(?![\w'])")) for m in MOODS)
BY_NAME: dict[str, Mood] = {m.name: m for m in MOODS}


def read_moods(low: str, scopes: Sequence[Scope]) -> list[tuple[Mood, tuple[int, int]]]:
    """The mood phrases of ``low`` (the lower-cased, masked message) with their spans, in message
    order ("a cosy film for a rainy Sunday afternoon": two phrases of one mood). A phrase inside
    a negation scope is not wished ("nothing scary") unless the mood is itself an avoidance
    (:attr:`Mood.negated`)."""
    found: list[tuple[Mood, tuple[int, int]]] = []
    for mood, rx in _COMPILED:
        for m in rx.finditer(low):
            a, b = m.span()
            if any(a < y and x < b for _, (x, y) in found) or (not mood.negated and is_negated(a, scopes)):
                continue
            found.append((mood, (a, b)))
    return sorted(found, key=lambda f: f[1][0])


@dataclass(frozen=True)
class MoodReading:
    """What the moods of a request ask of the ranking: genres leaned ``towards`` and ``away``
    from (a genre never in both), the ``about`` text to embed, the ``terms`` and ``shun`` words
    for BM25 ("" = none), the rating weight one of them sets (the lowest; None = learned) and,
    per mood that has a :attr:`Mood.fit`, its name, that phrase and the genres it leans towards."""

    towards: tuple[str, ...] = ()
    away: tuple[str, ...] = ()
    about: str = ""
    terms: str = ""
    shun: str = ""
    rating: float | None = None
    fits: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # per mood with a fit: (name, fit, genres towards)


def mood_reading(names: Sequence[str], genres: Sequence[str] | None, asked: Sequence[str] = ()) -> MoodReading:
    """The :class:`MoodReading` of the moods called ``names`` (unknown names are ignored). Only
    the catalog's ``genres`` are used (None: every genre a mood names); ``asked`` (genres the
    request requires or wishes for otherwise) are never lowered, and a genre one mood leans
    towards is not lowered by another."""
    moods = [BY_NAME[n] for n in names if n in BY_NAME]
    if not moods:
        return MoodReading()
    have = set(genres) if genres is not None else {g for m in moods for g in (*m.towards, *m.away)}
    towards = list(dict.fromkeys(g for m in moods for g in m.towards if g in have and g not in asked))
    keep = set(asked) | set(towards)
    away = list(dict.fromkeys(g for m in moods for g in m.away if g in have and g not in keep))
    ratings = [m.rating for m in moods if m.rating is not None]
    fits = tuple((m.name, m.fit, tuple(g for g in m.towards if g in towards)) for m in moods if m.fit)
    return MoodReading(tuple(towards), tuple(away), ". ".join(m.about for m in moods if m.about),
                       " ".join(m.terms for m in moods if m.terms), " ".join(m.shun for m in moods if m.shun),
                       min(ratings) if ratings else None,
                       fits)
