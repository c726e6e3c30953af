"""Candidates from several sources, fused by learned weights (the chat's candidate generation).

Sources, each honouring the hard filters exactly and never returning an excluded item:

- ``text``: the sentence-transformer retrieval of what the person asked for (Chroma); for a
  text-led request (a theme, a plot, a mood) from the catalog's theme index (EmbeddingGemma)
  when one was built (``recchat index --themes``), else from the main index (MiniLM);
- ``behaviour``: item-kNN neighbours of the liked, referenced and history films, recency
  weighted (:class:`retrieval.behaviour.Behaviour`, from the catalog's interaction data);
- ``ease``: the EASE model's best items for the same films (:mod:`retrieval.ease`; stronger than
  item-kNN on ML-1M full ranking, 0.129 vs 0.100 NDCG@10), when the behaviour model has one;
- ``sequence``: a trained sequential model's (SASRec, :mod:`retrieval.sasrec`) best next films
  for the same films in their order, when one was trained for the catalog (``recchat train
  sasrec``; 0.158 vs EASE's 0.129 NDCG@10 on ML-1M full ranking);
- ``popularity``: the most interacted-with films within the filters (a quality prior);
- ``lexical``: the films whose overview, keywords, tagline, people and genres match the words
  no rule read ("heist", "twist ending") under BM25 (:mod:`retrieval.lexical`); their BM25 score divided by the
  turn's best, times ``lexical_weight``, is added to the fused logit (a hand-set weight like
  :data:`TEXT_LED_WEIGHT`, chosen on the tuning part of the free-form suite);
- ``acclaim``: for an acclaim wish ("the critics loved", "a hidden gem"), the best regarded films
  that meet its rule (:mod:`agent.ranking.acclaim`); the rule then holds for every source's
  candidates, like a filter.

Every candidate of the union gets the features of :data:`FEATURES` (each 0..1): text cosine to
the request, item-kNN score and EASE score (each divided by the best score of the turn; EASE's
negative scores count as 0), popularity percentile,
mean rating (0 = lowest of the catalog, 1 = highest; unknown = the catalog mean), and the sequence
model's next-item probability divided by the best of the turn. The fused score
is ``bias + w . features`` (a logistic model: the weights are learned by ``recchat train
chat-fusion`` from simulated requests of training users, never the evaluation people). A catalog
without interactions has only the text source (its order is kept).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.ranking.acclaim import acclaim_scores, catalog_stats
from retrieval.behaviour import Behaviour
from retrieval.candidates import Candidate
from retrieval.config import recchat_home
from retrieval.ease import ItemScorer
from retrieval.items import Item
from retrieval.retriever import Filters, Retriever

#: In the field order of :class:`FusionWeights` (which is built positionally from a fit).
FEATURES = ("text", "behaviour", "popularity", "rating", "ease", "sequence")


@dataclass(frozen=True)
class FusionWeights:
    """Weights of :data:`FEATURES` and the bias of the fused (logistic) score."""

    text: float
    behaviour: float
    popularity: float
    rating: float
    ease: float = 0.0  # weights files written before EASE have none: 0 keeps their meaning
    sequence: float = 0.0  # nor before the sequence model
    bias: float = 0.0

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in FEATURES], dtype=np.float32)



@dataclass(frozen=True)
class FusionModel:
    """Weight sets: ``warm`` for requests with behavioural evidence (liked, referenced or
    history films) and ``cold`` for those without (only words and constraints), where the
    behavioural features are 0 for every candidate and the prior must carry the ranking;
    ``sequence`` (optional) replaces ``warm`` when a sequence model scores the candidates too
    (``warm`` and ``cold`` give the sequence feature no weight: the chat runs without one)."""

    warm: FusionWeights
    cold: FusionWeights
    sequence: FusionWeights | None = None

    def for_history(self, history: Sequence[str], with_sequence: bool = False) -> FusionWeights:
        if not history:
            return self.cold
        return self.sequence if with_sequence and self.sequence is not None else self.warm

    def save(self, path: Path, meta: dict[str, object] | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"weights": asdict(self.warm), "cold": asdict(self.cold),
               **({"sequence": asdict(self.sequence)} if self.sequence is not None else {}), **(meta or {})}
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> "FusionModel":
        doc = json.loads(path.read_text(encoding="utf-8"))
        warm = FusionWeights(**doc["weights"])
        sequence = FusionWeights(**doc["sequence"]) if "sequence" in doc else None
        return cls(warm, FusionWeights(**doc["cold"]) if "cold" in doc else warm, sequence)


#: Used when no trained weights are found (``recchat train chat-fusion`` writes them to
#: :func:`weights_path`): an even mix, so that every source counts.
UNTRAINED = FusionModel(FusionWeights(text=1.0, behaviour=1.0, popularity=1.0, rating=0.5, ease=1.0),
                        FusionWeights(text=1.0, behaviour=0.0, popularity=1.0, rating=0.5))


#: Text weight floor for requests whose words describe the film beyond the constraints ("a heist
#: film with a twist ending"). Not learned: every simulated opening of ``recchat train chat-fusion``
#: is read completely as constraints (genres, decades), so the fit finds no use for the text there
#: (cold text weight 0.06) and would rank "a heist film" by popularity alone. 4.0 was set by hand:
#: of 2, 4 and 6 tried in the chat on four such requests (heist, boxer, submarines, a romantic
#: comedy in New York), 4 put the fitting films first without losing the popularity prior.
TEXT_LED_WEIGHT = 4.0

#: The same floor when the text feature comes from the theme index (EmbeddingGemma-300M: its
#: cosines spread less than MiniLM's). Chosen on the tuning part of the free-form suite's plot and
#: mood requests (16; the held-out 8 were not looked at to choose): of 2, 4, 6, 8, 12, 16 and 24,
#: 12 and 16 gave the best tuning precision@5 (0.775, against 0.700 with MiniLM at 4.0; 6: 0.762,
#: 24: 0.762); the smaller of the two was taken.
THEME_TEXT_LED_WEIGHT = 12.0


#: Logit added to a film carrying a genre the request wishes for through a mood word ("something
#: funny" -> Comedy; agent.understanding.genres.wished_genres): a wish, not a filter, so well-matched films
#: of other genres can still rank. Not learned (the simulated openings never use mood words).
#: 2.0 was set by hand in the web chat: after "I loved The Matrix and Fight Club" + "from the 80s",
#: "something funny instead" showed Predator, E.T. and Die Hard with one comedy among five picks
#: without it, and Ghostbusters, Lethal Weapon, The Princess Bride, Ferris Bueller (+ Predator) with it.
WISHED_GENRE_WEIGHT = 2.0

#: Logit added per unit of :func:`agent.ranking.acclaim.quality` (0..1) when the request has an
#: acclaim wish, so the best regarded of the passing films rank first ("underrated ranks by
#: quality among the less rated"). Set by hand, not learned or tuned (no simulated opening asks for
#: acclaim): a quality gap of 0.1 is worth 0.6 logit, against up to 2.5 for the cold weights' whole
#: popularity range, so quality leads among the passing films without popularity vanishing; for
#: ``underrated`` the popularity weight is set to 0 (the wish is the opposite of popularity).
ACCLAIM_WEIGHT = 6.0


def weights_path(catalog: str, home: Path | None = None) -> Path:
    return (home or recchat_home()) / "models" / "chat-fusion" / f"{catalog}.json"


#: Weights shipped for the bundled catalogs, from
#: ``OMP_NUM_THREADS=1 recchat train chat-fusion --dataset movielens-1m --users 600 --sasrec sasrec-movielens-1m --out docs/results/chat-fusion``
#: (1,800 simulated openings of 600 training users, validation split, pairwise fit; held-out AUC 0.80 warm, 0.70 cold,
#: 0.84 with the sequence model; held-out MRR of the target 0.307 warm, 0.368 with the sequence model).
SHIPPED: dict[str, FusionModel] = {"movielens-1m": FusionModel(
    warm=FusionWeights(text=0.2017, behaviour=5.3097, popularity=-1.1974, rating=0.5493, ease=1.4931, bias=-7.802),
    cold=FusionWeights(text=0.0584, behaviour=0.0, popularity=2.5236, rating=0.4297, ease=0.0, bias=-6.5297),
    sequence=FusionWeights(text=-0.4623, behaviour=2.8285, popularity=-0.3325, rating=0.7853, ease=0.6989,
                           sequence=2.9596, bias=-7.3087))}


def load_weights(catalog: str, home: Path | None = None) -> FusionModel:
    """The weights trained for ``catalog`` on this machine (:func:`weights_path`), else the shipped
    ones of a bundled catalog, else :data:`UNTRAINED`."""
    path = weights_path(catalog, home)
    return FusionModel.load(path) if path.is_file() else SHIPPED.get(catalog, UNTRAINED)


def _genre_match(items: Sequence[Item], genres: Sequence[str]) -> np.ndarray:
    """Per item, 1 when it carries one of ``genres``, 1.5 when two or more ("a date night film"
    leans towards Romance and Comedy: a romantic comedy fits it best), else 0."""
    wanted = set(genres)
    counts = np.array([len(wanted & set(i.genres)) for i in items], dtype=np.float32)
    return np.minimum(counts, 1.0) + 0.5 * (counts >= 2)


@dataclass
class SourcePool:
    """The union of the sources' candidates for one request, with their features (rows of
    ``features`` follow ``items``) and which sources found each."""

    items: list[Item]
    features: np.ndarray
    sources: list[tuple[str, ...]]
    quality: np.ndarray | None = None  # per item, agent.ranking.acclaim.quality (0..1) under an acclaim rule
    lexical: np.ndarray | None = None  # per item, BM25 score / the turn's best (0..1; 0 = no match)
    shunned: np.ndarray | None = None  # per item, BM25 score for the shun words / the pool's best (0..1)


class CandidateSources:
    """Text + item-kNN + EASE + popularity (+ sequence model) candidates within the filters,
    fused by ``weights``. ``sequence`` is optional (None: its feature is 0 and ``weights.warm``
    ranks); its item ids must be the catalog's."""

    def __init__(self, retriever: Retriever, behaviour: Behaviour, weights: FusionModel, depth: int = 100,
                 sequence: ItemScorer | None = None, lexical_weight: float = 0.0,
                 themes: Retriever | None = None) -> None:
        self.retriever, self.behaviour, self.weights, self.depth = retriever, behaviour, weights, depth
        self.themes = themes  # the theme index of the same catalog (same ids), for text-led requests
        self.lexical_weight = lexical_weight
        self.sequence = sequence
        # behaviour row -> sequence model row (-1: the sequence model does not know the film)
        self._seq_rows = (np.array([sequence.pos.get(i, -1) for i in behaviour.knn.ids], dtype=np.int64)
                          if sequence is not None else None)
        self._aligned: tuple[object, np.ndarray, dict[str, int]] | None = None
        pct = behaviour.popularity_pct / 100.0
        rating = behaviour.mean_rating.astype(np.float64)
        known = rating[np.isfinite(rating)]
        lo, hi = (float(known.min()), float(known.max())) if len(known) else (0.0, 1.0)
        rating = np.where(np.isfinite(rating), rating, float(known.mean()) if len(known) else lo)
        self._pop = pct.astype(np.float32)
        self._acclaim_stats = catalog_stats(behaviour.counts, behaviour.mean_rating.astype(np.float64))
        self._rating = ((rating - lo) / max(hi - lo, 1e-9)).astype(np.float32)

    def _mirror_rows(self) -> tuple[Any, np.ndarray, dict[str, int]]:
        """The store's metadata mirror, per mirror row the behaviour index (-1 = none), and id ->
        mirror row; rebuilt only when the mirror changes (not per turn)."""
        mirror = self.retriever.store.mirror(self.retriever.catalog)
        if self._aligned is None or self._aligned[0] is not mirror:
            pos = self.behaviour.knn.pos
            self._aligned = (mirror, np.array([pos.get(i, -1) for i in mirror.ids], dtype=np.int64),
                             {i: n for n, i in enumerate(mirror.ids)})
        return self._aligned

    def pool(self, text: str | None, history: Sequence[str], filters: Filters, exclude: Sequence[str],
             acclaim: str | None = None, lexical_query: str = "", shun_query: str = "",
             text_retriever: Retriever | None = None) -> SourcePool:
        """Every source's top ``depth`` candidates (filters, exclusions and the ``acclaim`` rule
        applied) with features; ``SourcePool.quality`` holds each one's acclaim quality (0 without
        a rule), ``SourcePool.lexical`` its BM25 score / the best for ``lexical_query``,
        ``SourcePool.shunned`` its BM25 score / the pool's best for ``shun_query``. The text
        source and feature come from ``text_retriever`` (default: the main retriever)."""
        texts = text_retriever or self.retriever
        mirror, rows, index = self._mirror_rows()
        beh_all = self.behaviour.knn.scores(list(history))  # zeros without history; computed once per turn
        ease = self.behaviour.ease
        ease_all = (np.maximum(ease.scores(list(history)), 0.0) if ease is not None
                    else np.zeros(len(beh_all), dtype=np.float32))
        seq_all = self._sequence_scores(history, len(beh_all))
        banned = set(exclude) | set(history)
        keep = filters.mask(mirror) & (rows >= 0)  # behaviour / popularity sources: items with interactions
        keep &= np.array([i not in banned for i in mirror.ids], dtype=bool)
        quality: dict[str, float] = {}
        if acclaim:
            rows_now = np.flatnonzero(keep)
            counts = self.behaviour.counts[rows[rows_now]]
            means = self.behaviour.mean_rating[rows[rows_now]].astype(np.float64)
            ok, q = acclaim_scores(acclaim, [mirror.metas[r] for r in rows_now], counts, means, self._acclaim_stats)
            keep[rows_now[~ok]] = False
            quality = {mirror.ids[r]: float(v) for r, v in zip(rows_now[ok], q[ok])}
        passing = np.flatnonzero(keep)
        found: dict[str, list[str]] = {}
        if quality:
            for i in sorted(quality, key=lambda i: -quality[i])[: self.depth]:
                found.setdefault(i, []).append("acclaim")
        if len(passing):
            for name, scores in (("behaviour", beh_all), ("ease", ease_all), ("sequence", seq_all)):
                values = scores[rows[passing]]
                if history and values.max() > 0:
                    for r in passing[np.argsort(-values, kind="stable")[: self.depth]]:
                        found.setdefault(mirror.ids[r], []).append(name)
            for r in passing[np.argsort(-self._pop[rows[passing]], kind="stable")[: self.depth]]:
                found.setdefault(mirror.ids[r], []).append("popularity")
        bm25: dict[str, float] = {}
        if lexical_query.strip():
            _, index_ = self.retriever.store.mirror_lexical(self.retriever.catalog)
            if index_.key == mirror.key:  # the same rows as the mirror (a re-index in between: skip this turn)
                for r, _score, share in index_.search(lexical_query, self.depth, keep):
                    bm25[mirror.ids[r]] = share
                    found.setdefault(mirror.ids[r], []).append("lexical")
        text_cos: dict[str, float] = {}
        if text:
            for c in texts.retrieve(text, k=self.depth, filters=filters, exclude=sorted(banned)):
                if (acclaim and c.item.id not in quality) or c.item.id not in index:  # a theme index behind the catalog
                    continue
                found.setdefault(c.item.id, []).append("text")
                text_cos[c.item.id] = c.score
        ids = list(found)
        if not ids:
            return SourcePool([], np.zeros((0, len(FEATURES)), dtype=np.float32), [])
        if text:
            missing = [i for i in ids if i not in text_cos]
            if missing:
                vec = texts.query_vector(text, ())
                embs = texts.store.get_embeddings(texts.catalog, missing)
                text_cos.update({i: float(np.dot(vec, embs[i])) for i in missing if i in embs})
        b_idx = np.array([rows[index[i]] for i in ids], dtype=np.int64)
        known = b_idx >= 0  # items without interactions: no behavioural score, bottom popularity, mean rating
        safe = np.where(known, b_idx, 0)
        beh, eas, seq = (np.where(known, scores[safe], 0.0) for scores in (beh_all, ease_all, seq_all))
        beh, eas, seq = (v / v.max() if v.max() > 0 else v for v in (beh, eas, seq))
        features = np.stack([np.array([max(0.0, text_cos.get(i, 0.0)) for i in ids], dtype=np.float32), beh,
                             np.where(known, self._pop[safe], 0.0),
                             np.where(known, self._rating[safe], float(self._rating.mean())), eas, seq],
                            axis=1).astype(np.float32)
        items = [Item.from_metadata(i, mirror.metas[index[i]]) for i in ids]
        shunned = None
        if shun_query.strip():
            _, index_ = self.retriever.store.mirror_lexical(self.retriever.catalog)
            if index_.key == mirror.key:
                hits = index_.scores(shun_query)[[index[i] for i in ids]]
                shunned = (hits / hits.max() if hits.max() > 0 else hits).astype(np.float32)
        return SourcePool(items, features, [tuple(found[i]) for i in ids],
                          np.array([quality.get(i, 0.0) for i in ids], dtype=np.float32),
                          np.array([bm25.get(i, 0.0) for i in ids], dtype=np.float32), shunned)

    def _sequence_scores(self, history: Sequence[str], n: int) -> np.ndarray:
        """The sequence model's next-item probabilities (softmax over its items) per behaviour
        row; zeros without a model or a history it knows."""
        if self.sequence is None or self._seq_rows is None or not history:
            return np.zeros(n, dtype=np.float32)
        from scipy.special import softmax

        logits = self.sequence.scores(list(history)).astype(np.float64)
        if not logits.any():
            return np.zeros(n, dtype=np.float32)
        p = softmax(logits)
        return np.where(self._seq_rows >= 0, p[np.maximum(self._seq_rows, 0)], 0.0).astype(np.float32)

    def candidates(self, text: str | None, history: Sequence[str], filters: Filters, exclude: Sequence[str],
                   k: int, text_led: bool = False, wished_genres: Sequence[str] = (),
                   avoid_genres: Sequence[str] = (), acclaim: str | None = None,
                   lexical_query: str = "", shun_query: str = "",
                   rating_weight: float | None = None) -> list[Candidate]:
        """The fused top ``k`` (score = logistic score, 0..1), best first. ``text_led``: the
        request's words describe the film, so the text weight is at least :data:`TEXT_LED_WEIGHT`;
        films with one of ``wished_genres`` get :data:`WISHED_GENRE_WEIGHT` added to their logit,
        films with one of ``avoid_genres`` get it subtracted; under an ``acclaim`` rule only films
        meeting it are candidates, and :data:`ACCLAIM_WEIGHT` x quality is added; with a
        ``lexical_query`` (the words no rule read: "heist", "twist ending") ``lexical_weight`` x
        each film's BM25 share for it is added (the lexical source); a film with two or more of
        ``wished_genres`` (or ``avoid_genres``) gets 1.5 times the weight; with a ``shun_query`` ("gore
        slasher": what the person said to avoid) ``lexical_weight`` x each film's share of the
        pool's best BM25 score for it is subtracted (a film carrying every shunned word the most
        loses ``lexical_weight``; none is removed); ``rating_weight`` replaces the learned weight of
        the mean-rating feature (a mood's, :attr:`agent.understanding.moods.Mood.rating`). A
        ``text_led`` request is matched with the theme index when there is one, and its text
        weight floor is then :data:`THEME_TEXT_LED_WEIGHT`."""
        lexical = bool(lexical_query.strip()) and self.lexical_weight > 0
        themed = text_led and self.themes is not None
        pool = self.pool(text, history, filters, exclude, acclaim, lexical_query if lexical else "",
                         shun_query if self.lexical_weight > 0 else "", self.themes if themed else None)
        if not pool.items:
            return []
        w = self.weights.for_history(history, self.sequence is not None)
        floor = THEME_TEXT_LED_WEIGHT if themed else TEXT_LED_WEIGHT
        if text_led and w.text < floor:
            w = replace(w, text=floor)
        if acclaim == "underrated":
            w = replace(w, popularity=0.0)
        if rating_weight is not None:
            w = replace(w, rating=rating_weight)
        logits = pool.features @ w.vector() + w.bias
        if acclaim and pool.quality is not None:
            logits = logits + ACCLAIM_WEIGHT * pool.quality
        if lexical and pool.lexical is not None:
            logits = logits + self.lexical_weight * pool.lexical
        if pool.shunned is not None:
            logits = logits - self.lexical_weight * pool.shunned
        for genres, sign in ((wished_genres, 1.0), (avoid_genres, -1.0)):
            if genres:
                logits = logits + sign * WISHED_GENRE_WEIGHT * _genre_match(pool.items, genres)
        scores = 1.0 / (1.0 + np.exp(-logits))
        order = np.argsort(-logits, kind="stable")[:k]
        return [Candidate(item=pool.items[n], score=float(scores[n]), rank=r, sources=pool.sources[n])
                for r, n in enumerate(order)]
