"""Machine-checkable hard constraints that a person stated, and the check of a shown pick.

Shared by the conversational protocol (what the simulated person said so far) and the request
suite (what one request asks for). Semantics, for an :class:`retrieval.items.Item`:

- ``year_min`` / ``year_max``: inclusive; an item without a year violates any year bound;
- ``genres_all``: every one must be among the item's genres ("a crime thriller");
- ``genres_any``: at least one must be ("a comedy or a romance", "a thriller from the 90s"
  when the person named one of the target's genres);
- ``exclude_genres``: none may be ("not horror", "not animated");
- ``exclude_items``: ids that must never be shown (the "like X" reference itself, a "not this").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from retrieval.items import Item


@dataclass(frozen=True)
class HardConstraints:
    """What a pick must satisfy (see the module doc); empty fields constrain nothing."""

    year_min: int | None = None
    year_max: int | None = None
    genres_all: tuple[str, ...] = ()
    genres_any: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    exclude_items: tuple[str, ...] = ()

    def violations(self, item: Item) -> list[str]:
        """Plain-words reasons ``item`` breaks these constraints ([] when it keeps them all)."""
        out: list[str] = []
        year = item.year
        if self.year_min is not None and (year is None or year < self.year_min):
            out.append(f"year {year} < {self.year_min}")
        if self.year_max is not None and (year is None or year > self.year_max):
            out.append(f"year {year} > {self.year_max}")
        out += [f"lacks genre {g}" for g in self.genres_all if g not in item.genres]
        if self.genres_any and not any(g in item.genres for g in self.genres_any):
            out.append("has none of " + "/".join(self.genres_any))
        out += [f"has excluded genre {g}" for g in self.exclude_genres if g in item.genres]
        if item.id in self.exclude_items:
            out.append("is an excluded item")
        return out

    def satisfied(self, item: Item) -> bool:
        return not self.violations(item)

    def is_empty(self) -> bool:
        return self == HardConstraints()

    def merged(self, **changes: Any) -> "HardConstraints":
        """A copy with ``changes``; tuple fields given as iterables are de-duplicated in order."""
        fixed = {k: tuple(dict.fromkeys(v)) if isinstance(v, (list, tuple, set)) else v for k, v in changes.items()}
        return replace(self, **fixed)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HardConstraints":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass
class SatisfactionCount:
    """Shown picks and requests checked against their constraints."""

    picks: int = 0
    picks_ok: int = 0
    lists: int = 0
    lists_ok: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, constraints: HardConstraints, items: Sequence[Item], label: str = "", keep: int = 20) -> bool:
        """Count one shown list; returns True when every pick keeps every constraint."""
        bad = [(it, constraints.violations(it)) for it in items]
        bad = [(it, v) for it, v in bad if v]
        self.picks += len(items)
        self.picks_ok += len(items) - len(bad)
        self.lists += 1
        self.lists_ok += not bad
        for it, v in bad[: max(0, keep - len(self.examples))]:
            self.examples.append(f"{label}: {it.title} ({it.year}) {', '.join(v)}")
        return not bad

    @property
    def pick_share(self) -> float | None:
        return self.picks_ok / self.picks if self.picks else None

    @property
    def list_share(self) -> float | None:
        return self.lists_ok / self.lists if self.lists else None


def violation_share(constraints: HardConstraints, items: Iterable[Item]) -> float | None:
    """Share of ``items`` that break at least one constraint (None for no items)."""
    items = list(items)
    return sum(not constraints.satisfied(i) for i in items) / len(items) if items else None
