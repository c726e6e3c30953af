"""The liked film a pick is closest to, when that film matters to the current request.

:func:`relevant_refs` decides which liked or referenced films a reason may cite: those the
current message names ("like Se7en"), else, when the request states no other wish, all of them;
a film liked turns ago does not explain a pick for "a comedy from before 1970".

:func:`lift_fact` cites the statistic that means liking and beats the base rate: among the people
who loved the liked film (rated it 4+), the share who loved the pick, against the share of
everyone else (:class:`retrieval.liking.Lift`); only when the ratio is at least :data:`MIN_LIFT`
and the counts are large enough to mean something. :func:`person_fact` names a director or a
cast member the pick shares with a liked film.

Invariants: no fact is made from a share below the base rate (ratio < 1 is never cited); every
number is the exact count or its rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.reasons.facts import Fact
from retrieval.items import Item
from retrieval.liking import Liking
from retrieval.titles import normalise_title

#: least lovers of the liked film, least people loving both, least ratio to cite a lift
MIN_LOVERS, MIN_BOTH, MIN_LIFT = 30, 10, 1.5


def mentioned(ref: Item, message: str) -> bool:
    """True when ``message`` names ``ref``'s title (normalised, also without a parenthetical
    alternative title: "Se7en" names "Seven (Se7en)")."""
    norm = f" {normalise_title(message)} "
    title = ref.title
    forms = {normalise_title(title)}
    if "(" in title:
        forms.add(normalise_title(title.split("(", 1)[0]))
        forms.add(normalise_title(title.split("(", 1)[1].rstrip(")")))
    return any(f and f" {f} " in norm for f in forms)


def relevant_refs(liked: Sequence[Item], message: str, wishes_stated: bool) -> list[Item]:
    """The liked films a reason may cite (see the module doc), in ``liked`` order."""
    named = [r for r in liked if mentioned(r, message)]
    if named:
        return named
    return [] if wishes_stated else list(liked)


def times(ratio: float) -> str:
    """"3", "2.4", "12": the ratio as a reason writes it (a whole number from 10 on or when it is one)."""
    return f"{ratio:.0f}" if ratio >= 10 or abs(ratio - round(ratio)) < 0.05 else f"{ratio:.1f}"


def lift_clause(item: Item, ref: Item, liking: Liking | None) -> str | None:
    """"people who loved <ref> were N times as likely as others to love it" when that lift of
    ``item`` among the lovers of ``ref`` beats the base rate by :data:`MIN_LIFT` (else None);
    for a card that is a step away from ``ref`` (no shared genre needed)."""
    stat = liking.lift(ref.id, item.id) if liking is not None and ref.id != item.id else None
    if stat is None or stat.lovers_a < MIN_LOVERS or stat.both < MIN_BOTH or stat.ratio < MIN_LIFT:
        return None
    return f"people who loved {ref.label} were {times(stat.ratio)} times as likely as others to love it"


def lift_fact(item: Item, refs: Sequence[Item], liking: Liking | None) -> Fact | None:
    """The lift of ``item`` among the lovers of the ref that beats the base rate most (refs that
    share no genre with ``item`` are skipped), or None."""
    if liking is None:
        return None
    best: tuple[float, Item, Any] | None = None
    for ref in refs:
        if ref.id == item.id or (ref.genres and item.genres and not set(ref.genres) & set(item.genres)):
            continue
        stat = liking.lift(ref.id, item.id)
        if stat is None or stat.lovers_a < MIN_LOVERS or stat.both < MIN_BOTH or stat.ratio < MIN_LIFT:
            continue
        if best is None or stat.ratio > best[0]:
            best = (stat.ratio, ref, stat)
    if best is None:
        return None
    ratio, ref, stat = best
    x = times(ratio)
    share_in, share_out = round(100 * stat.share_in), max(1, round(100 * stat.share_out))
    return Fact("behaviour", f"people who loved {ref.label} were {x} times as likely as others to love it", "lift",
                ref.label, f"{share_in}% of the {stat.lovers_a:,} people who loved {ref.label} loved it too, "
                f"against {share_out}% of everyone else",
                alt=(f"fans of {ref.label} loved it {x} times as often as other people did",))


def _names(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)] if isinstance(value, str) and value.strip() else []


def person_fact(item: Item, refs: Sequence[Item]) -> Fact | None:
    """A director, else one of the first six cast names, that ``item`` shares with a ref."""
    for key in ("director", "cast"):
        mine = _names(item.extra.get(key))[: 6 if key == "cast" else None]
        for ref in refs:
            if ref.id == item.id:
                continue
            theirs = _names(ref.extra.get(key))[: 6 if key == "cast" else None]
            common = [n for n in mine if n in theirs]
            if common:
                name = common[0]
                if key == "director":
                    return Fact("person", f"it is directed by {name}, who also directed {ref.label}", "director",
                                ref.label, f"{name}, who directed {ref.label}, directed it too")
                return Fact("person", f"{name}, also in {ref.label}, is in it too", "cast", ref.label,
                            f"it shares {name} with {ref.label}")
    return None
