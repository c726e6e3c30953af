"""Candidate retrieval: top-K items for a query text, a user's history, or both.

Filtered queries are Chroma's slow path (its metadata filter scans; ~100-400 ms at 100k items).
The retriever keeps an in-memory mirror of the filterable metadata (:meth:`ChromaStore.mirror`)
and evaluates filters on it with numpy, which gives the exact set of items that pass. Then:

* **exact scan** when at most ``exact_scan_max`` items pass (selective filters): the passing
  items' vectors (cached with the mirror, :meth:`ChromaStore.mirror_vectors`) are scored with one
  dot product and the top ``k`` kept - exact, so nothing can be lost;
* **post-filter** otherwise: Chroma returns the ``(k + excluded) / share * overfetch`` nearest
  items WITHOUT a filter (ids and distances) and the passing ones are kept; the survivors are
  exactly the filtered top items of that neighbourhood;
* **Chroma's filtered query** only when too few survive the post-filter or the over-fetch would
  exceed ``max_fetch``, so no result is lost.

Unfiltered queries go to HNSW (ids + distances; metadata from the mirror). The path a query took
is returned with its result (:class:`SearchResult`, :class:`RetrievalResult`), never kept on the
retriever, which is shared by every session and thread. Tuning knobs (over-fetch, ``max_fetch``,
history weighting, MMR pool, exact-scan limit) come from :class:`RetrievalSettings`
(``store.settings``) unless a :class:`Retriever` field overrides them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from retrieval.candidates import Candidate
from retrieval.hits import Hit
from retrieval.items import Item
from retrieval.settings import RetrievalSettings
from retrieval.store import ChromaStore, MetaMirror

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Filters:
    """Hard constraints. Years are inclusive; every genre in ``genres`` must be present, at least
    one of ``genres_any`` (when given: "a comedy or a romance"), none of ``exclude_genres``; ``fields`` maps an extra metadata field to a required value (for list
    fields: the value must be in the list; a list of values: every one must be, "De Niro and
    Pacino in the same movie"). An item without a year fails a year bound."""

    year_min: int | None = None
    year_max: int | None = None
    genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    fields: Mapping[str, Scalar] = field(default_factory=dict)
    genres_any: tuple[str, ...] = ()
    ranges: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    """Numeric extra field -> inclusive (min, max), either side None: ``{"runtime_min": (None, 89)}``.
    An item without the field fails."""
    one_of: Mapping[str, tuple[Scalar, ...]] = field(default_factory=dict)
    """Extra field -> allowed values: ``{"certificate": ("G", "PG")}``. An item without it fails."""
    none_of: Mapping[str, tuple[Scalar, ...]] = field(default_factory=dict)
    """Extra field -> excluded values: ``{"primary_language": ("English",)}``. An item without it fails
    (unknown is not "not English")."""

    def is_empty(self) -> bool:
        return (self.year_min is None and self.year_max is None and not self.genres
                and not self.exclude_genres and not self.fields and not self.genres_any
                and not self.ranges and not self.one_of and not self.none_of)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (lists for tuples); ``Filters(**{k: tuple(v) ...})`` reads it back."""
        return {"year_min": self.year_min, "year_max": self.year_max, "genres": list(self.genres),
                "exclude_genres": list(self.exclude_genres), "fields": dict(self.fields),
                "genres_any": list(self.genres_any), "ranges": {k: list(v) for k, v in self.ranges.items()},
                "one_of": {k: list(v) for k, v in self.one_of.items()},
                "none_of": {k: list(v) for k, v in self.none_of.items()}}

    def to_where(self) -> dict[str, Any] | None:
        """The equivalent Chroma ``where`` clause (None when empty)."""
        clauses: list[dict[str, Any]] = []
        if self.year_min is not None:
            clauses.append({"year": {"$gte": self.year_min}})
        if self.year_max is not None:
            clauses.append({"year": {"$lte": self.year_max}})
        clauses += [{"genres": {"$contains": g}} for g in self.genres]
        clauses += [{"genres": {"$not_contains": g}} for g in self.exclude_genres]
        if len(self.genres_any) == 1:
            clauses.append({"genres": {"$contains": self.genres_any[0]}})
        elif self.genres_any:
            clauses.append({"$or": [{"genres": {"$contains": g}} for g in self.genres_any]})
        for key, value in self.fields.items():
            clauses += ([{key: {"$contains": v}} for v in value] if isinstance(value, (list, tuple))
                        else [{key: {"$eq": value}}])
        for key, (low, high) in self.ranges.items():
            clauses += [{key: {"$gte": low}}] if low is not None else []
            clauses += [{key: {"$lte": high}}] if high is not None else []
        for key, values in self.one_of.items():
            clauses.append({key: {"$in": list(values)}})
        for key, values in self.none_of.items():  # NB: Chroma's $nin also passes an item WITHOUT the field
            clauses.append({key: {"$nin": list(values)}})  # (exact: :meth:`closed` first)
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def closed(self, metas: Sequence[Mapping[str, Any]]) -> "Filters":
        """The same filter with each ``none_of`` turned into the ``one_of`` of the values the
        catalog (``metas``) has for that field minus the excluded ones, so that :meth:`to_where`
        is exact in Chroma too (whose ``$nin`` passes an item lacking the field)."""
        if not self.none_of:
            return self
        one_of = dict(self.one_of)
        for key, values in self.none_of.items():
            have = {m[key] for m in metas if isinstance(m.get(key), (str, int, float)) and m.get(key) != ""}
            one_of[key] = tuple(sorted(v for v in have - set(values) if v in set(one_of.get(key, have))))
        return replace(self, one_of=one_of, none_of={})

    def matches(self, meta: Mapping[str, Any]) -> bool:
        """Python twin of :meth:`to_where` on one item's metadata."""
        year = meta.get("year")
        if self.year_min is not None and (year is None or year < self.year_min):
            return False
        if self.year_max is not None and (year is None or year > self.year_max):
            return False
        genres = meta.get("genres") or ()
        if any(g not in genres for g in self.genres):
            return False
        if any(g in genres for g in self.exclude_genres):
            return False
        if self.genres_any and not any(g in genres for g in self.genres_any):
            return False
        for key, value in self.fields.items():
            have = meta.get(key)
            if not all(v in have if isinstance(have, list) else have == v
                       for v in (value if isinstance(value, (list, tuple)) else (value,))):
                return False
        for key, (low, high) in self.ranges.items():
            have = meta.get(key)
            if not isinstance(have, (int, float)) or isinstance(have, bool) or \
                    (low is not None and have < low) or (high is not None and have > high):
                return False
        if not all(meta.get(key) in values for key, values in self.one_of.items()):
            return False
        return all(meta.get(key) not in (None, "", *values) for key, values in self.none_of.items())

    def matches_item(self, item: Item) -> bool:
        return self.matches(item.metadata())

    def mask(self, mirror: MetaMirror) -> np.ndarray:
        """Vectorised :meth:`matches` over every item of a metadata mirror (bool array)."""
        keep = np.ones(len(mirror.ids), dtype=bool)
        if self.year_min is not None:
            keep &= mirror.year >= self.year_min  # NaN compares False: unknown years fail
        if self.year_max is not None:
            keep &= mirror.year <= self.year_max
        slow = [g for g in (*self.genres, *self.exclude_genres) if g not in mirror.genre_vocab]
        if self.genres_any:
            bits = [np.uint64(1 << mirror.genre_vocab[g]) for g in self.genres_any if g in mirror.genre_vocab]
            either = np.zeros(len(mirror.ids), dtype=bool)
            for b in bits:
                either |= (mirror.genre_bits & b) != 0
            keep &= either  # a genre the catalog does not have can match nothing
        for g in self.genres:
            if g in mirror.genre_vocab:
                keep &= (mirror.genre_bits & np.uint64(1 << mirror.genre_vocab[g])) != 0
        for g in self.exclude_genres:
            if g in mirror.genre_vocab:
                keep &= (mirror.genre_bits & np.uint64(1 << mirror.genre_vocab[g])) == 0
        if slow or self.fields or self.ranges or self.one_of or self.none_of:
            rest = Filters(genres=tuple(g for g in self.genres if g in slow),
                           exclude_genres=tuple(g for g in self.exclude_genres if g in slow), fields=self.fields,
                           ranges=self.ranges, one_of=self.one_of, none_of=self.none_of)
            for row in np.flatnonzero(keep):
                keep[row] = rest.matches(mirror.metas[row])
        return keep


def recency_weights(n: int, half_life: float) -> np.ndarray:
    """Weights for ``n`` history items ordered oldest -> newest: the newest weighs 1 and the
    weight halves every ``half_life`` items back. Sums are not normalised."""
    age = np.arange(n - 1, -1, -1, dtype=np.float32)
    return np.power(0.5, age / max(half_life, 1e-6)).astype(np.float32)


def mmr(query: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: indices of ``k`` rows of ``vectors`` (L2-normalised) chosen
    greedily by ``lam * sim(query) - (1 - lam) * max sim(already chosen)``. ``lam=1`` keeps the
    relevance order."""
    if len(vectors) == 0:
        return []
    relevance = vectors @ query
    chosen: list[int] = []
    max_sim = np.full(len(vectors), -np.inf, dtype=np.float32)
    available = np.ones(len(vectors), dtype=bool)
    for _ in range(min(k, len(vectors))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        score = np.where(available, lam * relevance - (1 - lam) * penalty, -np.inf)
        best = int(np.argmax(score))
        chosen.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return chosen


SearchPath = Literal["unfiltered", "empty", "exact-scan", "post-filter", "chroma-filter"]
"""How a search was answered: no filter (HNSW); no item passes the filter; exact scan of the
passing items' vectors; HNSW over-fetch + post-filter; Chroma's filtered query."""


@dataclass(frozen=True)
class SearchResult:
    """What :meth:`Retriever.search_with_path` found: ``hits`` best first, and the ``path`` taken."""

    hits: tuple[Hit, ...]
    path: SearchPath


@dataclass(frozen=True)
class RetrievalResult:
    """What :meth:`Retriever.retrieve_with_path` found: ``candidates`` best first, and the ``path`` taken."""

    candidates: tuple[Candidate, ...]
    path: SearchPath


@dataclass
class Retriever:
    """Top-K candidates from one indexed catalog. One retriever serves every session and thread:
    no call leaves state on it for another to read (the path a call took comes back with its
    result).

    The tuning fields default to None = the store's :class:`RetrievalSettings` value (see there
    for units); a value set here overrides it for this retriever (benchmarks, tests).
    """

    store: ChromaStore
    catalog: str
    history_half_life: float | None = None
    """Recency half-life of the history query vector (history items); None = settings."""
    history_weight: float | None = None
    """Share (0..1) of the history vector when text and history are both given; None = settings."""
    max_fetch: int | None = None
    """Most neighbours a post-filtered query asks HNSW for (items); None = settings."""
    exact_scan_max: int | None = None
    """Filters passing at most this many items are answered by an exact scan; None = the
    store's ``settings.exact_scan_max``; 0 = never (no vectors are cached)."""
    overfetch: float | None = None
    """Post-filter over-fetch factor (>= 1); None = the store's ``settings.overfetch``."""

    @property
    def settings(self) -> RetrievalSettings:
        return self.store.settings

    def tuned(self, name: str) -> Any:
        """This retriever's value of the tuning field ``name`` (``exact_scan_max``, ``overfetch``,
        ``max_fetch``, ``history_half_life``, ``history_weight``), else the store's settings' one."""
        own = getattr(self, name)
        return getattr(self.settings, name) if own is None else own

    def warm_up(self) -> dict[str, float]:
        """Load now what the first queries would load: the metadata mirror (every query reads it)
        and, when exact scans are on and the catalog fits ``vector_cache_max_mb``, the vector
        cache. Returns seconds per part (``mirror_s``, ``vectors_s`` when loaded); at 1M items
        ~105 s and ~57 s on 2 CPU cores (``recchat bench scale``)."""
        t0 = time.perf_counter()
        self.store.mirror(self.catalog)
        took = {"mirror_s": time.perf_counter() - t0}
        if self.tuned("exact_scan_max") and self.store.vector_cache_fits(self.catalog):
            t0 = time.perf_counter()
            self.store.mirror_vectors(self.catalog)
            took["vectors_s"] = time.perf_counter() - t0
        return took

    def query_vector(self, text: str | None = None, history: Sequence[str] = ()) -> np.ndarray:
        """L2-normalised query vector from text, history item ids (oldest -> newest), or both."""
        parts: list[tuple[float, np.ndarray]] = []
        if text and text.strip():
            vec = self.store.embedder.encode([text])[0]
            parts.append((1.0 - self.tuned("history_weight") if history else 1.0, vec))
        if history:
            found = self.store.get_embeddings(self.catalog, list(history))
            known = [h for h in history if h in found]
            if known:
                weights = recency_weights(len(known), self.tuned("history_half_life"))
                mean = (weights[:, None] * np.stack([found[h] for h in known])).sum(axis=0)
                mean /= np.linalg.norm(mean) or 1.0
                parts.append((self.tuned("history_weight") if text else 1.0, mean))
        if not parts:
            raise ValueError("a query needs text or at least one known history item")
        vec = sum(w * v for w, v in parts)
        return (vec / (np.linalg.norm(vec) or 1.0)).astype(np.float32)

    def retrieve(
        self,
        text: str | None = None,
        history: Sequence[str] = (),
        k: int = 20,
        filters: Filters | None = None,
        exclude: Sequence[str] = (),
        mmr_lambda: float | None = None,
        mmr_pool: int | None = None,
    ) -> list[Candidate]:
        """Top ``k`` candidates, best first; see :meth:`retrieve_with_path`."""
        return list(self.retrieve_with_path(text, history, k, filters, exclude, mmr_lambda, mmr_pool).candidates)

    def retrieve_with_path(
        self,
        text: str | None = None,
        history: Sequence[str] = (),
        k: int = 20,
        filters: Filters | None = None,
        exclude: Sequence[str] = (),
        mmr_lambda: float | None = None,
        mmr_pool: int | None = None,
    ) -> RetrievalResult:
        """Top ``k`` candidates, best first, and the search path taken. History items are
        excluded from the results too.

        ``mmr_lambda`` (0..1) diversifies the top ``k`` out of ``k * mmr_pool`` relevant items
        (``mmr_pool`` None = ``settings.mmr_pool``).
        """
        if k < 1:
            raise ValueError("k must be >= 1")
        filters = filters or Filters()
        vector = self.query_vector(text, history)
        banned = set(exclude) | set(history)
        pool = self.settings.mmr_pool if mmr_pool is None else mmr_pool
        want = k * (pool if mmr_lambda is not None else 1)
        need_emb = mmr_lambda is not None
        found = self.search_with_path(vector, want, filters, banned, need_emb)
        hits = list(found.hits)
        if mmr_lambda is not None and len(hits) > 1:
            order = mmr(vector, np.stack([h.embedding for h in hits]), k, mmr_lambda)
            hits = [hits[i] for i in order]
        sources = tuple(s for s, on in (("text", bool(text)), ("history", bool(history))) if on)
        return RetrievalResult(
            tuple(Candidate(item=Item.from_metadata(h.id, h.meta), score=h.score, rank=r, sources=sources)
                  for r, h in enumerate(hits[:k])),
            found.path,
        )

    def search(
        self, vector: np.ndarray, k: int, filters: Filters | None = None, banned: set[str] | frozenset[str] = frozenset(),
        with_emb: bool = False,
    ) -> list[Hit]:
        """Top ``k`` hits for a query vector, best first; see :meth:`search_with_path`."""
        return list(self.search_with_path(vector, k, filters, banned, with_emb).hits)

    def search_with_path(
        self, vector: np.ndarray, k: int, filters: Filters | None = None, banned: set[str] | frozenset[str] = frozenset(),
        with_emb: bool = False,
    ) -> SearchResult:
        """Top ``k`` hits for a query vector (minus ``banned`` ids), best first, with the path
        taken (see the module doc and :data:`SearchPath`); ``with_emb`` fills ``Hit.embedding``."""
        return self._search(vector, k, filters or Filters(), banned, with_emb)

    def _search(
        self, vector: np.ndarray, k: int, filters: Filters, banned: set[str] | frozenset[str], with_emb: bool,
    ) -> SearchResult:
        mirror = self.store.mirror(self.catalog)  # item metadata for every path comes from here
        if filters.is_empty():
            hits = self.store.query(self.catalog, vector, k + len(banned), None, with_emb)
            return SearchResult(tuple(h for h in hits if h.id not in banned)[:k], "unfiltered")
        mask = filters.mask(mirror)
        passing = int(mask.sum())
        if passing == 0:
            return SearchResult((), "empty")
        if passing <= self.tuned("exact_scan_max"):
            return SearchResult(tuple(self._exact_scan(vector, k, filters, mirror, mask, banned, with_emb)), "exact-scan")
        overfetch = self.tuned("overfetch")
        fetch = int(np.ceil((k + len(banned)) * len(mask) / passing * overfetch))
        if fetch <= self.tuned("max_fetch"):
            raw = self.store.query(self.catalog, vector, fetch, None, with_emb, with_metadata=False)
            kept = [h for h in raw if h.id not in banned and h.id in mirror.position and mask[mirror.position[h.id]]][:k]
            if len(kept) >= min(k, passing) or len(raw) >= len(mask):
                return SearchResult(tuple(Hit(h.id, h.score, mirror.metas[mirror.position[h.id]], h.embedding)
                                          for h in kept), "post-filter")
        hits = self.store.query(self.catalog, vector, k + len(banned), filters.closed(mirror.metas).to_where(), with_emb)
        return SearchResult(tuple(h for h in hits if h.id not in banned)[:k], "chroma-filter")

    def _exact_scan(
        self, vector: np.ndarray, k: int, filters: Filters, mirror: MetaMirror, mask: np.ndarray,
        banned: set[str] | frozenset[str], with_emb: bool,
    ) -> list[Hit]:
        """Top ``k`` of the items that pass ``filters`` (minus ``banned``) by exact cosine over
        the cached vectors; ``mask`` is ``filters.mask(mirror)``."""
        cached = self.store.vector_cache_fits(self.catalog)
        if cached:
            current, vectors = self.store.mirror_vectors(self.catalog)
            if current is not mirror:  # the index changed since the mask was computed
                mirror, mask = current, filters.mask(current)
        rows = np.flatnonzero(mask)
        if banned:
            drop = {mirror.position[b] for b in banned if b in mirror.position}
            rows = rows[~np.isin(rows, list(drop))] if drop else rows
        if cached:
            matrix = vectors[rows]
        else:  # too large to cache: fetch only the passing items' vectors
            found = self.store.get_embeddings(self.catalog, [mirror.ids[r] for r in rows])
            rows = np.array([r for r in rows if mirror.ids[r] in found], dtype=np.int64)
            matrix = np.stack([found[mirror.ids[r]] for r in rows]) if len(rows) else np.zeros((0, 0), np.float32)
        if len(rows) == 0:
            return []
        sims = matrix @ np.asarray(vector, dtype=np.float32)
        top = np.argpartition(-sims, k - 1)[:k] if len(rows) > k else np.arange(len(rows))
        top = top[np.argsort(-sims[top], kind="stable")]
        return [Hit(mirror.ids[rows[j]], float(sims[j]), mirror.metas[rows[j]],
                    matrix[j].copy() if with_emb else None) for j in top]
