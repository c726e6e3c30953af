"""The LLM's one task in reading a message: turn a mood, occasion, theme or plot wish (words the
rules leave unread) into search hints, checked before use.

The model writes a short JSON object (:func:`wish_schema`: ``genres``, ``avoid``, ``keywords``,
``about``; about 40-70 tokens) from a fixed few-shot prompt whose variable part (the message)
comes last, so a server's prefix cache holds the rest. :func:`validate_wish` keeps only what is
safe to act on: catalog genres the message does not negate (wanted genres the message negates
and avoided genres it asks for are dropped; genres are avoided only when the message says what
to avoid, :data:`AVOID_CUES`), keywords found in the catalog's keyword vocabulary
or in the message, and a sanitised one-sentence ``about`` (retrieval text, never shown as a
claim). The result is an :class:`Extraction` with ``soft_genres``, ``avoid_genres`` and
``about`` set: preferences that raise or lower candidates, never filters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from agent.understanding.extraction import Extraction
from agent.understanding.genres import genre_mentions
from agent.understanding.negation import is_negated, negation_scopes
from agent.understanding.text import lower_same_length
from agent.understanding.vocabulary import Vocabulary

AVOID_CUES = re.compile(r"\b(?:hates?|avoid|without|nothing|no|not|never|can't stand|cannot stand|too)\b")
"""Words by which a person says what to avoid: without one (or a negation) ``avoid`` is dropped,
as a 0.5B model copies its examples' avoid lists into requests that never asked."""

MAX_ABOUT_CHARS = 160
"""Longest ``about`` sentence kept (characters)."""

#: Few-shot examples (request, answer); genres not in a catalog are dropped when rendering.
EXAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("something to cheer me up after a breakup",
     {"genres": ["Comedy", "Romance"], "avoid": ["Horror", "War"], "keywords": ["friendship", "new beginning"],
      "about": "a warm, funny film about picking yourself up and finding joy again"}),
    ("a heist film with a twist ending",
     {"genres": ["Crime", "Thriller"], "avoid": [], "keywords": ["heist", "robbery", "twist ending"],
      "about": "a clever crew plans a robbery and nothing is what it seems"}),
    ("date night, but my wife hates violence",
     {"genres": ["Romance", "Comedy"], "avoid": ["Horror", "War", "Crime"], "keywords": ["love", "relationship"],
      "about": "a charming, gentle romantic story for a couple"}),
    ("a slow, philosophical film set in space",
     {"genres": ["Sci-Fi", "Drama"], "avoid": ["Comedy"], "keywords": ["space", "artificial intelligence",
                                                                       "meaning of life"],
      "about": "a contemplative journey through space that asks what it means to be human"}),
)


def wish_schema(genres: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of the answer (genres an enum of the catalog's genres)."""
    genre = {"type": "string", "enum": list(genres)} if genres else {"type": "string", "maxLength": 30}
    return {
        "type": "object",
        "properties": {
            "genres": {"type": "array", "items": genre, "maxItems": 3},
            "avoid": {"type": "array", "items": genre, "maxItems": 3},
            "keywords": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 5},
            "about": {"type": "string", "maxLength": MAX_ABOUT_CHARS},
        },
        "required": ["genres", "avoid", "keywords", "about"],
        "additionalProperties": False,
    }


def wish_messages(message: str, vocab: Vocabulary) -> list[Any]:
    """System (fixed per catalog: task, genres, examples) + user (the sanitised message)."""
    from agent.llm.engine import Message
    from agent.understanding.context import clean_text
    from prompts import render

    known = set(vocab.genres)
    shots = []
    for request, answer in EXAMPLES:
        kept = {**answer, "genres": [g for g in answer["genres"] if g in known],
                "avoid": [g for g in answer["avoid"] if g in known]}
        shots.append(f"Request: {request}\n{json.dumps(kept, separators=(',', ':'))}")
    system = render("wish_system", genres=", ".join(vocab.genres), examples="\n\n".join(shots))
    return [Message("system", system), Message("user", render("wish_user", message=clean_text(message, 600)))]


def _strings(value: Any, limit: int, max_chars: int) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v.strip()[:max_chars] for v in value[:limit] if isinstance(v, str) and v.strip()]


def validate_wish(raw: Any, message: str, vocab: Vocabulary, rules: Extraction) -> Extraction:
    """The checked hints as an Extraction (only ``soft_genres``, ``avoid_genres``, ``about`` and
    ``rejected`` set). Raises ValueError when ``raw`` is not a JSON object."""
    from agent.understanding.context import clean_text

    if not isinstance(raw, dict):
        raise ValueError(f"wish is not a JSON object: {type(raw).__name__}")
    ex = Extraction(intent=rules.intent, source="llm")
    low = lower_same_length(message)
    scopes = negation_scopes(low)
    negated = {x.genre for x in genre_mentions(low, vocab) if is_negated(x.start, scopes)}
    asked = {x.genre for x in genre_mentions(low, vocab) if not is_negated(x.start, scopes)} | set(rules.genres)
    excluded = negated | set(rules.exclude_genres)
    for g in _strings(raw.get("genres"), 3, 30):
        canon = vocab.genre(g)
        if canon and canon not in excluded and canon not in ex.soft_genres:
            ex.soft_genres.append(canon)
        else:
            ex.rejected.append(f"wish.genres:{g}")
    from agent.understanding.genres import wished_genres

    asked |= set(wished_genres(rules.liked_attributes))  # "something fun" wishes for Comedy
    says_avoid = bool(scopes) or bool(AVOID_CUES.search(low))
    for g in _strings(raw.get("avoid"), 3, 30):
        canon = vocab.genre(g)
        if says_avoid and canon and canon not in asked and canon not in ex.soft_genres and canon not in ex.avoid_genres:
            ex.avoid_genres.append(canon)
        else:
            ex.rejected.append(f"wish.avoid:{g}")
    known_keywords = vocab.fields.get("keywords", {})
    keywords = []
    for k in _strings(raw.get("keywords"), 5, 30):
        words = re.findall(r"[a-z]+", k.lower())
        if k.lower() in known_keywords or (words and all(w in low for w in words)):
            keywords.append(k.lower())
        else:
            ex.rejected.append(f"wish.keywords:{k}")
    about = clean_text(raw.get("about") or "", MAX_ABOUT_CHARS) if isinstance(raw.get("about"), str) else ""
    ex.about = ". ".join(p for p in (about.rstrip(". "), ", ".join(keywords)) if p)
    return ex


def merge_wish(rules: Extraction, wish: Extraction) -> Extraction:
    """The rules' reading with the wish's preferences added (the rules keep everything they read)."""
    from dataclasses import replace

    return replace(rules, source="llm", soft_genres=[g for g in wish.soft_genres if g not in rules.genres],
                   avoid_genres=list(wish.avoid_genres), about=wish.about, rejected=rules.rejected + wish.rejected)
