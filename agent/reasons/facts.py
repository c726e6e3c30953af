"""The value a reason is built from: one true, checkable statement about a pick (:class:`Fact`).

Facts come from structured data only (the request read by the rules, the pick's structured
``extra`` fields, rating data), except ``summary`` facts, which quote the pick's overview (its
instruction-free part, :func:`retrieval.untrusted.strip_instructions`) verbatim and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: request: a stated wish the pick meets; summary: a quote of its overview; behaviour: a liked film's
#: lovers loved it more than everyone else; person: a director / cast member shared with a liked
#: film; rating: how it is rated (a last resort)
FactKind = Literal["request", "summary", "behaviour", "person", "rating"]


@dataclass(frozen=True)
class Fact:
    """One true statement about a pick for this person, as clauses (lower-case start, no final stop).

    ``text``: the canonical clause (what the LLM is given); ``key``: which wish or statistic
    ("cast", "runtime", "certificate", "oscars", "period", "genre", "theme", "lift", ...);
    ``ask``: for a wish, what the person asked in their terms ("Tom Hanks", "under 90 minutes");
    ``proof``: what the pick has that meets it ("Tom Hanks has the lead", "it runs 86 minutes");
    ``alt``: other true clauses of the same fact (other wordings). Every string is evidence the
    strict check may be given (:meth:`cited`)."""

    kind: FactKind
    text: str
    key: str = ""
    ask: str = ""
    proof: str = ""
    alt: tuple[str, ...] = ()

    def cited(self) -> tuple[str, ...]:
        """Every string of the fact (non-empty), for the strict check's cited evidence."""
        return tuple(s for s in (self.text, self.ask, self.proof, *self.alt) if s)
