"""Fine-tune the retriever's sentence-transformer on behaviour (``recchat train retriever``).

Pairs come from the TRAINING part of the leave-one-out split only (the histories of the
validation split, see :mod:`eval.train.ranker`): for the newest ``positions_per_user``
positions ``t`` of a user's training part, anchor = :func:`history_text` of the items before
``t`` (newest first, truncated to ``max_length`` tokens by the model), positive = the
:meth:`retrieval.items.Item.document` of item ``t`` (exactly the text the index embeds).
Loss: MultipleNegativesRankingLoss (in-batch negatives: cross-entropy over
``scale * cosine(anchor_i, positive_j)``, ``scale`` 20), AdamW, linear warm-up/decay. A batch
never holds the same positive item twice (it would be a false negative).

Early stopping: every ``eval_every`` steps and at each epoch end, validation Recall@``eval_k``
of the held-out VALIDATION items of ``val_users`` users (query = history text, all universe
items encoded with the current model, history masked); the best model is published as a
sentence-transformers folder ``<home>/models/retrievers/<name>/v<N>/`` (atomic) with
``recchat_retriever.json`` (config, data stats, metrics, times). Work in progress with a
checkpoint lives in ``.../<name>/.work`` and a rerun with the same config resumes it.

Query-time use: :func:`history_text` of the user's history, encoded by the tuned model, against
an index built with the same model (:func:`index_with`; the store refuses to mix embedders, so
the index gets its own name: :func:`tuned_index_name`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.ranking.cross_encoder import compact_item
from eval.splits import SplitResult, leave_one_out, sample_users
from retrieval.items import Item

RETRIEVER_META = "recchat_retriever.json"


class RetrieverTrainConfig(BaseModel):
    """Everything that defines a retriever training run (stored with the model)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = "movielens-100k"
    name: str = Field("st-ml100k", description="<home>/models/retrievers/<name>/v<N>")
    base: str = Field("minilm", description="starting embedder (bundled alias or local folder)")
    seed: int = 0
    min_rating: float | None = None
    max_users: int | None = Field(None, ge=1)
    positions_per_user: int = Field(3, ge=1)
    max_train_pairs: int | None = Field(3000, ge=2)
    history_items: int = Field(30, ge=1, description="newest history items in the anchor text")
    max_length: int = Field(128, ge=16, le=512, description="tokens per text (anchor truncated at the oldest end)")
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(2e-5, gt=0)
    scale: float = Field(20.0, gt=0, description="MNRL similarity scale (inverse temperature)")
    warmup_ratio: float = Field(0.1, ge=0, le=0.5)
    val_users: int = Field(300, ge=1)
    eval_k: int = Field(20, ge=1, description="early-stopping metric: validation Recall@eval_k")
    eval_every: int = Field(50, ge=1)
    patience: int = Field(2, ge=1)
    checkpoint_every: int = Field(25, ge=1)
    max_steps: int | None = Field(None, ge=1)
    threads: int | None = Field(None, ge=1)

    def fingerprint(self) -> dict[str, Any]:
        return self.model_dump(exclude={"threads"})


def history_text(history: Sequence[Item], max_items: int = 30) -> str:
    """Anchor / query text of a history (oldest -> newest given): newest first, compact items."""
    newest = list(history)[::-1][:max_items]
    return "Watched recently (newest first): " + "; ".join(f"[{compact_item(i)}]" for i in newest)


@dataclass(frozen=True)
class RetrievalPair:
    user: str
    anchor: str
    item: str
    position: int


def build_retrieval_pairs(validation: SplitResult, items: Mapping[str, Item], cfg: RetrieverTrainConfig) -> list[RetrievalPair]:
    """(history text, next item) pairs from the training parts (= validation-split histories).
    Raises ValueError on a test split. Deterministic for (data, cfg)."""
    if validation.split != "validation":
        raise ValueError("pairs are built from the validation split (its histories are the training parts)")
    cases = sample_users(validation.cases, cfg.max_users, cfg.seed)
    out: list[RetrievalPair] = []
    for depth in range(cfg.positions_per_user):
        for case in cases:
            if cfg.max_train_pairs is not None and len(out) >= cfg.max_train_pairs:
                return out
            t = len(case.history) - 1 - depth
            if t < 1 or case.history[t] not in items:
                continue
            prefix = [items[i] for i in case.history[:t] if i in items]
            out.append(RetrievalPair(case.user_id, history_text(prefix, cfg.history_items), case.history[t], t))
    return out


def batches_without_duplicates(pairs: Sequence[RetrievalPair], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches (indices) in which no item is the positive twice; deterministic."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    batches: list[list[int]] = []
    open_: list[tuple[list[int], set[str]]] = []
    for idx in order:
        item = pairs[idx].item
        for batch, items in open_:
            if item not in items and len(batch) < batch_size:
                batch.append(idx)
                items.add(item)
                break
        else:
            open_.append(([idx], {item}))
        full = [b for b in open_ if len(b[0]) >= batch_size]
        for b in full:
            batches.append(b[0])
            open_.remove(b)
    batches += [b for b, _ in open_ if len(b) >= 2]
    return batches


def recall_at_k(model: Any, validation: SplitResult, items: Mapping[str, Item], universe: Sequence[str],
                users: Sequence[Any], k: int, history_items: int, batch_size: int = 64) -> float:
    """Share of ``users`` (validation cases) whose target is in the top ``k`` of the universe
    (history masked) when the history text is the query (exact cosine)."""
    docs = model.encode([items[i].document() for i in universe], batch_size=batch_size, normalize_embeddings=True,
                        convert_to_numpy=True, show_progress_bar=False)
    queries = model.encode([history_text([items[h] for h in c.history if h in items], history_items) for c in users],
                           batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
    pos = {i: n for n, i in enumerate(universe)}
    hits = 0
    for case, q in zip(users, queries):
        s = docs @ q
        s[[pos[h] for h in case.history if h in pos]] = -np.inf
        top = np.argpartition(-s, k)[:k]
        hits += int(pos.get(case.target, -1) in set(top.tolist()))
    return hits / max(len(users), 1)


@dataclass
class RetrieverResult:
    path: Path
    meta: dict[str, Any]


def retrievers_root(name: str, home: Path | None = None) -> Path:
    from retrieval.config import recchat_home

    return (home or recchat_home()) / "models" / "retrievers" / name


def resolve_retriever(name: str, home: Path | None = None) -> Path:
    """A retriever name -> its newest published ``v<N>`` folder, or an existing folder as given."""
    from retrieval.assets import is_published

    path = Path(name).expanduser()
    if path.is_dir() and (path / "modules.json").is_file():
        return path.resolve()
    root = retrievers_root(name, home)
    versions = sorted((p for p in root.glob("v*") if p.name[1:].isdigit() and is_published(p)), key=lambda p: int(p.name[1:]))
    if not versions:
        raise FileNotFoundError(f"no trained retriever {name!r} in {root}; train one: recchat train retriever --name {name}")
    return versions[-1]


def train_retriever(cfg: RetrieverTrainConfig, *, home: Path | None = None, progress: bool = True, fresh: bool = False,
                    dataset: Any | None = None, log: Callable[[str], None] | None = None) -> RetrieverResult:
    """Fine-tune with in-batch negatives, early-stop on validation recall, publish ``v<N>``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    from eval.data import load_dataset
    from eval.train.ranker import _next_version, _save_checkpoint
    from retrieval.assets import atomic_dir, build_lock
    from retrieval.embedder import resolve_embedder

    say = log or (lambda m: print(f"[train retriever] {m}", flush=True))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    root = retrievers_root(cfg.name, home)
    work = root / ".work"
    root.mkdir(parents=True, exist_ok=True)
    with build_lock(work):
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

        data = dataset or load_dataset(cfg.dataset)
        items = data.item_map
        validation = leave_one_out(data.interactions, "validation", cfg.seed, cfg.min_rating)
        pairs = build_retrieval_pairs(validation, items, cfg)
        universe = sorted(set(data.interactions["item_id"]) & set(items))
        val_cases = sample_users(validation.cases, cfg.val_users, cfg.seed + 1)
        say(f"pairs: {len(pairs)} from {len({p.user for p in pairs})} users; validation users: {len(val_cases)}")
        base = resolve_embedder(cfg.base)
        torch.manual_seed(cfg.seed)
        model = SentenceTransformer(base, device="cpu", local_files_only=os.path.isdir(base))
        model.max_seq_length = cfg.max_length
        steps_per_epoch = len(batches_without_duplicates(pairs, cfg.batch_size, cfg.seed))
        total = steps_per_epoch * cfg.epochs if cfg.max_steps is None else min(cfg.max_steps, steps_per_epoch * cfg.epochs)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
        sched = get_linear_schedule_with_warmup(opt, int(total * cfg.warmup_ratio), total)
        state: dict[str, Any] = {"step": 0, "best": -1.0, "best_step": 0, "bad_evals": 0, "evals": [],
                                 "stopped_early": False, "wall_s": 0.0, "cpu_s": 0.0}
        ckpt, best_path = work / "checkpoint.pt", work / "best.pt"
        if ckpt.is_file():
            saved = torch.load(ckpt, map_location="cpu", weights_only=True)
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            sched.load_state_dict(saved["scheduler"])
            state = saved["state"]
            say(f"resumed from step {state['step']} of {total}")
        mark = [time.perf_counter(), time.process_time()]

        def checkpoint() -> None:
            state["wall_s"] += time.perf_counter() - mark[0]
            state["cpu_s"] += time.process_time() - mark[1]
            mark[0], mark[1] = time.perf_counter(), time.process_time()
            _save_checkpoint(ckpt, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "scheduler": sched.state_dict(), "state": state})

        def evaluate() -> float:
            model.eval()
            with torch.inference_mode():
                r = recall_at_k(model, validation, items, universe, val_cases, cfg.eval_k, cfg.history_items)
            model.train()
            return r

        if not state["evals"]:
            r0 = evaluate()
            state["evals"].append({"step": 0, f"recall@{cfg.eval_k}": r0})
            state["initial_recall"] = r0
            state["best"] = r0
            _save_checkpoint(best_path, {"model": model.state_dict()})
            say(f"step 0: validation recall@{cfg.eval_k} {r0:.4f}")
        bar = tqdm(total=total, initial=state["step"], desc=f"train {cfg.name}", unit="step", disable=not progress,
                   dynamic_ncols=True)
        model.train()
        while state["step"] < total and not state["stopped_early"]:
            epoch, offset = divmod(state["step"], steps_per_epoch)
            batches = batches_without_duplicates(pairs, cfg.batch_size, cfg.seed + epoch)
            for b in range(offset, len(batches)):
                batch = [pairs[i] for i in batches[b]]
                anchors = model.tokenize([p.anchor for p in batch])
                positives = model.tokenize([items[p.item].document() for p in batch])
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    a = model(anchors)["sentence_embedding"].float()
                    p = model(positives)["sentence_embedding"].float()
                a = torch.nn.functional.normalize(a, dim=-1)
                p = torch.nn.functional.normalize(p, dim=-1)
                loss = torch.nn.functional.cross_entropy(cfg.scale * a @ p.T, torch.arange(len(batch)))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                state["step"] += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
                done = state["step"] >= total
                if state["step"] % cfg.eval_every == 0 or done or b == len(batches) - 1:
                    r = evaluate()
                    state["evals"].append({"step": state["step"], f"recall@{cfg.eval_k}": r, "train_loss": loss.item()})
                    say(f"step {state['step']}: validation recall@{cfg.eval_k} {r:.4f}")
                    if r > state["best"] + 1e-9:
                        state.update(best=r, best_step=state["step"], bad_evals=0)
                        _save_checkpoint(best_path, {"model": model.state_dict()})
                    else:
                        state["bad_evals"] += 1
                        state["stopped_early"] = state["bad_evals"] >= cfg.patience
                    checkpoint()
                elif state["step"] % cfg.checkpoint_every == 0:
                    checkpoint()
                if done or state["stopped_early"]:
                    break
        bar.close()
        checkpoint()
        model.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True)["model"])
        meta = {"format": 1, "kind": "retriever", "config": cfg.model_dump(), "base_path": base,
                "data": {"train_pairs": len(pairs), "train_users": len({p.user for p in pairs}),
                         "val_users": len(val_cases), "universe": len(universe)},
                "metrics": {f"validation_recall@{cfg.eval_k}_initial": state["initial_recall"],
                            f"validation_recall@{cfg.eval_k}_best": state["best"]},
                "best_step": state["best_step"], "steps": state["step"], "evals": state["evals"],
                "stopped_early": state["stopped_early"], "wall_s": round(state["wall_s"], 1),
                "cpu_process_s": round(state["cpu_s"], 1), "torch_threads": torch.get_num_threads(),
                "total_wall_s_incl_data": round(time.perf_counter() - wall0, 1),
                "total_cpu_s_incl_data": round(time.process_time() - cpu0, 1)}
        target = root / _next_version(root)
        with atomic_dir(target, {"kind": "retriever", "name": cfg.name}) as tmp:
            model.save(str(tmp))
            (tmp / RETRIEVER_META).write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
        shutil.rmtree(work, ignore_errors=True)
    say(f"published {target} (validation recall@{cfg.eval_k}: {state['initial_recall']:.4f} -> {state['best']:.4f})")
    return RetrieverResult(target, meta)


def tuned_index_name(dataset: str, model_dir: str | Path) -> str:
    """The Chroma catalog name of ``dataset`` indexed with a tuned model (one per model version)."""
    path = Path(model_dir)
    return f"{dataset}--{path.parent.name}-{path.name}"


def index_with(model_dir: str | Path, dataset: str, store: Any | None = None, progress: bool = True,
               items: Sequence[Item] | None = None) -> dict[str, Any]:
    """Index ``dataset``'s catalog (or ``items``) with the tuned model under
    :func:`tuned_index_name` (its own index: the store refuses to mix embedders). Incremental:
    a second call embeds nothing. Returns the index report as a dict."""
    from dataclasses import asdict

    from eval.data import load_dataset
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    store = store or ChromaStore(RetrievalSettings(embedder=str(Path(model_dir).resolve())))
    catalog = list(items) if items is not None else load_dataset(dataset).items
    report = store.index(tuned_index_name(dataset, model_dir), catalog, progress=progress)
    return {"catalog": tuned_index_name(dataset, model_dir), **asdict(report)}
