"""The LLM's reading of what the rules leave unread, checked and merged: the JSON schema it fills,
:func:`validate_llm` (every value checked against the catalog and the message), :func:`merge`,
and :class:`Understander`, the one entry point (rules always; the LLM when given and needed;
never raises)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

from agent.understanding.extraction import INTENTS, Extraction
from agent.understanding.genres import genre_mentions
from agent.understanding.negation import is_negated, negation_scopes
from agent.understanding.profile import ItemRef
from agent.understanding.rules import parse_rules
from agent.understanding.text import lower_same_length, sane_year
from agent.understanding.vocabulary import TITLE_STOP, Vocabulary, title_keys
from retrieval.titles import normalise_title


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
    low = lower_same_length(message)
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
        year = sane_year(value)
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
    low = lower_same_length(message)
    scopes = negation_scopes(low)
    out: dict[str, set[str]] = {"genres": set(), "exclude_genres": set()}
    for x in genre_mentions(low, vocab):
        if is_negated(x.start, scopes):
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
        return [w for w in words if w not in TITLE_STOP] or words

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
    """Reads messages with an optional engine (``None`` = rules only). Stateless across sessions.
    ``reading`` = what the LLM is asked: ``"wish"`` (:mod:`agent.understanding.wish`: mood,
    occasion, theme -> genre and text preferences) or ``"full"`` (the whole extraction schema)."""

    def __init__(self, engine: Any | None, max_tokens: int = 200, budget_s: float | None = None,
                 reading: str = "wish") -> None:
        self.engine, self.max_tokens, self.budget_s, self.reading = engine, max_tokens, budget_s, reading

    def messages(self, message: str, vocab: Vocabulary, profile_summary: str, shown: Sequence[ItemRef]) -> list[Any]:
        from agent.llm.engine import Message
        from agent.understanding.context import clean_text
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
            if self.reading == "wish":
                from agent.understanding.wish import merge_wish, validate_wish, wish_messages, wish_schema

                raw = self.engine.generate_json(wish_messages(message, vocab), wish_schema(vocab.genres),
                                                max_tokens=self.max_tokens, timeout_s=self.budget_s)
                return merge_wish(rules, validate_wish(raw, message, vocab, rules)), None
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
