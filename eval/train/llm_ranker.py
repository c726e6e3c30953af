"""Train the LLM verbalizer reranker the LlamaRec way: LoRA on the exact verbalizer prompt
(``recchat train llm-ranker``).

Examples (:mod:`eval.train.llm_ranker_examples`): per training user of the VALIDATION split, the
source's (SASRec or EASE) top ``candidates`` for the history, in source order; users whose
validation target is missing from that list are dropped (LlamaRec does the same), and so are
prompts longer than ``max_length`` tokens (counted). The test item is never read.

Loss: the verbalizer classification loss. At the position after the prompt (which ends with the
assistant prefill ``"Answer: ("``) the model's logits are read at the ``candidates`` label tokens
(A, B, ...), and the loss is the cross-entropy of that ``candidates``-way softmax against the
target's label: the same distribution :class:`agent.ranking.rerank.VerbalizerRanker` ranks by (its
engines renormalise the label log-probabilities, which equals this softmax).

Optimisation: LoRA (``peft``) on the attention projections, AdamW, batch 1 with ``grad_accum``
examples per optimiser step (each example's loss divided by ``grad_accum``), linear warm-up over
``warmup_steps`` then a constant learning rate. Every ``eval_every`` steps (and at step 0, the
zero-shot model, and at the end) the held-out validation users are reranked (one prompt each,
the source order, as ``permutations=1``) and their mean NDCG@10 is compared with the source
order's; the adapter with the best validation NDCG@10 is published in the folder.

Folder (:func:`llm_ranker_dir`): ``adapter_config.json`` + ``adapter_model.safetensors`` (the
best adapter so far, ``save_pretrained``; what vLLM ``--lora-modules`` and
``TransformersEngine(adapter=...)`` load), ``training.json`` (the settings; a resume must match
them), ``state.pt`` (adapter, optimiser, step, RNG, example order, logs; replaced atomically every
``checkpoint_every`` steps and when pausing), ``log.jsonl`` (one line per step or evaluation) and
``report.json``. ``max_minutes`` pauses after the step that crosses it; the same command resumes.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from agent.llm.engine import Engine
    from agent.ranking.rerank import Ranker
    from agent.settings import AgentSettings
    from eval.data import EvalDataset
    from eval.train.llm_ranker_examples import PromptBuilder, RankExample
    from eval.pipelines import EvalContext

PEFT_HINT = "pip install 'recchat[train]'  (or: pip install peft==0.21.0)"


class LLMRankerTraining(BaseModel):
    """What ``recchat train llm-ranker`` trains, and how (units in each field's description)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    llm: str = Field("qwen2.5-coder-0.5b-instruct", description="base LLM: bundled name, folder or HF id")
    dataset: str = "movielens-1m"
    source: Literal["sasrec", "ease"] = Field("sasrec", description="the candidate source whose top list is reranked")
    sasrec: str = Field("sasrec-movielens-1m", description="trained SASRec name or folder (source sasrec)")
    ease_lambda: float = Field(500.0, gt=0, description="EASE L2 weight (source ease; TrainedAssets default)")
    ease_half_life: float | None = Field(3.0, description="EASE history half-life in items (None = binary)")
    candidates: int = Field(20, ge=2, le=26, description="candidates labelled A.. per prompt (= eval rerank_k)")
    history_items: int = Field(20, ge=1, description="newest history items shown in the prompt")
    layout: Literal["titles", "inline", "split"] = Field(
        "titles", description="RerankSettings.rerank_layout of the prompt (and of the eval that ranks with the "
        "adapter); titles = LlamaRec's compact prompt (ML-1M, Qwen2.5: ~760 tokens vs ~2,500 inline)")
    lora_r: int = Field(8, gt=0)
    lora_alpha: int = Field(16, gt=0)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    lora_top_layers: int | None = Field(None, gt=0, description="adapt only the top N decoder layers (backward "
                                        "stops below them: cheaper); None = every layer")
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(10, ge=0, description="optimiser steps of linear learning-rate warm-up")
    grad_accum: int = Field(16, gt=0, description="examples per optimiser step (batch 1, gradients accumulated)")
    epochs: int = Field(1, gt=0)
    max_steps: int | None = Field(None, gt=0, description="cap on optimiser steps")
    max_users: int | None = Field(None, gt=0, description="training users (seeded sample, before the in-list filter)")
    val_users: int = Field(300, ge=0, description="held-out validation users (seeded; never trained on)")
    eval_every: int = Field(25, gt=0, description="optimiser steps between validation evaluations")
    checkpoint_every: int = Field(1, gt=0, description="optimiser steps between checkpoints (state.pt)")
    max_length: int = Field(3072, gt=0, description="longest prompt trained on (tokens); longer ones are dropped")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="weights while training (bf16 is far "
                                                  "slower on CPUs without AVX-512 BF16)")
    gradient_checkpointing: bool = Field(False, description="recompute activations in backward: ~half the memory, "
                                         "~30% slower")
    seed: int = 0


# ----------------------------------------------------------------------------- folders


def llm_ranker_dir(name: str, home: Path | None = None) -> Path:
    """Where ``recchat train llm-ranker --name NAME`` writes: ``<home>/models/llm-rankers/<name>``."""
    from retrieval.config import recchat_home

    return (home or recchat_home()) / "models" / "llm-rankers" / name


def default_name(settings: LLMRankerTraining) -> str:
    """``<source>-<dataset>-<llm>`` (a folder's name for a folder LLM)."""
    return f"{settings.source}-{settings.dataset}-{Path(settings.llm).name}"


def resolve_llm_ranker(name: str, home: Path | None = None) -> Path:
    """A ranker name (see :func:`llm_ranker_dir`) or a folder holding a saved adapter -> that folder."""
    from retrieval.assets import resolve_trained_folder

    return resolve_trained_folder(name, llm_ranker_dir(name, home), "adapter_config.json", "LLM ranker",
                                  f"recchat train llm-ranker --name {name}")


@dataclass(frozen=True)
class TrainedLLMRanker:
    """A published adapter: its folder and the settings it was trained with."""

    folder: Path
    settings: LLMRankerTraining

    @property
    def weights(self) -> Path:
        return self.folder / "adapter_model.safetensors"

    @property
    def served_name(self) -> str:
        """The LoRA module name a vLLM server serves it as."""
        return "lora-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in self.folder.name)


def load_llm_ranker(name: str, home: Path | None = None) -> TrainedLLMRanker:
    """:func:`resolve_llm_ranker` + its ``training.json``; FileNotFoundError names what is missing."""
    folder = resolve_llm_ranker(name, home)
    meta = folder / "training.json"
    if not meta.is_file():
        raise FileNotFoundError(f"{folder} has an adapter but no training.json (the prompt settings it was trained "
                                "with); retrain it with recchat train llm-ranker")
    return TrainedLLMRanker(folder, LLMRankerTraining.model_validate_json(meta.read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------- model


def require_peft() -> Any:
    """The ``peft`` module, or ImportError with the install line."""
    try:
        import peft
    except ImportError as exc:
        raise ImportError(f"training an LLM ranker needs peft: {PEFT_HINT}") from exc
    return peft


def lora_model(base_dir: str | Path, settings: LLMRankerTraining) -> Any:
    """The base LLM (``settings.dtype``) wrapped by a fresh LoRA adapter (seeded init, B = 0 so
    step 0 is the zero-shot model), in train mode."""
    import torch
    from transformers import AutoModelForCausalLM

    peft = require_peft()
    torch.manual_seed(settings.seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=getattr(torch, settings.dtype))
    layers = None
    if settings.lora_top_layers is not None:
        total = int(model.config.num_hidden_layers)
        layers = list(range(max(0, total - settings.lora_top_layers), total))
    config = peft.LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                             target_modules=list(settings.target_modules), layers_to_transform=layers,
                             task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, config)
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return model.train()


def label_logits(model: Any, ids: Sequence[int], label_ids: Sequence[int]) -> Any:
    """Float32 logits (len(label_ids),) of the label tokens at the position after ``ids`` (one
    unpadded sequence; only the last position's vocabulary logits are computed)."""
    import torch

    out = model(input_ids=torch.tensor([list(ids)], dtype=torch.long), logits_to_keep=1, use_cache=False)
    return out.logits[0, -1, list(label_ids)].float()


def verbalizer_loss(model: Any, ids: Sequence[int], label_ids: Sequence[int], target: int) -> Any:
    """Cross-entropy of the label softmax against label ``target`` (0-based), in nats."""
    return -label_logits(model, ids, label_ids).log_softmax(-1)[target]


def ndcg10(rank: int | None) -> float:
    """NDCG@10 of one target at 1-based ``rank`` (None = absent)."""
    return 1.0 / math.log2(rank + 1) if rank is not None and rank <= 10 else 0.0


def validate(model: Any, builder: "PromptBuilder", examples: Sequence["RankExample"],
             progress: bool = False) -> dict[str, float | int]:
    """Mean NDCG@10 over ``examples`` of the label-probability order (ties: source order) and of
    the source order; users whose target the source missed score 0 in both. Eval mode, no grad."""
    import torch
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    reranked, source = [], []
    try:
        with torch.inference_mode():
            for ex in tqdm(examples, desc="validation", leave=False, disable=not progress):
                t = ex.target_index
                if t is None:
                    reranked.append(0.0), source.append(0.0)
                    continue
                ids, labels = builder.encode(ex)
                p = label_logits(model, ids, labels).tolist()
                order = sorted(range(len(p)), key=lambda i: (-p[i], i))
                reranked.append(ndcg10(order.index(t) + 1))
                source.append(ndcg10(t + 1))
    finally:
        model.train(was_training)
    hits = sum(e.target_index is not None for e in examples)
    inl = [(r, s) for r, s, e in zip(reranked, source, examples) if e.target_index is not None]
    return {"val_ndcg10": round(float(np.mean(reranked)) if reranked else 0.0, 5),
            "source_ndcg10": round(float(np.mean(source)) if source else 0.0, 5),
            "val_ndcg10_in_list": round(float(np.mean([r for r, _ in inl])) if inl else 0.0, 5),
            "source_ndcg10_in_list": round(float(np.mean([s for _, s in inl])) if inl else 0.0, 5),
            "users": len(examples), "in_list": hits}


# ----------------------------------------------------------------------------- data


def load_source(settings: LLMRankerTraining, histories: Sequence[Sequence[str]], universe: Sequence[str]) -> Any:
    """The candidate source: the trained SASRec (``settings.sasrec``) or EASE fit on ``histories``."""
    if settings.source == "sasrec":
        from retrieval.sasrec import SASRec, resolve_sasrec

        return SASRec.load(resolve_sasrec(settings.sasrec))
    from retrieval.ease import EASE

    return EASE(histories, universe, settings.ease_lambda, settings.ease_half_life)


@dataclass
class Examples:
    """Training examples (in-list, within ``max_length``) with their prompt lengths, the held-out
    validation examples (all, in-list or not) and the counts on the way."""

    train: list["RankExample"]
    train_tokens: list[int]
    val: list["RankExample"]
    counts: dict[str, int]


def prepare_examples(settings: LLMRankerTraining, data: "EvalDataset", builder: "PromptBuilder") -> Examples:
    """Split the VALIDATION split's users, build and filter the examples (see the module doc)."""
    from eval.train.llm_ranker_examples import build_examples, in_list, split_users
    from eval.splits import leave_one_out

    split = leave_one_out(data.interactions, "validation", settings.seed)
    items = data.item_map
    universe = sorted(set(data.interactions["item_id"].astype(str)) & set(items))
    train_cases, val_cases = split_users(split.cases, settings.val_users, settings.max_users, settings.seed)
    model = load_source(settings, [c.history for c in split.cases], universe)
    train_all = build_examples(train_cases, model, settings.candidates, items)
    val = build_examples(val_cases, model, settings.candidates, items)
    kept, tokens, too_long = [], [], 0
    for ex in in_list(train_all):
        n = len(builder.encode(ex)[0])
        if n > settings.max_length:
            too_long += 1
            continue
        kept.append(ex)
        tokens.append(n)
    counts = {"training_users": len(train_cases), "target_in_list": len(in_list(train_all)),
              "dropped_too_long": too_long, "examples": len(kept), "val_users": len(val),
              "val_in_list": len(in_list(val))}
    return Examples(kept, tokens, val, counts)


def example_order(n: int, epochs: int, seed: int) -> list[int]:
    """Indices of ``n`` examples for ``epochs`` epochs: a seeded permutation per epoch."""
    order: list[int] = []
    for epoch in range(epochs):
        order += np.random.default_rng([seed, epoch]).permutation(n).tolist()
    return order


# ----------------------------------------------------------------------------- training


def _atomic_torch_save(obj: object, path: Path) -> None:
    import torch

    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def publish_adapter(model: Any, folder: Path) -> None:
    """``save_pretrained`` into a temporary sibling, then move each file over the published one
    (a reader never sees a half-written file)."""
    import shutil

    tmp = folder / ".adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    for f in sorted(tmp.iterdir(), key=lambda p: p.name != "adapter_config.json"):  # config first
        os.replace(f, folder / f.name)
    shutil.rmtree(tmp, ignore_errors=True)


#: Settings a resume may change: they set when to validate, save or stop, not what is trained.
SCHEDULE_FIELDS = frozenset({"eval_every", "checkpoint_every", "max_steps"})


def _check_settings(folder: Path, settings: LLMRankerTraining, fresh: bool) -> None:
    meta, state = folder / "training.json", folder / "state.pt"
    if fresh:
        for name in ("state.pt", "log.jsonl", "report.json", "adapter_model.safetensors", "adapter_config.json"):
            (folder / name).unlink(missing_ok=True)
    elif state.is_file() and meta.is_file():
        saved = LLMRankerTraining.model_validate_json(meta.read_text(encoding="utf-8"))
        diff = {k: (v, getattr(settings, k)) for k, v in saved.model_dump().items()
                if k not in SCHEDULE_FIELDS and getattr(settings, k) != v}
        if diff:
            raise ValueError(f"{folder} holds a run with other settings (saved -> now: {diff}); pass the same "
                             "options to resume it, or --fresh to start over")


def train_llm_ranker(settings: LLMRankerTraining, folder: Path, *, max_minutes: float | None = None,
                     fresh: bool = False, progress: bool = True, data: "EvalDataset | None" = None) -> dict[str, Any]:
    """Train (or resume) into ``folder``; returns the report (also ``report.json``): status
    ``finished`` or ``paused`` (``max_minutes`` spent; rerun to resume)."""
    import torch
    from tqdm.auto import tqdm

    from agent.llm.assets import resolve_llm
    from agent.llm.transformers_engine import TransformersEngine
    from eval.data import load_dataset
    from eval.train.llm_ranker_examples import PromptBuilder

    peft = require_peft()
    folder.mkdir(parents=True, exist_ok=True)
    _check_settings(folder, settings, fresh)
    (folder / "training.json").write_text(settings.model_dump_json(indent=1), encoding="utf-8")
    state_path = folder / "state.pt"

    base_dir = resolve_llm(settings.llm)
    data = data if data is not None else load_dataset(settings.dataset)
    builder = PromptBuilder(TransformersEngine(base_dir), data.item_map, candidates=settings.candidates,
                            history_items=settings.history_items, layout=settings.layout)
    examples = prepare_examples(settings, data, builder)
    if not examples.train:
        raise ValueError(f"no training example: none of the {examples.counts['training_users']} training users has "
                         f"the validation target in the {settings.source} top {settings.candidates} "
                         f"within {settings.max_length} tokens ({examples.counts})")
    order = example_order(len(examples.train), settings.epochs, settings.seed)
    total_steps = math.ceil(len(order) / settings.grad_accum)
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)

    model = lora_model(base_dir, settings)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    state: dict[str, Any] = {"step": 0, "losses": [], "evals": [], "log": [], "best": -1.0, "best_step": None,
                             "train_s": 0.0, "train_cpu_s": 0.0, "eval_s": 0.0, "eval_cpu_s": 0.0, "done": False}
    if state_path.is_file():
        ckpt = torch.load(state_path, map_location="cpu", weights_only=True)
        if ckpt["order"] != order:
            raise ValueError(f"{state_path} was made with another example order (data or source changed); "
                             "rerun with --fresh")
        peft.set_peft_model_state_dict(model, ckpt["adapter"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        torch.set_rng_state(ckpt["torch_rng"])
    # the log holds exactly the checkpointed steps (steps after the last checkpoint are redone)
    (folder / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in state["log"]), encoding="utf-8")

    def save_state() -> None:
        _atomic_torch_save({"adapter": peft.get_peft_model_state_dict(model), "optimizer": opt.state_dict(),
                            "state": state, "order": order, "torch_rng": torch.get_rng_state()}, state_path)

    def log(entry: dict[str, Any]) -> None:
        state["log"].append(entry)
        with (folder / "log.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    def evaluate() -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        result = {"step": state["step"], **validate(model, builder, examples.val, progress)}
        state["eval_s"] += time.perf_counter() - t0
        state["eval_cpu_s"] += time.process_time() - c0
        state["evals"].append(result)
        log({"eval": result})
        if result["val_ndcg10"] > state["best"] or state["best_step"] is None:
            state.update(best=result["val_ndcg10"], best_step=state["step"])
            publish_adapter(model, folder)

    started = time.perf_counter()
    status = "finished" if state["done"] else "paused"
    bar = tqdm(total=total_steps, initial=state["step"], desc="LLM ranker steps", unit="step", disable=not progress)
    if not state["done"] and not state["evals"] and settings.val_users > 0:
        evaluate()  # step 0: the zero-shot model (LoRA B = 0)
        save_state()
    while not state["done"]:
        step = state["step"]
        t0, c0 = time.perf_counter(), time.process_time()
        warm = min(1.0, (step + 1) / settings.warmup_steps) if settings.warmup_steps else 1.0
        for g in opt.param_groups:
            g["lr"] = settings.lr * warm
        batch = order[step * settings.grad_accum:(step + 1) * settings.grad_accum]
        total = 0.0
        for idx in batch:
            ex = examples.train[idx]
            ids, labels = builder.encode(ex)
            loss = verbalizer_loss(model, ids, labels, ex.target_index) / len(batch)
            loss.backward()
            total += float(loss.detach())
        opt.step()
        opt.zero_grad(set_to_none=True)
        state["step"] = step + 1
        seconds = time.perf_counter() - t0
        state["train_s"] += seconds
        state["train_cpu_s"] += time.process_time() - c0
        entry = {"step": step + 1, "loss": round(total, 5), "examples": len(batch), "seconds": round(seconds, 2),
                 "lr": opt.param_groups[0]["lr"]}
        state["losses"].append(entry)
        log(entry)
        state["done"] = state["step"] >= total_steps
        if settings.val_users > 0 and (state["step"] % settings.eval_every == 0 or state["done"]):
            evaluate()
        out_of_time = max_minutes is not None and time.perf_counter() - started > 60 * max_minutes
        if state["done"] or out_of_time or state["step"] % settings.checkpoint_every == 0:
            save_state()
        bar.update(1)
        bar.set_postfix(loss=entry["loss"], best=state["best"])
        if state["done"]:
            status = "finished"
        elif out_of_time:
            break
    bar.close()
    if settings.val_users == 0 and state["step"] > 0:
        publish_adapter(model, folder)  # no validation: the last adapter is the published one
    report = _report(settings, folder, status, state, examples, total_steps, base_dir)
    (folder / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def _report(settings: LLMRankerTraining, folder: Path, status: str, state: dict[str, Any], examples: Examples,
            total_steps: int, base_dir: Any) -> dict[str, Any]:
    import torch

    steps = max(state["step"], 1)
    seen = sum(e["examples"] for e in state["losses"])
    tokens = examples.train_tokens
    evals = state["evals"]
    return {
        "status": status, "folder": str(folder), "base_llm": str(base_dir), "settings": settings.model_dump(),
        "counts": examples.counts, "steps": state["step"], "total_steps": total_steps, "examples_seen": seen,
        "best_step": state["best_step"], "val_ndcg10_best": state["best"],
        "zero_shot": evals[0] if evals and evals[0]["step"] == 0 else None,
        "curve": evals, "loss_curve": [[e["step"], e["loss"]] for e in state["losses"]],
        "tokens_per_example": {"mean": round(float(np.mean(tokens)), 1), "p50": float(np.median(tokens)),
                               "max": int(max(tokens)), "min": int(min(tokens))},
        "train_wall_s": round(state["train_s"], 1), "train_cpu_s": round(state["train_cpu_s"], 1),
        "eval_wall_s": round(state["eval_s"], 1), "eval_cpu_s": round(state["eval_cpu_s"], 1),
        "seconds_per_step": round(state["train_s"] / steps, 2),
        "seconds_per_example": round(state["train_s"] / max(seen, 1), 2),
        "torch_threads": torch.get_num_threads(),
    }


# ----------------------------------------------------------------------------- ranking with the adapter


def lora_engine(trained: TrainedLLMRanker, agent: "AgentSettings", progress: bool = True) -> "Engine":
    """The engine that scores with the adapter (see :func:`agent.llm.engines.make_lora_engine`)."""
    from agent.llm.engines import make_lora_engine

    return make_lora_engine(agent, trained.folder, trained.served_name, base=trained.settings.llm,
                            max_lora_rank=trained.settings.lora_r, progress=progress)


def lora_ranker(trained: TrainedLLMRanker, engine: "Engine", agent: "AgentSettings") -> "Ranker":
    """A :class:`agent.ranking.rerank.VerbalizerRanker` over ``engine`` with the prompt settings the
    adapter was trained with (layout, labels); permutations and seed from ``agent``."""
    from agent.ranking.rerank import VerbalizerRanker

    s = trained.settings
    prompt = {"rerank_layout": s.layout, "max_candidates": s.candidates}
    return VerbalizerRanker(engine, agent.model_copy(update=prompt))


def check_run(trained: TrainedLLMRanker, ctx: "EvalContext") -> None:
    """Raise ValueError when the eval run differs from the training prompt: another base LLM,
    another candidate count or another instruction."""
    from eval.settings import DEFAULT_INSTRUCTION

    s, run = trained.settings, ctx.settings
    if not _same_llm(run.agent.llm, s.llm):
        raise ValueError(f"the LLM ranker {trained.folder} was trained on {s.llm!r} but this run uses "
                         f"{run.agent.llm!r}: pass --llm {s.llm}")
    if run.rerank_k != s.candidates:
        raise ValueError(f"the LLM ranker {trained.folder} was trained on {s.candidates} candidates but this run "
                         f"reranks {run.rerank_k} (RECCHAT_AGENT_MAX_CANDIDATES={s.candidates})")
    if run.instruction != DEFAULT_INSTRUCTION:
        raise ValueError(f"the LLM ranker {trained.folder} was trained with the default instruction, not "
                         f"{run.instruction!r}")


def _same_llm(a: str, b: str) -> bool:
    """Same model: equal names, or a bundled name and its converted folder (nothing is built)."""
    from agent.llm.assets import BUNDLED, llm_dir

    def where(name: str) -> str:
        path = llm_dir(name) if name in BUNDLED else Path(name).expanduser()
        return str(path.resolve()) if path.exists() else name

    return a == b or where(a) == where(b)
