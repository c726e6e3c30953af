"""Train the cross-encoder ranker (``recchat train ranker``) on the leave-one-out split.

Data (nothing of a user's validation or test interaction ever enters a TRAINING pair):

- The validation split of :func:`eval.splits.leave_one_out` gives, per user, ``history`` =
  everything before the second-to-last interaction (the TRAINING part) and ``target`` = the
  validation item. The test item is the last interaction and appears in neither.
- Training positives: the last ``positions_per_user`` positions ``t`` of the training part,
  query = history ``[:t]``, positive = item ``t``.
- Negatives per positive: ``negatives_per_positive``, of which a share ``hard_ratio`` are
  *hard* (drawn from the top ``hard_pool`` items of the history-embedding retriever for that
  query, MiniLM item vectors, recency-weighted mean with the retriever's half-life) and the rest
  uniform over the universe. Negatives never include any item the user interacted with at any
  time (so a held-out item is never labelled "not consumed").
- Validation pairs (same construction with the validation target) of ``val_users`` users,
  split by user into an early-stopping half and a held-out reporting half.

With ``behaviour`` (a trained SASRec, ``--behaviour NAME``) the pairs come instead from the
lists the ranker will rerank, on the VALIDATION targets (SASRec never trained on them):

- users are split once: ``val_users`` for validation (half early stopping, half report), the
  rest (at most ``max_users``) for training; a user is in one part only.
- per user, the list is SASRec's top ``list_k`` for the history (history masked). When the
  validation target is in it, the negatives are ``negatives_per_positive`` other items of that
  list (kind ``hard``: what a reranker of that list must tell apart); otherwise they are uniform
  over the catalog (kind ``random``: as in the sampled protocol). Mixing the two keeps the
  label monotone in the rank (a positive outside the list is never set against list items).
- every candidate text starts with :func:`agent.ranking.cross_encoder.behaviour_text` (SASRec
  rank bucket, popularity bucket from the training histories), saved as ``behaviour.json``; the
  same buckets feed a linear head added to the logit (``head_lr``), saved as ``behaviour_head.pt``.
- the report half uses ``report_negatives`` negatives per user (19: the whole list), and the
  metadata adds the ROC-AUC of the SASRec rank alone on the same pairs, overall and per kind.

Model: the bundled MiniLM checkpoint loaded as ``AutoModelForSequenceClassification`` with one
output (new head), BCE-with-logits, AdamW (``lr`` 2e-5 default, linear warm-up then decay),
evaluated every ``eval_every`` steps; early stopping on the validation loss with ``patience``
evaluations; the best weights are published.

Output: ``<home>/models/rankers/<name>/v<N>/`` (atomic publish: a crashed run never leaves a
half model there) holding the model, the tokenizer and
:data:`agent.ranking.cross_encoder.RANKER_META` (config, data stats, metrics on held-out pairs,
wall and CPU seconds). Work in progress lives in ``<home>/models/rankers/<name>/.work/`` with a
checkpoint every ``checkpoint_every`` steps; re-running the same command resumes from it (a
different config is refused unless ``fresh``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.understanding.context import build_context
from agent.ranking.cross_encoder import (BEHAVIOUR_FILE, BEHAVIOUR_HEAD, RANKER_META, behaviour_features, behaviour_head,
                                        behaviour_text, candidate_text, context_query, encode_pairs, head_scores,
                                        popularity_shares, score_with)
from agent.types import Turn
from eval.settings import DEFAULT_INSTRUCTION
from eval.splits import SplitResult, UserCase, leave_one_out, sample_users
from retrieval.items import Item

if TYPE_CHECKING:
    import pandas as pd

    from retrieval.ease import ItemScorer

PairKind = Literal["positive", "random", "hard"]


class RankerTrainConfig(BaseModel):
    """Everything that defines a training run (stored in the model directory)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field("movielens-100k", description="bundled dataset the pairs come from")
    name: str = Field("ce-ml100k", description="ranker name: <home>/models/rankers/<name>/v<N>")
    base: str = Field("minilm", description="starting checkpoint: 'minilm' (bundled) or a local model folder")
    seed: int = 0
    min_rating: float | None = None
    max_users: int | None = Field(None, ge=1, description="training users (seeded sample); None = all")
    positions_per_user: int = Field(1, ge=1, description="newest training-part positions used as positives per user")
    negatives_per_positive: int = Field(3, ge=1)
    hard_ratio: float = Field(0.5, ge=0.0, le=1.0, description="share of negatives drawn from the retriever's top")
    hard_pool: int = Field(50, ge=1, description="retriever top-N that hard negatives are drawn from")
    max_train_pairs: int | None = Field(4000, ge=2, description="cap on training pairs (positives * (1 + negatives))")
    val_users: int = Field(200, ge=2, description="users whose validation pairs are built (half early stopping, half report)")
    history_window: int = Field(50, ge=1, description="newest history items in the query (as the eval pipeline)")
    context_budget: int = Field(1500, ge=64, description="word budget of the context (as the eval pipeline)")
    instruction: str = DEFAULT_INSTRUCTION
    max_length: int = Field(256, ge=32, le=512, description="tokens per pair (query truncated first)")
    epochs: int = Field(2, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(2e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, le=0.5)
    eval_every: int = Field(100, ge=1, description="steps between validation evaluations")
    patience: int = Field(3, ge=1, description="evaluations without val-loss improvement before stopping")
    checkpoint_every: int = Field(50, ge=1, description="steps between resumable checkpoints")
    max_steps: int | None = Field(None, ge=1, description="hard cap on optimiser steps (quick runs)")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (None = torch default)")
    train_layers: int | None = Field(None, ge=0, description="train only the top N encoder layers (+ pooler, head); "
                                     "None = all. Fewer = cheaper backward on CPU")
    bf16: bool = Field(False, description="bf16 autocast for training forward passes (evaluation stays fp32); off by "
                       "default: 5-7x SLOWER than fp32 on a CPU without native bf16 (AVX2 only, measured here)")
    behaviour: str | None = Field(None, description="trained SASRec (name or folder): pairs from its lists and its "
                                  "rank + a popularity bucket in every candidate text (module doc)")
    list_k: int = Field(20, ge=2, description="size of the behaviour list the ranker reranks")
    report_negatives: int = Field(19, ge=1, description="negatives per report user (behaviour pairs)")
    head_lr: float = Field(1e-2, gt=0, description="learning rate of the behaviour head (behaviour pairs)")

    def fingerprint(self) -> dict[str, Any]:
        return self.model_dump(exclude={"threads"})


@dataclass(frozen=True)
class Pair:
    """One labelled (query, candidate) pair. ``label`` 1 = the item the user consumed next."""

    user: str
    query: str
    item: str
    label: int
    kind: PairKind
    position: int  # index in the user's de-duplicated time-ordered sequence of the positive
    rank: int | None = None  # 0-based catalog rank by the behaviour source (behaviour pairs only)
    behaviour: str = ""  # behaviour_text of the candidate ("" = none)


@dataclass
class PairSet:
    train: list[Pair]
    val_es: list[Pair]  # early stopping
    val_report: list[Pair]  # held-out reporting
    stats: dict[str, Any] = field(default_factory=dict)
    behaviour: dict[str, Any] | None = None  # BEHAVIOUR_FILE content when the pairs carry behaviour


# ----------------------------------------------------------------------------- pair building


def query_for(history: Sequence[Item], cfg: RankerTrainConfig) -> str:
    """The query text for a history (oldest -> newest), built exactly as at ranking time:
    :func:`agent.understanding.context.build_context` (word-count budget, as the rerank pipeline does for a
    ranker without an LLM engine) then :func:`agent.ranking.cross_encoder.context_query`."""
    window = list(history)[-cfg.history_window:]
    ctx = build_context([Turn("user", cfg.instruction)], lambda text: len(text.split()), cfg.context_budget,
                        history=window)
    return context_query(ctx)


class HistoryRetriever:
    """In-memory twin of the eval ``retrieval`` stage: recency-weighted mean of the history
    items' unit vectors (half-life ``half_life`` items), cosine against every item."""

    def __init__(self, ids: Sequence[str], vectors: np.ndarray, half_life: float = 5.0) -> None:
        self.ids = list(ids)
        self.pos = {i: n for n, i in enumerate(self.ids)}
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.half_life = half_life

    def top(self, history: Sequence[str], n: int, banned: set[str]) -> list[str]:
        from retrieval.retriever import recency_weights

        known = [h for h in history if h in self.pos]
        if not known:
            return []
        w = recency_weights(len(known), self.half_life)
        q = (w[:, None] * self.vectors[[self.pos[h] for h in known]]).sum(axis=0)
        q /= np.linalg.norm(q) or 1.0
        scores = self.vectors @ q
        out: list[str] = []
        for idx in np.argsort(-scores, kind="stable"):
            item = self.ids[idx]
            if item not in banned:
                out.append(item)
                if len(out) >= n:
                    break
        return out


def item_vectors(items: Sequence[Item], embedder_name: str = "minilm", progress: bool = True,
                 home: Path | None = None) -> np.ndarray:
    """Unit vectors of ``items``' documents (as the Chroma index holds them), cached in
    ``<home>/cache/item-vectors/<sha256 of embedder id + documents>.npy``."""
    import hashlib

    from retrieval.config import recchat_home
    from retrieval.embedder import Embedder

    embedder = Embedder(embedder_name)
    docs = [i.document() for i in items]
    key = hashlib.sha256(json.dumps([embedder.model_id, docs]).encode("utf-8")).hexdigest()[:24]
    path = (home or recchat_home()) / "cache" / "item-vectors" / f"{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = embedder.encode(docs, progress=progress, kind="document")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors


def user_sequences(frame: "pd.DataFrame", min_rating: float | None = None) -> dict[str, list[str]]:
    """Every user's de-duplicated, time-ordered items (the order :func:`leave_one_out` uses)."""
    if min_rating is not None:
        frame = frame[frame["rating"] >= min_rating]
    keys = ["user_id", "row"] if frame["timestamp"].isna().any() else ["user_id", "timestamp", "row"]
    ordered = frame.sort_values(keys, kind="stable").drop_duplicates(["user_id", "item_id"], keep="first")
    return {str(u): list(g) for u, g in ordered.groupby("user_id", sort=True)["item_id"]}


def _negatives(rng: random.Random, k: int, hard_k: int, hard_pool: Sequence[str], universe: Sequence[str],
               banned: set[str]) -> list[tuple[str, PairKind]]:
    hard = [i for i in hard_pool if i not in banned]
    chosen: list[tuple[str, PairKind]] = [(i, "hard") for i in rng.sample(hard, min(hard_k, len(hard)))]
    used = banned | {i for i, _ in chosen}
    tries = 0
    while len(chosen) < k and tries < 50 * k:
        tries += 1
        item = universe[rng.randrange(len(universe))]
        if item not in used:
            used.add(item)
            chosen.append((item, "random"))
    return chosen


def build_pairs(validation: SplitResult, items: Mapping[str, Item], seen: Mapping[str, set[str]],
                cfg: RankerTrainConfig, retriever: HistoryRetriever | None) -> PairSet:
    """Training and validation pairs (see module doc).

    ``validation`` must be the VALIDATION split (its histories are the training parts);
    ``seen[user]`` = every item the user ever interacted with (only used to keep negatives
    away from them). Deterministic for (data, cfg). Raises ValueError on a test split."""
    if validation.split != "validation":
        raise ValueError("pairs are built from the validation split (its histories are the training parts)")
    universe = sorted(i for i in {i for s in seen.values() for i in s} if i in items)
    n_neg = cfg.negatives_per_positive
    n_hard = int(round(n_neg * cfg.hard_ratio)) if retriever is not None else 0
    cases = sample_users(validation.cases, cfg.max_users, cfg.seed)
    max_pos = (cfg.max_train_pairs // (1 + n_neg)) if cfg.max_train_pairs else None
    train: list[Pair] = []
    # round-robin over users: newest positions first, so a cap keeps the most recent ones
    for depth in range(cfg.positions_per_user):
        for case in cases:
            if max_pos is not None and len(train) // (1 + n_neg) >= max_pos:
                break
            hist = case.history  # the training part: never holds the validation/test item
            t = len(hist) - 1 - depth
            if t < 1:
                continue
            rng = random.Random(f"{cfg.seed}:{case.user_id}:{t}:pairs")
            prefix = [items[i] for i in hist[:t] if i in items]
            query = query_for(prefix, cfg)
            banned = set(seen.get(case.user_id, ())) | set(hist)
            pool = retriever.top(hist[:t], cfg.hard_pool, banned) if retriever is not None and n_hard else []
            train.append(Pair(case.user_id, query, hist[t], 1, "positive", t))
            train += [Pair(case.user_id, query, i, 0, kind, t) for i, kind in
                      _negatives(rng, n_neg, n_hard, pool, universe, banned)]
    val_cases = sample_users(validation.cases, cfg.val_users, cfg.seed + 1)
    val: list[list[Pair]] = [[], []]
    for n, case in enumerate(val_cases):
        rng = random.Random(f"{cfg.seed}:{case.user_id}:validation")
        query = query_for([items[i] for i in case.history if i in items], cfg)
        banned = set(seen.get(case.user_id, ())) | set(case.history) | {case.target}
        pool = retriever.top(case.history, cfg.hard_pool, banned) if retriever is not None and n_hard else []
        pairs = [Pair(case.user_id, query, case.target, 1, "positive", len(case.history))]
        pairs += [Pair(case.user_id, query, i, 0, kind, len(case.history)) for i, kind in
                  _negatives(rng, n_neg, n_hard, pool, universe, banned)]
        val[n % 2] += pairs
    stats = {"train_pairs": len(train), "train_positives": sum(p.label for p in train),
             "train_hard_negatives": sum(p.kind == "hard" for p in train),
             "train_users": len({p.user for p in train}), "val_es_pairs": len(val[0]),
             "val_report_pairs": len(val[1]), "val_users": len(val_cases), "universe": len(universe)}
    return PairSet(train, val[0], val[1], stats)


def build_behaviour_pairs(validation: SplitResult, items: Mapping[str, Item], seen: Mapping[str, set[str]],
                          cfg: RankerTrainConfig, scorer: "ItemScorer", popularity: Mapping[str, float]) -> PairSet:
    """Pairs from the behaviour source's lists on the validation targets (module doc).
    Deterministic for (data, cfg, model). Raises ValueError on a test split."""
    if validation.split != "validation":
        raise ValueError("pairs are built from the validation split (its histories are the training parts)")
    universe = sorted(i for i in scorer.ids if i in items)
    val_cases = sample_users(validation.cases, cfg.val_users, cfg.seed + 1)
    held = {c.user_id for c in val_cases}
    rest = sorted((c for c in validation.cases if c.user_id not in held), key=lambda c: c.user_id)
    train_cases = random.Random(cfg.seed).sample(rest, min(len(rest), cfg.max_users or len(rest)))

    def user_pairs(case: UserCase, n_neg: int) -> list[Pair]:
        rng = random.Random(f"{cfg.seed}:{case.user_id}:behaviour")
        banned = set(seen.get(case.user_id, ())) | set(case.history) | {case.target}
        listed = scorer.top(case.history, cfg.list_k)
        if case.target in listed:
            pool = [i for i in listed if i not in banned and i in items]
            chosen = [(i, "hard") for i in rng.sample(pool, min(n_neg, len(pool)))]
        else:
            chosen = _negatives(rng, n_neg, 0, [], universe, banned)
        ids = [case.target] + [i for i, _ in chosen]
        ranks = scorer.ranks(case.history, ids)
        query = query_for([items[i] for i in case.history if i in items], cfg)
        t = len(case.history)
        return [Pair(case.user_id, query, i, int(n == 0), "positive" if n == 0 else chosen[n - 1][1], t, r,
                     behaviour_text(r, popularity.get(i)))
                for n, (i, r) in enumerate(zip(ids, ranks))]

    train: list[Pair] = []
    max_users = (cfg.max_train_pairs // (1 + cfg.negatives_per_positive)) if cfg.max_train_pairs else None
    for case in train_cases[:max_users]:
        train += user_pairs(case, cfg.negatives_per_positive)
    val: list[list[Pair]] = [[], []]
    for n, case in enumerate(val_cases):
        val[n % 2] += user_pairs(case, cfg.negatives_per_positive if n % 2 == 0 else cfg.report_negatives)
    stats = {"train_pairs": len(train), "train_positives": sum(p.label for p in train),
             "train_hard_negatives": sum(p.kind == "hard" for p in train),
             "train_users": len({p.user for p in train}), "val_es_pairs": len(val[0]),
             "val_report_pairs": len(val[1]), "val_users": len(val_cases), "universe": len(universe),
             "report_users_target_in_list": len({p.user for p in val[1] if p.kind == "hard"})}
    return PairSet(train, val[0], val[1], stats)


def prepare_pairs(cfg: RankerTrainConfig, progress: bool = True, dataset: Any | None = None) -> tuple[PairSet, dict[str, Item]]:
    """Load the dataset (or use ``dataset``, an :class:`eval.data.EvalDataset`), split, build pairs."""
    from eval.data import load_dataset

    data = dataset or load_dataset(cfg.dataset)
    validation = leave_one_out(data.interactions, "validation", cfg.seed, cfg.min_rating)
    seqs = user_sequences(data.interactions, cfg.min_rating)
    seen = {u: set(s) for u, s in seqs.items()}
    items = data.item_map
    if cfg.behaviour is not None:
        from retrieval.sasrec import SASRec, resolve_sasrec

        folder = resolve_sasrec(cfg.behaviour)
        counts: dict[str, int] = {}
        for case in validation.cases:  # the training parts only
            for i in case.history:
                counts[i] = counts.get(i, 0) + 1
        popularity = popularity_shares(counts)
        pairs = build_behaviour_pairs(validation, items, seen, cfg, SASRec.load(folder), popularity)
        pairs.behaviour = {"source": str(folder), "popularity": popularity,
                           "features": ["rank_bucket", "popularity_bucket", "log_rank"]}
        return pairs, items
    retriever = None
    if cfg.hard_ratio > 0:
        universe = sorted({i for s in seen.values() for i in s if i in items})
        retriever = HistoryRetriever(universe, item_vectors([items[i] for i in universe], progress=progress))
    return build_pairs(validation, items, seen, cfg, retriever), items


# ----------------------------------------------------------------------------- metrics


def pair_metrics(labels: Sequence[int], logits: Sequence[float], threshold: float = 0.0) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (positive when logit > ``threshold``; 0 = probability
    0.5), ROC-AUC and the mean BCE loss (nats) of pairs."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    y = np.asarray(labels, dtype=np.int64)
    z = np.asarray(logits, dtype=np.float64)
    pred = (z > threshold).astype(np.int64)
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z)) if len(y) else float("nan")
    return {"loss": loss, "accuracy": float(accuracy_score(y, pred)),
            "precision": float(precision_score(y, pred, zero_division=0)),
            "recall": float(recall_score(y, pred, zero_division=0)), "f1": float(f1_score(y, pred, zero_division=0)),
            "roc_auc": float(roc_auc_score(y, z)) if 0 < y.sum() < len(y) else float("nan"), "pairs": int(len(y))}


def f1_threshold(labels: Sequence[int], logits: Sequence[float]) -> float:
    """The logit threshold with the best F1 on these (validation) pairs: the midpoint between
    two consecutive distinct logits (0.0 when there is no positive)."""
    from sklearn.metrics import precision_recall_curve

    y = np.asarray(labels, dtype=np.int64)
    if not y.sum():
        return 0.0
    precision, recall, cuts = precision_recall_curve(y, np.asarray(logits, dtype=np.float64))
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = int(np.argmax(f1))  # predicts positive when logit >= cuts[best]
    below = np.asarray(logits, dtype=np.float64)
    below = below[below < cuts[best]]
    return float((cuts[best] + below.max()) / 2) if len(below) else float(cuts[best]) - 1e-6


def behaviour_breakdown(pairs: Sequence[Pair], logits: Sequence[float]) -> dict[str, Any]:
    """ROC-AUC of the model and of the behaviour rank alone (lower rank = more likely), on all
    ``pairs`` and on the users whose target is in the list (``hard``) or not (``random``)."""
    from sklearn.metrics import roc_auc_score

    hard_users = {p.user for p in pairs if p.kind == "hard"}
    out: dict[str, Any] = {}
    for name, keep in (("all", lambda p: True), ("target_in_list", lambda p: p.user in hard_users),
                       ("target_outside_list", lambda p: p.user not in hard_users)):
        idx = [n for n, p in enumerate(pairs) if keep(p)]
        y = np.array([pairs[n].label for n in idx])
        if not 0 < y.sum() < len(y):
            continue
        rank = np.array([-(pairs[n].rank if pairs[n].rank is not None else 10**9) for n in idx], dtype=np.float64)
        out[name] = {"pairs": len(idx), "users": len({pairs[n].user for n in idx}),
                     "roc_auc": float(roc_auc_score(y, np.asarray(logits, dtype=np.float64)[idx])),
                     "roc_auc_behaviour_rank_alone": float(roc_auc_score(y, rank))}
    return {"heldout_by_list": out}


# ----------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """A published ranker: its directory and what went into its metadata file."""

    path: Path
    meta: dict[str, Any]


def rankers_root(name: str, home: Path | None = None) -> Path:
    from retrieval.config import recchat_home

    return (home or recchat_home()) / "models" / "rankers" / name


def _next_version(root: Path) -> str:
    nums = [int(p.name[1:]) for p in root.glob("v*") if p.name[1:].isdigit()]
    return f"v{max(nums, default=0) + 1}"


def _base_path(base: str) -> str:
    from retrieval.embedder import resolve_embedder

    return resolve_embedder(base)


def _texts(pairs: Sequence[Pair], items: Mapping[str, Item]) -> tuple[list[str], list[str], np.ndarray]:
    return ([p.query for p in pairs], [candidate_text(items[p.item], behaviour=p.behaviour or None) for p in pairs],
            np.asarray([p.label for p in pairs], dtype=np.float32))


def freeze_below(model: Any, train_layers: int | None) -> None:
    """Freeze the embeddings and all but the top ``train_layers`` encoder layers (None: nothing)."""
    if train_layers is None:
        return
    layers = model.base_model.encoder.layer
    frozen = [model.base_model.embeddings, *layers[: max(0, len(layers) - train_layers)]]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train_ranker(cfg: RankerTrainConfig, *, home: Path | None = None, progress: bool = True, fresh: bool = False,
                 dataset: Any | None = None, log: Callable[[str], None] | None = None) -> TrainResult:
    """Build pairs, fine-tune, early-stop on validation loss, publish ``v<N>`` (module doc)."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from retrieval.assets import atomic_dir, build_lock

    say = log or (lambda m: print(f"[train ranker] {m}", flush=True))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    root = rankers_root(cfg.name, home)
    work = root / ".work"
    root.mkdir(parents=True, exist_ok=True)
    with build_lock(root / ".work"):
        if work.exists():
            try:
                theirs = json.loads((work / "config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                theirs = None
            if fresh or theirs != json.loads(json.dumps(cfg.fingerprint())):
                if theirs is not None and not fresh:
                    raise ValueError(f"{work} holds an unfinished run with another config; pass --fresh to discard it")
                shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
        (work / "config.json").write_text(json.dumps(cfg.fingerprint(), indent=1), encoding="utf-8")

        pairs, items = prepare_pairs(cfg, progress, dataset)
        say(f"pairs: {pairs.stats}")
        torch.manual_seed(cfg.seed)
        base = _base_path(cfg.base)
        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, local_files_only=True)
        freeze_below(model, cfg.train_layers)
        head = behaviour_head() if pairs.behaviour is not None else None
        groups: list[dict[str, Any]] = [{"params": [p for p in model.parameters() if p.requires_grad]}]
        if head is not None:
            groups.append({"params": list(head.parameters()), "lr": cfg.head_lr, "weight_decay": 0.0})
        opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = max(1, (len(pairs.train) + cfg.batch_size - 1) // cfg.batch_size)
        total = steps_per_epoch * cfg.epochs if cfg.max_steps is None else min(cfg.max_steps, steps_per_epoch * cfg.epochs)
        sched = get_linear_schedule_with_warmup(opt, int(total * cfg.warmup_ratio), total)
        state: dict[str, Any] = {"step": 0, "best_loss": float("inf"), "best_step": 0, "bad_evals": 0, "evals": [],
                                 "stopped_early": False, "prior_wall_s": 0.0, "prior_cpu_s": 0.0}
        ckpt = work / "checkpoint.pt"
        best_path = work / "best.pt"
        if ckpt.is_file():
            saved = torch.load(ckpt, map_location="cpu", weights_only=True)
            model.load_state_dict(saved["model"])
            if head is not None:
                head.load_state_dict(saved["head"])
            opt.load_state_dict(saved["optimizer"])
            sched.load_state_dict(saved["scheduler"])
            state = saved["state"]
            say(f"resumed from step {state['step']} of {total}")

        q_es, t_es, y_es = _texts(pairs.val_es, items)
        popularity = pairs.behaviour["popularity"] if pairs.behaviour is not None else {}

        def features(batch: Sequence[Pair]) -> list[list[float]]:
            return [behaviour_features(p.rank, popularity.get(p.item)) for p in batch]

        def with_head(logits: np.ndarray, batch: Sequence[Pair]) -> np.ndarray:
            return logits if head is None else logits + head_scores(head, features(batch))

        def es_logits() -> np.ndarray:
            model.eval()
            logits = with_head(score_with(model, tokenizer, q_es, t_es, cfg.max_length, 64), pairs.val_es)
            model.train()
            return logits

        def evaluate() -> dict[str, float]:
            return pair_metrics(y_es.astype(int), es_logits())

        if not state["evals"]:
            first = evaluate()
            state["evals"].append({"step": 0, **first})
            state["initial_val_loss"] = first["loss"]
            say(f"step 0: val loss {first['loss']:.4f} auc {first['roc_auc']:.3f}")
        bar = tqdm(total=total, initial=state["step"], desc=f"train {cfg.name}", unit="step", disable=not progress,
                   dynamic_ncols=True)
        loss_fn = torch.nn.BCEWithLogitsLoss()

        def head_state() -> dict[str, Any]:
            return {"head": head.state_dict()} if head is not None else {}

        model.train()
        def checkpoint() -> None:
            state["prior_wall_s"] += time.perf_counter() - seg_wall_ref[0]
            state["prior_cpu_s"] += time.process_time() - seg_cpu_ref[0]
            seg_wall_ref[0], seg_cpu_ref[0] = time.perf_counter(), time.process_time()
            _save_checkpoint(ckpt, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "scheduler": sched.state_dict(), "state": state, **head_state()})

        seg_wall_ref, seg_cpu_ref = [time.perf_counter()], [time.process_time()]
        while state["step"] < total and not state["stopped_early"]:
            epoch, offset = divmod(state["step"], steps_per_epoch)
            order = np.random.default_rng(cfg.seed + epoch).permutation(len(pairs.train))
            for b in range(offset, steps_per_epoch):
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                batch = [pairs.train[i] for i in idx]
                q, t, y = _texts(batch, items)
                enc = encode_pairs(tokenizer, q, t, cfg.max_length)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                    logits = model(**enc).logits.reshape(-1)
                if head is not None:
                    logits = logits + head(torch.tensor(features(batch), dtype=torch.float32)).reshape(-1)
                loss = loss_fn(logits.float(), torch.from_numpy(y))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                state["step"] += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
                done = state["step"] >= total
                if state["step"] % cfg.eval_every == 0 or done or b == steps_per_epoch - 1:
                    m = evaluate()
                    state["evals"].append({"step": state["step"], **m})
                    say(f"step {state['step']}: val loss {m['loss']:.4f} auc {m['roc_auc']:.3f} f1 {m['f1']:.3f}")
                    if m["loss"] < state["best_loss"] - 1e-4:
                        state.update(best_loss=m["loss"], best_step=state["step"], bad_evals=0)
                        _save_checkpoint(best_path, {"model": model.state_dict(), **head_state()})
                    else:
                        state["bad_evals"] += 1
                        if state["bad_evals"] >= cfg.patience:
                            state["stopped_early"] = True
                    checkpoint()
                elif state["step"] % cfg.checkpoint_every == 0:
                    checkpoint()
                if done or state["stopped_early"]:
                    break
        bar.close()
        checkpoint()
        if best_path.is_file():
            best = torch.load(best_path, map_location="cpu", weights_only=True)
            model.load_state_dict(best["model"])
            if head is not None:
                head.load_state_dict(best["head"])
        model.eval()
        q_r, t_r, y_r = _texts(pairs.val_report, items)
        report_logits = with_head(score_with(model, tokenizer, q_r, t_r, cfg.max_length, 64), pairs.val_report)
        report = pair_metrics(y_r.astype(int), report_logits)
        threshold = f1_threshold(y_es.astype(int), es_logits())  # chosen on the early-stopping half
        at_threshold = {"threshold_logit": threshold, **pair_metrics(y_r.astype(int), report_logits, threshold)}
        breakdown = behaviour_breakdown(pairs.val_report, report_logits) if pairs.behaviour else {}
        meta = {"format": 1, "kind": "cross-encoder", "config": cfg.model_dump(), "base_path": base,
                "data": pairs.stats, "metrics": {"heldout_validation_pairs": report,
                                                  "heldout_at_validation_f1_threshold": at_threshold, **breakdown,
                                                  "early_stopping_pairs_best": next(
                                                      e for e in state["evals"] if e["step"] == state["best_step"])},
                "initial_val_loss": state["initial_val_loss"], "best_val_loss": state["best_loss"],
                "best_step": state["best_step"], "steps": state["step"], "stopped_early": state["stopped_early"],
                "evals": state["evals"], "wall_s": round(state["prior_wall_s"], 1),
                "cpu_process_s": round(state["prior_cpu_s"], 1), "torch_threads": torch.get_num_threads(),
                "total_wall_s_incl_data": round(time.perf_counter() - wall0 + 0.0, 1),
                "total_cpu_s_incl_data": round(time.process_time() - cpu0, 1)}
        target = root / _next_version(root)
        with atomic_dir(target, {"kind": "ranker", "name": cfg.name}) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / RANKER_META).write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
            if pairs.behaviour is not None:
                (tmp / BEHAVIOUR_FILE).write_text(json.dumps(pairs.behaviour), encoding="utf-8")
                torch.save(head.state_dict(), tmp / BEHAVIOUR_HEAD)
        shutil.rmtree(work, ignore_errors=True)
    say(f"published {target} (held-out pairs: {json.dumps({k: round(v, 4) for k, v in report.items()})})")
    return TrainResult(target, meta)


# ----------------------------------------------------------------------------- fusion weight


@dataclass(frozen=True)
class FusionExample:
    """One validation user: candidate ids (retrieval order), the cross-encoder logits and the
    LLM's probabilities over them, and the held-out target. ``split`` must be 'validation'."""

    user: str
    split: str
    target: str
    ids: tuple[str, ...]
    ce_scores: tuple[float, ...]
    llm_probs: tuple[float, ...]


class FusionTuning(BaseModel):
    """The chosen fusion weight and the validation NDCG@10 of every weight tried."""

    weight: float
    temperature: float
    ndcg_at_10: dict[str, float]
    users: int
    split: Literal["validation"] = "validation"


class LoRAFusionTuning(FusionTuning):
    """:class:`FusionTuning` of the LoRA verbalizer beside its source (``sasrec+llm-lora-fused``,
    ``ease+llm-lora-fused``): for which protocol and source (``sasrec``: which trained model), and
    the sha256 of the adapter weights it was tuned with."""

    protocol: str
    source: str = "sasrec"
    sasrec: str | None = None
    adapter_sha256: str
    by_temperature: dict[str, dict[str, float]] = {}  # temperature -> weight -> validation NDCG@10


def _ndcg10(ranked: Sequence[str], target: str) -> float:
    try:
        r = list(ranked).index(target)
    except ValueError:
        return 0.0
    return 1.0 / np.log2(r + 2) if r < 10 else 0.0


def tune_fusion_weight(examples: Sequence[FusionExample], grid: Sequence[float] = tuple(np.round(np.arange(0, 1.01, 0.1), 2)),
                       temperature: float = 1.0) -> FusionTuning:
    """Pick the weight ``w`` of :func:`agent.ranking.cross_encoder.fuse_scores` maximising mean
    NDCG@10 over VALIDATION examples (ties -> the smaller ``w``: the cheaper cross-encoder).
    Raises ValueError if any example is not from the validation split (the test split must
    never choose a parameter)."""
    from agent.ranking.cross_encoder import fuse_scores

    bad = [e.user for e in examples if e.split != "validation"]
    if bad:
        raise ValueError(f"fusion weights are tuned on the validation split only; {len(bad)} example(s) are not")
    if not examples:
        raise ValueError("no validation examples to tune the fusion weight on")
    scores: dict[str, float] = {}
    for w in grid:
        total = 0.0
        for e in examples:
            fused = fuse_scores(e.ce_scores, e.llm_probs, float(w), temperature)
            order = sorted(range(len(e.ids)), key=lambda i: (-fused[i], i))
            total += _ndcg10([e.ids[i] for i in order], e.target)
        scores[f"{float(w):g}"] = total / len(examples)
    best = max(scores.items(), key=lambda kv: (kv[1], -float(kv[0])))
    return FusionTuning(weight=float(best[0]), temperature=temperature, ndcg_at_10=scores, users=len(examples))


def _asdict(p: Pair) -> dict[str, Any]:  # pragma: no cover - debugging helper
    return asdict(p)
