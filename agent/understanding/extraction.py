"""The value one message is read into (:class:`Extraction`) and the intents a turn can have."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agent.understanding.profile import ItemRef

TurnIntent = Literal["recommend", "refine", "question", "clarify", "chitchat"]
INTENTS: tuple[str, ...] = ("recommend", "refine", "question", "clarify", "chitchat")


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
    fields: dict[str, str | list[str]] = field(default_factory=dict)  # a list: all required (two actors)
    ranges: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)  # agent.understanding.facets
    one_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # {"certificate": ("G", "PG")}
    none_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # {"primary_language": ("English",)}
    acclaim: str | None = None  # agent.understanding.facets: "critics", "underrated", "top_rated"
    soft: list[str] = field(default_factory=list)
    refine: Literal["older", "newer"] | None = None
    refers_to: int = 0
    source: Literal["llm", "rules"] = "rules"
    rejected: list[str] = field(default_factory=list)
    focus: str = ""  # the message minus titles, negations, dates and filler: retrieval text
    follow_up: bool = False
    complete: bool = False  # the rules accounted for every word: an LLM reading has nothing to add
    new_ask: bool = False   # phrased as a fresh ask for a kind of film ("a heist film with ...")
    # the LLM's wish reading (agent.understanding.wish): preferences, never filters
    soft_genres: list[str] = field(default_factory=list)  # raised ("cheer me up" -> Comedy)
    avoid_genres: list[str] = field(default_factory=list)  # lowered ("no violence" -> War)
    about: str = ""  # one sentence + keywords describing the wanted film: retrieval text
    moods: list[str] = field(default_factory=list)  # agent.understanding.moods.Mood names the rules read

    def has_content(self) -> bool:
        return bool(self.liked_items or self.disliked_items or self.liked_attributes or self.disliked_attributes
                    or self.genres or self.genres_any or self.exclude_genres or self.year_min is not None or self.year_max is not None
                    or self.fields or self.ranges or self.one_of or self.none_of or self.acclaim or self.soft or self.refine
                    or self.refers_to or self.soft_genres
                    or self.avoid_genres or self.about or self.moods)

    def states_request(self) -> bool:
        """True when the message states what it wants on its own: genres (an audience included),
        a period, or a fresh ask for a kind of film ("a heist film with a twist ending") - the
        test for "a new request" in :func:`agent.understanding.profile_update.apply_extraction`. A liked
        reference alone ("something like Alien" after "a horror film from the 80s") or a wish
        ("anything with a great soundtrack") narrows the standing request instead."""
        return bool(self.genres or self.genres_any or self.year_min is not None or self.year_max is not None
                    or self.new_ask)
