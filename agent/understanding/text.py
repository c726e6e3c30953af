"""Text helpers of the readers: same-length lower-casing and masking (character positions stay
valid), a year in a string, a sane year."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agent.understanding.profile import YEAR_HI, YEAR_LO


def year_in(text: str) -> int | None:
    m = re.search(r"\b(1[89]\d\d|20[0-3]\d)\b", text)
    return int(m.group(1)) if m else None


def sane_year(value: Any) -> int | None:
    try:
        year = int(value)
    except (TypeError, ValueError):
        return None
    return year if YEAR_LO <= year <= YEAR_HI else None


def lower_same_length(text: str) -> str:
    """``text`` in lower case with straight apostrophes, same length (positions stay valid)."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    low = text.lower()
    return low if len(low) == len(text) else "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def mask_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with each (start, end) span blanked out (same length)."""
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)
