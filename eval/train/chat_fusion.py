"""``recchat train chat-fusion``: learn the weights of the chat's candidate fusion
(:mod:`agent.ranking.fusion`) from simulated requests of TRAINING users.

People: a seeded sample of users that are NOT in the evaluation sample (``eval_users`` people
drawn with the same seed are left out), on the VALIDATION split (target = the second-to-last
item, history = everything before it), so neither the evaluated people nor any test item shapes
the weights; the behaviour model is built from the validation split's training part.

For each person and start (``known``: their history; ``new``: the films they name; ``cold``:
the opening alone, no history, no film named), the
simulated person's opening message is read by the agent's own rules (the same profile update as
the chat), the candidate pool of the three sources is built within the parsed filters, and every
pooled film becomes one row (features of :data:`agent.ranking.fusion.FEATURES`; label 1 for the target).
Two weight sets are fit: ``warm`` on the requests with a history (the behavioural features carry
most), ``cold`` on those without (where they are 0 and the prior must rank); with ``sasrec`` (a
model trained by ``recchat train sasrec`` on the validation split's histories: it never trained on
a target used here, though 1,000 of its validation targets chose its epoch) a third, ``sequence``,
on the warm requests with the sequence model's feature, while ``warm`` is fit without it (for a
chat without a trained model). Each is a pairwise
(RankNet-style) logistic regression on the feature differences "target minus other pooled film" of
the same request, each request weighing 1 in total, since the chat only ever compares films of one
request (a pointwise fit over all rows ranked below its own best single feature once EASE joined
the pool); a 1-D logistic fit on the resulting scores then sets the scale and bias so the fused score
stays a probability. 20% of the people are held out to report ROC-AUC and the target's mean
reciprocal rank in the fused order against each single source and the pointwise fit.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.ranking.fusion import FEATURES, UNTRAINED, CandidateSources, FusionModel, FusionWeights, weights_path
from eval.conversation import own_films, ratings_lookup
from eval.simulator import SimulatedPerson
from eval.splits import UserCase, leave_one_out, sample_users

if TYPE_CHECKING:
    from retrieval.store import ChromaStore


@dataclass
class FusionTrainResult:
    weights: FusionModel
    report: dict[str, Any]
    path: Path


def _rows(case: UserCase, start: str, sources: CandidateSources, vocab: Any, items: dict, ratings: dict,
          seed: int) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """Pool rows of one simulated opening (``start``: known, new, or cold = the opening alone);
    None when the target is not in the pool. The flag says whether there was a history."""
    from agent.understanding.profile import InterestProfile
    from agent.understanding.profile_update import apply_extraction
    from agent.understanding.rules import parse_rules

    person = SimulatedPerson(items[case.target], start="known" if start == "cold" else start,  # type: ignore[arg-type]
                             seed=seed, own_films=own_films(case, ratings, items) if start == "new" else ())
    message = person.opening()
    profile, titles = InterestProfile(), {}
    ex = parse_rules(message, vocab, ())
    apply_extraction(profile, titles, ex, message, ())
    liked = [r.item_id for r in profile.liked_items]
    base = list(case.history[-50:]) if start == "known" else []
    history = [h for h in base if h not in liked] + liked
    pool = sources.pool(profile.query_text() or message, history, profile.to_filters(),
                        [r.item_id for r in profile.disliked_items])
    ids = [i.id for i in pool.items]
    if case.target not in ids:
        return None
    return pool.features, np.array([float(i == case.target) for i in ids], dtype=np.float32), bool(history)


def _rr(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(-scores, kind="stable")
    hit = np.flatnonzero(labels[order] > 0)
    return 1.0 / (hit[0] + 1) if len(hit) else 0.0


def fit_pairwise(requests: list[tuple[np.ndarray, np.ndarray]]) -> FusionWeights:
    """Weights ranking each request's target above its other pooled films (see the module doc)."""
    from sklearn.linear_model import LogisticRegression

    diffs, weights = [], []
    for x, y in requests:
        d = x[y > 0][0] - x[y == 0]
        diffs.append(d)
        weights.append(np.full(len(d), 1.0 / max(1, len(d)), dtype=np.float64))
    d, w = np.concatenate(diffs), np.concatenate(weights)
    ranker = LogisticRegression(C=1.0, fit_intercept=False, max_iter=1000).fit(
        np.concatenate([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))], sample_weight=np.r_[w, w])
    direction = ranker.coef_[0]
    x, y = np.concatenate([r[0] for r in requests]), np.concatenate([r[1] for r in requests])
    scale = LogisticRegression(C=1.0, max_iter=1000).fit((x @ direction)[:, None], y)
    coef = direction * max(float(scale.coef_[0][0]), 1e-6)  # a positive scale keeps the order
    return FusionWeights(*map(float, coef), bias=float(scale.intercept_[0]))


def train_chat_fusion(dataset: str = "movielens-1m", users: int = 600, eval_users: int = 200, seed: int = 0,
                      out: Path | None = None, progress: bool = True, sasrec: str | None = None,
                      store: "ChromaStore | None" = None, home: Path | None = None) -> FusionTrainResult:
    """Fit and save the fusion weights of ``dataset``'s catalog (see the module doc); ``sasrec``: a
    trained SASRec name or folder whose feature gets the ``sequence`` weight set. ``store``: an
    open store to index the catalog in (default: the home's); ``home``: where the weights file
    goes (default: :func:`retrieval.config.recchat_home`)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from tqdm.auto import tqdm

    from agent.understanding.vocabulary import vocabulary_from_mirror
    from eval.data import load_dataset
    from retrieval.behaviour import Behaviour
    from retrieval.retriever import Retriever
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    t0 = time.perf_counter()
    data = load_dataset(dataset)
    test_cases = leave_one_out(data.interactions, "test", seed).cases
    evaluated = {c.user_id for c in sample_users(test_cases, eval_users, seed)}
    split = leave_one_out(data.interactions, "validation", seed)
    pool_cases = [c for c in split.cases if c.user_id not in evaluated]
    people = random.Random(seed).sample(sorted(pool_cases, key=lambda c: c.user_id), min(users, len(pool_cases)))
    held = {(c.user_id, c.target) for c in split.cases} | {(c.user_id, c.target) for c in test_cases}
    frame = data.interactions
    pairs = [(str(i), float(r)) for u, i, r in zip(frame["user_id"], frame["item_id"], frame["rating"])
             if r == r and (str(u), str(i)) not in held]
    universe = sorted(set(frame["item_id"].astype(str)) & {i.id for i in data.items})
    behaviour = Behaviour.build([list(c.history) for c in split.cases], universe, pairs)
    store = store if store is not None else ChromaStore(RetrievalSettings())
    store.index(dataset, data.items, progress=progress)
    retriever = Retriever(store, dataset)
    sequence, sequence_files = None, []
    if sasrec is not None:
        from retrieval.sasrec import load_sasrec

        sequence, sequence_files = load_sasrec(sasrec)
    # the pools of a chat without the sequence model (warm, cold) and, with one, of a chat with it
    pools = {"plain": CandidateSources(retriever, behaviour, UNTRAINED)}
    if sequence is not None:
        pools["sequence"] = CandidateSources(retriever, behaviour, UNTRAINED, sequence=sequence)
    vocab = vocabulary_from_mirror(store.mirror(dataset))
    items, ratings = data.item_map, ratings_lookup(frame)
    found: dict[str, list[tuple[str, np.ndarray, np.ndarray, bool]]] = {k: [] for k in pools}
    starts = ("known", "new", "cold")  # cold: the opening alone, no history and no films named
    for case in tqdm(people, desc="simulated requests", disable=not progress):
        for start in starts:
            for kind, sources in pools.items():
                got = _rows(case, start, sources, vocab, items, ratings, seed) if case.target in items else None
                if got is not None:
                    found[kind].append((case.user_id, *got))
    rows = found["plain"]
    users_with_rows = sorted({r[0] for r in rows})
    test_users = set(random.Random(seed + 1).sample(users_with_rows, max(1, len(users_with_rows) // 5)))
    fitted: dict[str, FusionWeights] = {}
    report: dict[str, Any] = {
        "dataset": dataset, "split": "validation", "people": len(people), "eval_users_left_out": len(evaluated),
        "seed": seed, "requests": len(starts) * len(people), "requests_with_target_in_pool": len(rows),
        "pool_recall": len(rows) / (len(starts) * len(people)) if people else None, "held_out_people": len(test_users),
        "sequence_model": ",".join(str(f.parent) for f in sequence_files) or None,
    }
    if sequence is not None:
        report["pool_recall_with_sequence"] = len(found["sequence"]) / (len(starts) * len(people))
    kinds = (("warm", True, "plain"), ("cold", False, "plain")) + ((("sequence", True, "sequence"),) if sequence is not None else ())
    for kind, warm, pool in kinds:
        train = [(x, y) for u, x, y, h in found[pool] if h == warm and u not in test_users]
        test = [(x, y) for u, x, y, h in found[pool] if h == warm and u in test_users]
        x, y = np.concatenate([r[0] for r in train]), np.concatenate([r[1] for r in train])
        pointwise = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
        fitted[kind] = w = fit_pairwise(train)
        xt, yt = np.concatenate([r[0] for r in test]), np.concatenate([r[1] for r in test])
        even = UNTRAINED.warm if warm else UNTRAINED.cold
        report[kind] = {
            "requests": len(train) + len(test), "rows": int(len(y) + len(yt)),
            "weights": dict(zip(FEATURES, map(float, w.vector()))) | {"bias": w.bias},
            "held_out_auc": float(roc_auc_score(yt, xt @ w.vector())),
            "held_out_mrr_fused": float(np.mean([_rr(xx @ w.vector(), yy) for xx, yy in test])),
            "held_out_mrr_pointwise_fit": float(np.mean([_rr(xx @ pointwise.coef_[0], yy) for xx, yy in test])),
            "held_out_mrr_single_feature": {f: float(np.mean([_rr(xx[:, n], yy) for xx, yy in test]))
                                            for n, f in enumerate(FEATURES)},
            "held_out_mrr_untrained_even_mix": float(np.mean([_rr(xx @ even.vector(), yy) for xx, yy in test])),
        }
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    weights = FusionModel(fitted["warm"], fitted["cold"], fitted.get("sequence"))
    path = weights.save(weights_path(dataset, home), {"report": report})
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "fit.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return FusionTrainResult(weights, report, path)

