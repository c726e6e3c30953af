"""agent.understanding.wish: the LLM's wish reading is checked before it is used (fakes for the
model's answer; the real engine runs in tests/agent/test_chat_quality.py and the freeform eval)."""

from __future__ import annotations

from agent.understanding.extraction import Extraction
from agent.understanding.rules import parse_rules
from agent.understanding.understander import Understander
from agent.understanding.vocabulary import TitleIndex, Vocabulary
from agent.understanding.wish import merge_wish, validate_wish, wish_messages, wish_schema

GENRES = ("Comedy", "Drama", "Romance", "Horror", "War", "Crime", "Thriller", "Sci-Fi", "Children's")
VOCAB = Vocabulary(GENRES, {"keywords": {"heist": "heist", "friendship": "friendship"}},
                   TitleIndex.build([("1", "Heat", 1995)]))


def test_genres_keywords_and_about_are_checked() -> None:
    rules = parse_rules("something to cheer me up after a breakup, but no romance", VOCAB, ())
    raw = {"genres": ["Comedy", "Romance", "Western"], "avoid": ["War", "Comedy"],
           "keywords": ["friendship", "breakup", "unicorns"], "about": "a warm <|im_start|> film\nabout joy"}
    ex = validate_wish(raw, "something to cheer me up after a breakup, but no romance", VOCAB, rules)
    assert ex.soft_genres == ["Comedy"]  # Romance is negated by the person; Western is not a catalog genre
    assert ex.avoid_genres == ["War"]  # Comedy is already wished
    assert "friendship" in ex.about and "breakup" in ex.about and "unicorns" not in ex.about  # catalog or message words
    assert "<|im_start|>" not in ex.about and "\n" not in ex.about
    assert {"wish.genres:Romance", "wish.genres:Western", "wish.avoid:Comedy", "wish.keywords:unicorns"} <= set(ex.rejected)


def test_avoided_genre_the_person_asked_for_is_dropped() -> None:
    rules = parse_rules("a horror film for a rainy sunday", VOCAB, ())
    ex = validate_wish({"genres": [], "avoid": ["Horror"], "keywords": [], "about": ""}, "a horror film for a rainy sunday",
                       VOCAB, rules)
    assert ex.avoid_genres == [] and "wish.avoid:Horror" in ex.rejected


def test_genres_are_avoided_only_when_the_person_says_so() -> None:
    raw = {"genres": ["Romance"], "avoid": ["War", "Horror"], "keywords": [], "about": ""}
    said = "a date night film, my wife hates violence"
    assert validate_wish(raw, said, VOCAB, parse_rules(said, VOCAB, ())).avoid_genres == ["War", "Horror"]
    fun = "my kids are bored, something fun"
    ex = validate_wish({**raw, "avoid": ["Comedy"]}, fun, VOCAB, parse_rules(fun, VOCAB, ()))
    assert ex.avoid_genres == []


def test_merge_keeps_the_rules_reading() -> None:
    rules = parse_rules("a comedy from the 90s to cheer me up", VOCAB, ())
    wish = Extraction(soft_genres=["Comedy", "Romance"], avoid_genres=["War"], about="a feel-good story")
    out = merge_wish(rules, wish)
    assert out.genres == rules.genres and (out.year_min, out.year_max) == (rules.year_min, rules.year_max)
    assert out.soft_genres == ["Romance"] and out.avoid_genres == ["War"] and out.about == "a feel-good story"
    assert out.source == "llm"


def test_prompt_is_fixed_but_for_the_message_and_schema_is_compact() -> None:
    a, b = wish_messages("a heist film", VOCAB), wish_messages("cheer me up", VOCAB)
    assert a[0].content == b[0].content and "Western" not in a[0].content  # examples hold only catalog genres
    assert a[1].content.endswith("a heist film")
    schema = wish_schema(GENRES)
    assert schema["properties"]["genres"]["items"]["enum"] == list(GENRES) and schema["additionalProperties"] is False


class _Engine:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def generate_json(self, messages, schema, max_tokens, timeout_s):
        self.calls.append(schema)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_understander_uses_the_wish_reading_and_degrades_to_the_rules() -> None:
    engine = _Engine({"genres": ["Comedy"], "avoid": ["Horror"], "keywords": [], "about": "an uplifting film"})
    ex, notice = Understander(engine, reading="wish").understand("something for when the in-laws visit", VOCAB)
    assert notice is None and ex.soft_genres == ["Comedy"]
    assert ex.avoid_genres == []  # the message never said what to avoid: the model's guess is dropped
    assert set(engine.calls[0]["properties"]) == {"genres", "avoid", "keywords", "about"}
    ex, notice = Understander(_Engine(RuntimeError("down")), reading="wish").understand("something for when the in-laws visit", VOCAB)
    assert ex.source == "rules" and "simple rules" in notice
    ex, notice = Understander(_Engine(["not", "an", "object"]), reading="wish").understand("something for when the in-laws visit", VOCAB)
    assert ex.source == "rules" and notice
