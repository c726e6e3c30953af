"""The two evaluation protocols (never mixed in one number) and the frozen candidate files.

``full`` (LlamaRec's protocol): each pipeline ranks EVERY item of the universe (catalog items
that occur in the interactions) except the user's history, which is masked; the first
``list_k`` items are kept (so MRR is MRR@list_k).

``sampled`` (LLMRank's protocol): each user gets 1 target + ``negatives`` (default 19) items
drawn uniformly from the universe minus everything the user interacted with (history,
validation and test items), shuffled with the same seed so the target's position is random.
The sets are written ONCE to a candidate file and every later run (any pipeline, any LLM)
reuses it; a run whose users or targets disagree with the file is refused, never silently
re-drawn. Draws are per user (``random.Random(f"{seed}:{user}:negatives")``) and therefore do
not depend on which other users are sampled.

Stage metrics: a pipeline that reranks the retriever's top ``rerank_k`` records the target's
rank in the retriever's list. ``retriever recall@K`` = share of users whose target is in it;
the *rerank subset* = those users (quality of the reranker where it had a chance at all).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.records import EvalRecord
from eval.splits import UserCase
from retrieval.config import recchat_home

CANDIDATE_FORMAT = 1


class CandidateFileMismatch(ValueError):
    """The frozen candidate file was made for other users/targets/settings than this run."""


def candidate_path(dataset: str, seed: int, users: int | None, *, split: str = "test", negatives: int = 19,
                   min_rating: float | None = None, home: Path | None = None) -> Path:
    """``<home>/eval/candidates/<dataset>-<seed>-<users>.json`` (``users`` = ``all`` when every
    eligible user is sampled); non-default split / negatives / min-rating add a suffix."""
    suffix = "" if split == "test" else f"-{split}"
    suffix += "" if negatives == 19 else f"-n{negatives}"
    suffix += "" if min_rating is None else f"-r{min_rating:g}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return (home or recchat_home()) / "eval" / "candidates" / f"{safe}-{seed}-{users if users else 'all'}{suffix}.json"


@dataclass(frozen=True)
class CandidateFile:
    """Frozen sampled-protocol candidates: ``candidates[user]`` holds the target and the
    negatives in presentation order. ``sha256`` is the file's digest (reported)."""

    path: Path
    meta: dict[str, Any]
    candidates: dict[str, list[str]]
    targets: dict[str, str]
    sha256: str
    created: bool


def draw_candidates(case: UserCase, universe: Sequence[str], negatives: int, seed: int,
                    seen: set[str] | None = None) -> list[str]:
    """1 target + ``negatives`` distinct items of ``universe`` the user never interacted with
    (``seen`` defaults to history + target), shuffled; deterministic for (user, seed, universe)."""
    rng = random.Random(f"{seed}:{case.user_id}:negatives")
    banned = set(seen if seen is not None else case.history) | {case.target}
    available = [i for i in universe if i not in banned]
    chosen = rng.sample(available, min(negatives, len(available)))
    out = [case.target, *chosen]
    rng.shuffle(out)
    return out


def freeze_candidates(cases: Sequence[UserCase], universe: Sequence[str], path: Path, meta: dict[str, Any],
                      seen: dict[str, set[str]] | None = None) -> CandidateFile:
    """Load the candidate file at ``path`` if it exists (checking it fits ``cases`` and
    ``meta``), else draw (:func:`draw_candidates`) and write it atomically.

    ``universe`` must be sorted (it fixes the draws); ``seen[user]`` is everything the user
    interacted with (so a test run's negatives exclude the validation item and vice versa).
    Raises :class:`CandidateFileMismatch` when an existing file disagrees."""
    if path.is_file():
        raw = path.read_bytes()
        doc = json.loads(raw)
        theirs = doc.get("meta", {})
        for key, value in meta.items():
            if theirs.get(key) != value:
                raise CandidateFileMismatch(
                    f"{path} was frozen with {key}={theirs.get(key)!r}, this run has {key}={value!r}; "
                    "use another --seed/--users, or delete the file to draw new candidates (old reports then no "
                    "longer compare)")
        users = doc.get("users", {})
        bad = [c.user_id for c in cases if c.user_id not in users or users[c.user_id]["target"] != c.target]
        if bad:
            raise CandidateFileMismatch(
                f"{path} does not fit this run: {len(bad)} user(s) missing or with another target (e.g. {bad[:3]}); "
                "was the dataset or the split changed? Delete the file to re-draw.")
        return CandidateFile(path, theirs, {u: list(v["candidates"]) for u, v in users.items()},
                             {u: v["target"] for u, v in users.items()}, hashlib.sha256(raw).hexdigest(), False)
    entries = {}
    for case in cases:
        drawn = draw_candidates(case, universe, meta.get("negatives", 19), int(meta.get("seed", 0)),
                                (seen or {}).get(case.user_id))
        entries[case.user_id] = {"target": case.target, "candidates": drawn}
    doc = {"format": CANDIDATE_FORMAT, "meta": meta, "users": entries}
    raw = json.dumps(doc, ensure_ascii=False, indent=0, sort_keys=False).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    try:
        os.link(tmp, path)  # atomic and never overwrites: a concurrent run's file wins
    except FileExistsError:
        os.unlink(tmp)
        return freeze_candidates(cases, universe, path, meta, seen)
    os.unlink(tmp)
    return CandidateFile(path, meta, {u: list(v["candidates"]) for u, v in entries.items()},
                         {u: v["target"] for u, v in entries.items()}, hashlib.sha256(raw).hexdigest(), True)


def retriever_recall(records: Sequence[EvalRecord]) -> float | None:
    """Share of users whose target was in the retriever's candidate list (records of a
    pipeline with a retrieval stage carry ``retrieved_rank``: 1-based or None); None if the
    pipeline has no retrieval stage."""
    staged = [r for r in records if r.has_retrieval_stage]
    if not staged:
        return None
    return sum(1 for r in staged if r.retrieved_rank is not None) / len(staged)


def rerank_subset(records: Sequence[EvalRecord]) -> list[EvalRecord]:
    """The records whose target was among the retrieved candidates (the rerank subset)."""
    return [r for r in records if r.retrieved_rank is not None]
