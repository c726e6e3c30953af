"""Train :class:`retrieval.sasrec.SASRec` on CPU with checkpoints and resume (``recchat train sasrec``).

Protocol (the paper's): the network learns next-item prediction on each user's VALIDATION-split
history (every item but the last two, oldest -> newest, the newest ``maxlen + 1``); every
``eval_every`` epochs it ranks the validation item (the second-to-last) of ``val_users`` seeded
users over the whole catalog, history masked (NDCG@10), and the best such epoch is kept. Training
stops after ``patience`` evaluations without a gain, at ``max_epochs``, or when ``max_minutes`` run
out (then ``state.pt`` lets the same command resume where it stopped). The test item is never read:
at test time the pipelines feed the test-split history (which ends with the validation item).

Folder (``retrieval.sasrec.sasrec_dir``): ``training.json`` (the settings; a resume must match),
``state.pt`` (model, optimiser, epoch, RNG, log; replaced atomically each epoch), ``log.jsonl`` (one
line per epoch), the best model so far (``config.json``, ``ids.json``, ``model.pt``; rewritten at each
validation gain, so a paused run is usable) and ``report.json`` (status, cost, validation curve).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class SASRecTraining(BaseModel):
    """What ``recchat train sasrec`` trains, and how (units in each field's description)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "movielens-1m"
    dim: int = Field(64, gt=0)
    blocks: int = Field(2, gt=0)
    heads: int = Field(1, gt=0)
    maxlen: int = Field(200, gt=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(128, gt=0, description="sequences per optimiser step")
    negatives: int = Field(0, ge=0, description="0 = softmax over the whole catalog; N = over the target and N "
                                                "uniform negatives shared by a batch (sampled softmax, cheaper)")
    max_epochs: int = Field(200, gt=0)
    eval_every: int = Field(5, gt=0, description="epochs between validation evaluations")
    patience: int = Field(3, gt=0, description="evaluations without a gain before stopping")
    val_users: int = Field(1000, gt=0, description="seeded validation users scored at each evaluation")
    seed: int = 0

    def architecture(self, n_items: int):  # -> retrieval.sasrec.SASRecConfig
        from retrieval.sasrec import SASRecConfig

        return SASRecConfig(n_items=n_items, dim=self.dim, blocks=self.blocks, heads=self.heads, maxlen=self.maxlen,
                            dropout=self.dropout)


def length_batches(seqs: list[list[int]], size: int, rng: np.random.Generator, pool: int = 50) -> list[list[list[int]]]:
    """Shuffled batches of ``size`` sequences, grouped by length within pools of ``pool`` batches
    (less padding: ML-1M's histories run from 3 to 200+ items)."""
    order = rng.permutation(len(seqs))
    batches = []
    for start in range(0, len(order), size * pool):
        chunk = sorted(order[start:start + size * pool], key=lambda j: len(seqs[j]))
        batches += [[seqs[j] for j in chunk[b:b + size]] for b in range(0, len(chunk), size)]
    return [batches[b] for b in rng.permutation(len(batches))]


def next_item_loss(net: Any, hidden: Any, targets: Any, negatives: int) -> Any:
    """Cross-entropy of the next item (``targets``: 1-based rows, one per hidden state) over the
    whole catalog, or over itself and ``negatives`` shared uniform negatives (accidental hits masked)."""
    import torch

    if negatives == 0:
        return torch.nn.functional.cross_entropy(net.item_logits(hidden), targets - 1)
    emb = net.item_emb.weight
    neg = torch.randint(1, emb.shape[0], (negatives,))
    pos_logit = (hidden * emb[targets]).sum(-1, keepdim=True)
    neg_logit = (hidden @ emb[neg].T).masked_fill(targets[:, None] == neg[None, :], float("-inf"))
    logits = torch.cat([pos_logit, neg_logit], dim=1)
    return torch.nn.functional.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long))


def validation_ndcg(model: Any, histories: list[tuple[str, ...]], targets: list[str], batch: int = 256) -> float:
    """Mean NDCG@10 of ``targets`` ranked over the whole catalog after ``histories`` (masked)."""
    from eval.train.behaviour import ndcg_recall, rank_of_targets

    pos = model.pos
    ranks = []
    for start in range(0, len(histories), batch):
        hs = histories[start:start + batch]
        scores = model.scores_batch(hs)
        masks = [np.array([pos[h] for h in set(x) if h in pos], dtype=np.int64) for x in hs]
        ranks.append(rank_of_targets(scores, masks, np.array([pos[t] for t in targets[start:start + batch]])))
    return ndcg_recall(np.concatenate(ranks))[0]


def train_sasrec(settings: SASRecTraining, folder: Path, *, max_minutes: float | None = None, fresh: bool = False,
                 progress: bool = True, data: Any = None) -> dict[str, Any]:
    """Train (or resume) into ``folder``; returns the report: status ``finished`` or ``paused``
    (time budget spent; rerun to resume; the best model so far is saved either way)."""
    import torch
    from tqdm.auto import tqdm

    from eval.data import load_dataset
    from eval.splits import leave_one_out
    from eval.train.pipelines import TrainedAssets
    from retrieval.ease import EASE
    from retrieval.sasrec import SASRec, SASRecNet, atomic_save, left_pad

    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / "training.json"
    state_path = folder / "state.pt"
    if fresh:
        for name in ("state.pt", "log.jsonl", "report.json", "model.pt"):
            (folder / name).unlink(missing_ok=True)
    if state_path.is_file():
        saved = SASRecTraining.model_validate_json(meta.read_text(encoding="utf-8"))
        if saved != settings:
            raise ValueError(f"{folder} holds an unfinished run with other settings ({saved.model_dump()}); "
                             "pass the same options to resume it, or --fresh to start over")
    meta.write_text(settings.model_dump_json(indent=1), encoding="utf-8")

    data = data if data is not None else load_dataset(settings.dataset, enrich=False)
    split = leave_one_out(data.interactions, "validation", settings.seed)
    universe = sorted(set(data.interactions["item_id"].astype(str)))
    pos = {i: n for n, i in enumerate(universe)}
    seqs = [[pos[i] + 1 for i in c.history if i in pos][-(settings.maxlen + 1):] for c in split.cases]
    seqs = [s for s in seqs if len(s) >= 2]
    val_cases = random.Random(settings.seed).sample(split.cases, min(settings.val_users, len(split.cases)))
    val_hist, val_tgt = [c.history for c in val_cases], [c.target for c in val_cases]

    torch.manual_seed(settings.seed)
    net = SASRecNet(settings.architecture(len(universe)))
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr, betas=(0.9, 0.98))
    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": 0, "bad_evals": 0, "log": [], "train_s": 0.0,
                             "done": False}
    if state_path.is_file():
        ckpt = torch.load(state_path, map_location="cpu", weights_only=True)
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        torch.set_rng_state(ckpt["torch_rng"])
    rng = np.random.default_rng(settings.seed + state["epoch"])
    started = time.perf_counter()
    status = "finished" if state["done"] else "paused"
    bar = tqdm(total=settings.max_epochs, initial=state["epoch"], desc="SASRec epochs", unit="epoch",
               disable=not progress)
    while not state["done"]:
        epoch = state["epoch"] + 1
        t0 = time.perf_counter()
        net.train()
        losses = []
        for batch in length_batches(seqs, settings.batch_size, rng):
            length = max(len(s) for s in batch) - 1
            inp = left_pad([s[:-1] for s in batch], length)
            tgt = left_pad([s[1:] for s in batch], length)
            live = tgt > 0
            loss = next_item_loss(net, net(inp)[live], tgt[live], settings.negatives)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        entry: dict[str, Any] = {"epoch": epoch, "loss": round(float(np.mean(losses)), 5),
                                 "seconds": round(time.perf_counter() - t0, 2)}
        if epoch % settings.eval_every == 0 or epoch == settings.max_epochs:
            net.eval()
            ndcg = validation_ndcg(SASRec(net, universe), val_hist, val_tgt)
            net.train()
            entry["val_ndcg10"] = round(ndcg, 5)
            if ndcg > state["best"]:
                state.update(best=ndcg, best_epoch=epoch, bad_evals=0)
                SASRec(net, universe).save(folder)  # the best model so far is usable while training goes on
            else:
                state["bad_evals"] += 1
        state["epoch"] = epoch
        state["train_s"] += time.perf_counter() - t0
        state["log"].append(entry)
        state["done"] = epoch >= settings.max_epochs or state["bad_evals"] >= settings.patience
        atomic_save({"model": net.state_dict(), "optimizer": opt.state_dict(), "state": state,
                      "torch_rng": torch.get_rng_state()}, state_path)
        with (folder / "log.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
        bar.update(1)
        bar.set_postfix(loss=entry["loss"], best=round(state["best"], 4))
        if state["done"]:
            status = "finished"
        elif max_minutes is not None and time.perf_counter() - started > 60 * max_minutes:
            break
    bar.close()

    report: dict[str, Any] = {
        "status": status, "dataset": settings.dataset, "settings": settings.model_dump(),
        "training_users": len(seqs), "items": len(universe), "epochs": state["epoch"],
        "best_epoch": state["best_epoch"], "val_ndcg10_best": round(state["best"], 5),
        "val_users": len(val_cases), "train_seconds": round(state["train_s"], 1),
        "seconds_per_epoch": round(state["train_s"] / max(state["epoch"], 1), 2),
        "torch_threads": torch.get_num_threads(),
        "curve": [e for e in state["log"] if "val_ndcg10" in e]}
    if not (folder / "model.pt").is_file():  # no evaluation ran yet (max_epochs < eval_every)
        SASRec(net, universe).save(folder)
    shipped = TrainedAssets()  # the reference: EASE as the pipelines and the chat use it, same users
    ease = EASE([c.history for c in split.cases], universe, shipped.ease_lambda, shipped.ease_half_life)
    report["ease_reference_val_ndcg10"] = round(validation_ndcg(ease, val_hist, val_tgt), 5)
    (folder / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report

