"""Ranking, beyond-accuracy, explanation metrics and paired significance tests.

Accuracy metrics (one relevant item per user, the held-out target, at 1-based rank ``r`` in the
user's ranked list, ``r = inf`` when absent):

- ``NDCG@K = 1 / log2(r + 1)`` if ``r <= K`` else 0 (the ideal DCG of one relevant item is 1);
- ``Recall@K = 1`` if ``r <= K`` else 0 (= HitRate@K with one target);
- ``MRR = 1 / r`` (0 when absent: MRR over the kept list, i.e. MRR@len(list)).

They are computed per user with ranx (``ndcg@K``, ``recall@K``, ``mrr``) from a run whose
scores strictly decrease along each list (so ranx's order is exactly ours), and cross-checked
against :func:`single_target_metrics` in the tests. Means, confidence intervals and tests are
over users (every user weighs the same).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from eval.records import EvalRecord


def metric_names(cutoffs: Sequence[int]) -> list[str]:
    """``ndcg@K`` for each cut-off, then ``recall@K``, then ``mrr`` (ranx names)."""
    return [f"ndcg@{k}" for k in cutoffs] + [f"recall@{k}" for k in cutoffs] + ["mrr"]


def single_target_metrics(rank: int | None, cutoffs: Sequence[int]) -> dict[str, float]:
    """Closed-form metrics of one user (see module doc); ``rank`` is 1-based or None (absent)."""
    out: dict[str, float] = {}
    for k in cutoffs:
        hit = rank is not None and rank <= k
        out[f"ndcg@{k}"] = 1.0 / math.log2(rank + 1) if hit else 0.0  # type: ignore[operator]
    for k in cutoffs:
        out[f"recall@{k}"] = 1.0 if rank is not None and rank <= k else 0.0
    out["mrr"] = 1.0 / rank if rank is not None else 0.0
    return out


def rank_of(ranked: Sequence[str], target: str) -> int | None:
    """1-based position of ``target`` in ``ranked`` or None."""
    try:
        return list(ranked).index(target) + 1
    except ValueError:
        return None


def ranking_metrics(rankings: Mapping[str, Sequence[str]], targets: Mapping[str, str],
                    cutoffs: Sequence[int]) -> dict[str, np.ndarray]:
    """Per-user metric arrays (in the order of ``rankings``' keys) computed with ranx.

    ``rankings[u]`` is user ``u``'s list, best first, without duplicates; ``targets[u]`` the
    held-out item. Users with an empty list score 0 everywhere."""
    users = list(rankings)
    names = metric_names(cutoffs)
    out = {m: np.zeros(len(users), dtype=np.float64) for m in names}
    scored = [u for u in users if rankings[u]]
    if not scored:
        return out
    from ranx import Qrels, Run, evaluate

    qrels = Qrels({u: {targets[u]: 1} for u in scored})
    run = Run({u: {item: float(len(rankings[u]) - i) for i, item in enumerate(rankings[u])} for u in scored})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba type-safety chatter
        values = evaluate(qrels, run, names, return_mean=False, make_comparable=True)
    if len(names) == 1:
        values = {names[0]: values}
    order = {u: i for i, u in enumerate(qrels.keys())}  # ranx returns values in its (sorted) query order
    pos = {u: i for i, u in enumerate(users)}
    for m in names:
        arr = np.asarray(values[m], dtype=np.float64)
        for u in scored:
            out[m][pos[u]] = arr[order[u]]
    return out


# ----------------------------------------------------------------------------- beyond accuracy


def catalog_coverage(lists: Sequence[Sequence[str]], universe_size: int, k: int) -> float:
    """Share of the item universe that appears in at least one top-``k`` list: ``|U_u L_u[:k]| / |I|`` (0..1)."""
    if universe_size <= 0:
        return 0.0
    return len({i for lst in lists for i in lst[:k]}) / universe_size


def intra_list_diversity(items: Sequence[str], vectors: Mapping[str, np.ndarray]) -> float | None:
    """Mean pairwise cosine DISTANCE ``1 - cos(e_i, e_j)`` over the pairs of ``items`` (0..2;
    vectors are L2-normalised item embeddings); None for fewer than 2 items with vectors."""
    known = [vectors[i] for i in items if i in vectors]
    if len(known) < 2:
        return None
    mat = np.stack(known)
    sims = mat @ mat.T
    n = len(known)
    return float((n * (n - 1) - (sims.sum() - np.trace(sims))) / (n * (n - 1)))


def novelty(items: Sequence[str], popularity: Mapping[str, int], n_users: int) -> float | None:
    """Mean self-information ``-log2((pop(i) + 1) / (n_users + 1))`` of the items (bits; higher =
    less popular), ``pop(i)`` = training users who interacted with ``i`` (add-one smoothed)."""
    if not items:
        return None
    return float(np.mean([-math.log2((popularity.get(i, 0) + 1) / (n_users + 1)) for i in items]))


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class MeanCI:
    """Mean over ``n`` users with a two-sided t confidence interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    n: int


def mean_ci(values: Sequence[float], level: float = 0.95) -> MeanCI:
    """``mean ± t_{(1+level)/2, n-1} * sd / sqrt(n)`` (sd with ddof=1); degenerate for n < 2."""
    arr = np.asarray(values, dtype=np.float64)
    n = len(arr)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0)
    mean = float(arr.mean())
    if n < 2:
        return MeanCI(mean, mean, mean, n)
    from scipy import stats

    half = float(stats.t.ppf((1 + level) / 2, n - 1) * arr.std(ddof=1) / math.sqrt(n))
    return MeanCI(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class PairedTest:
    """Paired comparison of B against A over the same ``n`` users: ``diff = mean(B - A)``;
    p-values of the paired t-test and of the Wilcoxon signed-rank test (zero differences
    dropped, ``zero_method='wilcox'``; p = 1 when every difference is zero)."""

    metric: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_ttest: float
    p_wilcoxon: float

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_ttest < alpha and self.p_wilcoxon < alpha


def paired_test(metric: str, a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Paired t-test and Wilcoxon signed-rank test of ``b`` vs ``a`` (same users, same order)."""
    from scipy import stats

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in size: {len(x)} vs {len(y)}")
    d = y - x
    ci = mean_ci(d)
    if len(d) < 2 or not np.any(d):
        p_t = p_w = 1.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p_t = float(stats.ttest_rel(y, x).pvalue)
            p_w = float(stats.wilcoxon(d, zero_method="wilcox").pvalue)
        p_t = 1.0 if math.isnan(p_t) else p_t
    return PairedTest(metric, len(d), float(x.mean()) if len(x) else math.nan, float(y.mean()) if len(y) else math.nan,
                      float(d.mean()) if len(d) else math.nan, ci.low, ci.high, p_t, p_w)


# ----------------------------------------------------------------------------- explanations


@dataclass(frozen=True)
class ExplanationStats:
    """Explanation quality over all explained picks.

    ``reason_rate`` = picks shown with a (grounded-filtered) reason / picks to explain;
    ``grounded_claim_rate`` = grounded claims / all claims found in the model's reasons;
    ``invalid_output_rate`` = explanation calls that failed (engine error, unparsable or
    schema-violating output) / calls; ``dropped_entries`` = returned entries discarded (unknown
    or repeated id, empty, duplicate text); ``hallucinated_item_rate`` = recommended ids that are
    not catalog items among the shown candidates / recommended ids (must be 0)."""

    picks: int
    with_reason: int
    claims: int
    grounded_claims: int
    calls: int
    invalid_calls: int
    dropped_entries: int
    recommended: int
    hallucinated: int

    @property
    def reason_rate(self) -> float:
        return self.with_reason / self.picks if self.picks else math.nan

    @property
    def grounded_claim_rate(self) -> float:
        return self.grounded_claims / self.claims if self.claims else math.nan

    @property
    def invalid_output_rate(self) -> float:
        return self.invalid_calls / self.calls if self.calls else math.nan

    @property
    def hallucinated_item_rate(self) -> float:
        return self.hallucinated / self.recommended if self.recommended else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"picks": self.picks, "with_reason": self.with_reason, "claims": self.claims,
                "grounded_claims": self.grounded_claims, "calls": self.calls, "invalid_calls": self.invalid_calls,
                "dropped_entries": self.dropped_entries, "recommended": self.recommended,
                "hallucinated": self.hallucinated, "reason_rate": self.reason_rate,
                "grounded_claim_rate": self.grounded_claim_rate, "invalid_output_rate": self.invalid_output_rate,
                "hallucinated_item_rate": self.hallucinated_item_rate}


def explanation_stats(records: Sequence[EvalRecord]) -> ExplanationStats | None:
    """Sum the per-user ``explain`` blocks of a pipeline's records (None if none explained)."""
    blocks = [r.explain for r in records if isinstance(r.explain, Mapping)]
    if not blocks:
        return None

    def total(key: str) -> int:
        return int(sum(int(b.get(key, 0)) for b in blocks))

    return ExplanationStats(
        picks=total("picks"), with_reason=total("with_reason"), claims=total("claims"),
        grounded_claims=total("grounded_claims"), calls=len(blocks), invalid_calls=sum(1 for b in blocks if b.get("error")),
        dropped_entries=total("dropped"), recommended=sum(r.recommended for r in records),
        hallucinated=sum(r.hallucinated for r in records),
    )
