"""Acclaim and obscurity wishes ("the critics loved", "a hidden gem", "one of the highest rated"),
as stated rules over an item's facts and the catalog's rating data.

The rules are the free-form suite's (``eval/freeform_suite.json``, ``eval.freeform.ACCLAIM_RULES``),
so what the chat promises is what the yardstick checks:

- ``critics``: Metacritic >= 75 or Rotten Tomatoes meter >= 90;
- ``underrated``: rated by fewer people than the catalog's median rated film AND good: a mean
  rating >= 3.8 over at least 10 ratings, or Metacritic >= 70, or IMDb >= 7.5;
- ``top_rated``: a mean rating >= 4.2 over at least 100 ratings, or IMDb >= 8.0 over at least
  10,000 votes.

A film lacking every fact a rule needs does not pass (unknown is not acclaimed). Within the
passing films, :func:`quality` orders them (0..1): the mean of the quality figures the film has
(Metacritic / 100, RT meter / 100, IMDb / 10, and the rating mean shrunk towards the catalog
mean by :data:`SHRINK` ratings, / 5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

ACCLAIM_RULES = ("critics", "underrated", "top_rated")
#: pseudo-ratings at the catalog mean added to a film's ratings before its mean counts as quality
SHRINK = 20.0


def _num(meta: Mapping[str, Any], key: str) -> float | None:
    value = meta.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def passes(rule: str, meta: Mapping[str, Any], count: float, mean: float | None, median_count: float) -> bool:
    """Whether one film (its metadata, its rating count and mean: NaN/None = unrated) meets ``rule``."""
    metacritic, rt, imdb, votes = (_num(meta, k) for k in ("metacritic", "rt_meter", "imdb_rating", "imdb_votes"))
    rated = mean is not None and mean == mean
    if rule == "critics":
        return (metacritic is not None and metacritic >= 75) or (rt is not None and rt >= 90)
    if rule == "underrated":
        good = (rated and count >= 10 and mean >= 3.8) or (metacritic is not None and metacritic >= 70) \
            or (imdb is not None and imdb >= 7.5)
        return count < median_count and bool(good)
    if rule == "top_rated":
        return bool((rated and count >= 100 and mean >= 4.2)
                    or (imdb is not None and imdb >= 8.0 and votes is not None and votes >= 10_000))
    raise ValueError(f"unknown acclaim rule {rule!r}: expected one of {', '.join(ACCLAIM_RULES)}")


def quality(meta: Mapping[str, Any], count: float, mean: float | None, catalog_mean: float) -> float:
    """0..1, higher = better regarded (see the module doc); the shrunk catalog mean / 5 without figures."""
    figures = [v / scale for k, scale in (("metacritic", 100.0), ("rt_meter", 100.0), ("imdb_rating", 10.0))
               if (v := _num(meta, k)) is not None]
    rated = mean if mean is not None and mean == mean else catalog_mean
    n = count if mean is not None and mean == mean else 0.0
    figures.append((n * rated + SHRINK * catalog_mean) / (n + SHRINK) / 5.0)
    return float(np.clip(np.mean(figures), 0.0, 1.0))


def item_passes(rule: str, item: Any, behaviour: Any | None, stats: tuple[float, float] | None = None) -> bool:
    """:func:`passes` for one :class:`retrieval.items.Item`, its rating count and mean taken from
    ``behaviour`` (:class:`retrieval.behaviour.Behaviour`; None: the facts alone, so never
    little-known). ``stats``: :func:`catalog_stats` of ``behaviour``, when the caller checks many
    items (computed here otherwise)."""
    if behaviour is None:
        return passes(rule, item.metadata(), 0.0, None, 0.0)
    median, _ = stats or catalog_stats(behaviour.counts, behaviour.mean_rating.astype(np.float64))
    return passes(rule, item.metadata(), float(behaviour.raters(item.id)), behaviour.mean(item.id), median)


def catalog_stats(counts: np.ndarray, means: np.ndarray) -> tuple[float, float]:
    """(median rating count over the films with at least one rating, mean of the known means)."""
    rated, known = counts[counts > 0], means[np.isfinite(means)]
    return (float(np.median(rated)) if len(rated) else 0.0, float(known.mean()) if len(known) else 3.5)


def acclaim_scores(rule: str, metas: Sequence[Mapping[str, Any]], counts: np.ndarray, means: np.ndarray,
                   stats: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per film (rows aligned with ``metas``, ``counts`` and ``means``; NaN mean = unrated): whether
    it passes ``rule`` (bool array) and its :func:`quality` (float32, 0 where it does not pass).
    ``stats`` = :func:`catalog_stats` of the whole catalog."""
    median, catalog_mean = stats
    ok = np.array([passes(rule, m, float(c), float(r), median) for m, c, r in zip(metas, counts, means)], dtype=bool)
    q = np.array([quality(m, float(c), float(r), catalog_mean) if o else 0.0
                  for m, c, r, o in zip(metas, counts, means, ok)], dtype=np.float32)
    return ok, q
