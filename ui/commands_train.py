"""``recchat train ranker|retriever|fusion|lora-fusion|chat-fusion|ease|sasrec|llm-ranker|eval``: learn from behaviour (see
eval.train.ranker, eval.train.retriever, eval.train.llm_ranker, eval.train.pipelines).

Wired into the main CLI by ``ui.cli``: ``from ui.commands_train import register; register(app)``.
Also runnable alone: ``python -m ui.commands_train ranker ...``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from retrieval.movielens import DATASETS

if TYPE_CHECKING:
    from eval.settings import EvalSettings
    from eval.train.pipelines import TrainedAssets

console = Console(stderr=True)
train_app = typer.Typer(help="Train behaviour-aware components (cross-encoder ranker, retriever) and evaluate them.",
                        no_args_is_help=True)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@train_app.command("ranker")
def train_ranker_command(
    dataset: Annotated[str, typer.Option(help="movielens-100k or movielens-1m")] = "movielens-100k",
    name: Annotated[Optional[str], typer.Option(help="ranker name (default ce-<dataset>)")] = None,
    base: Annotated[str, typer.Option(help="starting checkpoint: minilm or a local model folder")] = "minilm",
    max_users: Annotated[Optional[int], typer.Option(help="training users (seeded sample)")] = None,
    positions_per_user: Annotated[int, typer.Option(help="newest training-part positions per user")] = 1,
    negatives: Annotated[int, typer.Option(help="negatives per positive")] = 3,
    hard_ratio: Annotated[float, typer.Option(help="share of negatives from the retriever's top --hard-pool")] = 0.5,
    hard_pool: Annotated[int, typer.Option(help="retriever top-N for hard negatives")] = 50,
    max_pairs: Annotated[int, typer.Option(help="cap on training pairs")] = 4000,
    val_users: Annotated[int, typer.Option(help="validation users (half early stopping, half report)")] = 200,
    max_length: Annotated[int, typer.Option(help="tokens per pair")] = 256,
    epochs: Annotated[int, typer.Option()] = 2,
    batch_size: Annotated[int, typer.Option()] = 16,
    lr: Annotated[float, typer.Option()] = 2e-5,
    eval_every: Annotated[int, typer.Option(help="steps between validation evaluations")] = 100,
    patience: Annotated[int, typer.Option(help="evaluations without improvement before stopping")] = 3,
    max_steps: Annotated[Optional[int], typer.Option(help="cap on optimiser steps")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads")] = None,
    bf16: Annotated[bool, typer.Option(help="bf16 autocast while training (only faster on CPUs with native bf16)")] = False,
    train_layers: Annotated[Optional[int], typer.Option(help="train only the top N encoder layers (cheaper)")] = None,
    behaviour: Annotated[Optional[str], typer.Option(
        help="trained SASRec (name or folder): pairs from its top --list-k lists, its rank and a popularity "
             "bucket written into every candidate")] = None,
    list_k: Annotated[int, typer.Option(help="size of the behaviour list the ranker reranks")] = 20,
    seed: Annotated[int, typer.Option()] = 0,
    fresh: Annotated[bool, typer.Option(help="discard an unfinished run instead of resuming it")] = False,
) -> None:
    """Fine-tune the cross-encoder ranker on training-split pairs (resumes an unfinished run)."""
    from pydantic import ValidationError

    from eval.train.ranker import RankerTrainConfig, train_ranker

    short = DATASETS[dataset].short if dataset in DATASETS else dataset
    try:
        cfg = RankerTrainConfig(dataset=dataset, name=name or f"ce-{short}", base=base, max_users=max_users,
                                positions_per_user=positions_per_user, negatives_per_positive=negatives,
                                hard_ratio=hard_ratio, hard_pool=hard_pool, max_train_pairs=max_pairs,
                                val_users=val_users, max_length=max_length, epochs=epochs, batch_size=batch_size,
                                lr=lr, eval_every=eval_every, patience=patience, max_steps=max_steps, threads=threads,
                                bf16=bf16, train_layers=train_layers, behaviour=behaviour, list_k=list_k, seed=seed)
    except ValidationError as exc:
        _fail("bad option: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    try:
        result = train_ranker(cfg, fresh=fresh)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted:[/] rerun the same command to resume from the last checkpoint")
        raise typer.Exit(130)
    typer.echo(json.dumps({"path": str(result.path), "metrics": result.meta["metrics"],
                           "wall_s": result.meta["wall_s"], "cpu_process_s": result.meta["cpu_process_s"]}, indent=1))


@train_app.command("retriever")
def train_retriever_command(
    dataset: Annotated[str, typer.Option(help="movielens-100k or movielens-1m")] = "movielens-100k",
    name: Annotated[Optional[str], typer.Option(help="retriever name (default st-<dataset>)")] = None,
    base: Annotated[str, typer.Option(help="starting embedder: minilm or a local model folder")] = "minilm",
    max_users: Annotated[Optional[int], typer.Option(help="training users (seeded sample)")] = None,
    positions_per_user: Annotated[int, typer.Option(help="newest training-part positions per user")] = 3,
    max_pairs: Annotated[int, typer.Option(help="cap on (history, next item) pairs")] = 3000,
    max_length: Annotated[int, typer.Option(help="tokens per text")] = 128,
    epochs: Annotated[int, typer.Option()] = 1,
    batch_size: Annotated[int, typer.Option(help="in-batch negatives = batch_size - 1")] = 32,
    lr: Annotated[float, typer.Option()] = 2e-5,
    val_users: Annotated[int, typer.Option(help="validation users for early stopping (recall@K)")] = 300,
    index: Annotated[bool, typer.Option(help="re-index the catalog with the tuned model afterwards")] = True,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    fresh: Annotated[bool, typer.Option(help="discard an unfinished run instead of resuming it")] = False,
) -> None:
    """Fine-tune the sentence-transformer on (history text -> next item) pairs, then re-index."""
    from pydantic import ValidationError

    from eval.train.retriever import RetrieverTrainConfig, index_with, train_retriever

    short = DATASETS[dataset].short if dataset in DATASETS else dataset
    try:
        cfg = RetrieverTrainConfig(dataset=dataset, name=name or f"st-{short}", base=base, max_users=max_users,
                                   positions_per_user=positions_per_user, max_train_pairs=max_pairs,
                                   max_length=max_length, epochs=epochs, batch_size=batch_size, lr=lr,
                                   val_users=val_users, threads=threads, seed=seed)
    except ValidationError as exc:
        _fail("bad option: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    try:
        result = train_retriever(cfg, fresh=fresh)
        report = index_with(result.path, dataset) if index else None
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted:[/] rerun the same command to resume from the last checkpoint")
        raise typer.Exit(130)
    typer.echo(json.dumps({"path": str(result.path), "metrics": result.meta["metrics"], "wall_s": result.meta["wall_s"],
                           "index": report}, indent=1, default=str))


@train_app.command("chat-fusion")
def train_chat_fusion_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="movielens-100k or movielens-1m")] = "movielens-1m",
    users: Annotated[int, typer.Option(min=10, help="training people (never the evaluation sample)")] = 600,
    eval_users: Annotated[int, typer.Option(help="size of the evaluation sample left out (same seed as recchat eval)")] = 200,
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Optional[Path], typer.Option(help="folder for fit.json (the report of the fit, with its command)")] = None,
    sasrec: Annotated[Optional[str], typer.Option(help="trained SASRec (name or folder) for the 'sequence' weights "
                                                  "the chat uses when that model is present")] = None,
) -> None:
    """Learn the chat's candidate-fusion weights (text, behaviour, EASE, popularity, rating, and
    with --sasrec the sequence model) from simulated requests of training users; the chat and
    `recchat eval` use them for that catalog."""
    from eval.train.chat_fusion import train_chat_fusion
    from ui.commands_eval import passed_options, recorded_command

    command = recorded_command("recchat train chat-fusion", passed_options(ctx))
    try:
        result = train_chat_fusion(dataset, users, eval_users, seed, out, sasrec=sasrec)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    if out is not None:
        doc = json.loads((out / "fit.json").read_text(encoding="utf-8"))
        (out / "fit.json").write_text(json.dumps({"command": command, **doc}, indent=1) + "\n", encoding="utf-8")
    typer.echo(json.dumps({"weights_file": str(result.path), "command": command, **result.report}, indent=1))


@train_app.command("ease")
def train_ease_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="movielens-100k or movielens-1m")] = "movielens-1m",
    lambdas: Annotated[str, typer.Option(help="comma-separated L2 weights to try")] = "100,200,500,1000",
    half_lives: Annotated[str, typer.Option(help="comma-separated history half-lives in items ('none' = binary)")] =
        "none,10,5,3,2,1",
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path, typer.Option(help="folder for grid.json (every grid point and the best)")] =
        Path("docs/results/ease-validation"),
) -> None:
    """Choose EASE's L2 weight and history recency on the VALIDATION split (full ranking, every
    eligible user); item-kNN is scored beside it as the reference. The test split is never read."""
    from eval.train.behaviour import tune_ease
    from ui.commands_eval import passed_options, recorded_command

    command = recorded_command("recchat train ease", passed_options(ctx))
    try:
        grid_l = [float(v) for v in lambdas.split(",") if v.strip()]
        grid_h = [None if v.strip().lower() == "none" else float(v) for v in half_lives.split(",") if v.strip()]
    except ValueError:
        _fail(f"--lambdas and --half-lives take comma-separated numbers ('none' for a binary history): "
              f"{lambdas!r} / {half_lives!r}")
    try:
        summary = tune_ease(dataset, out, grid_l, grid_h, seed)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    doc = {"command": command, **summary}
    (out / "grid.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    typer.echo(json.dumps({"command": command, "best": summary["best"],
                           "item_knn_reference": summary["item_knn_reference"]}, indent=1))


@train_app.command("sasrec")
def train_sasrec_command(
    dataset: Annotated[str, typer.Option(help="movielens-100k or movielens-1m")] = "movielens-1m",
    name: Annotated[Optional[str], typer.Option(help="model name (default sasrec-<dataset>) or a folder")] = None,
    dim: Annotated[int, typer.Option(help="hidden size")] = 64,
    blocks: Annotated[int, typer.Option(help="self-attention blocks")] = 2,
    maxlen: Annotated[int, typer.Option(help="newest history items read")] = 200,
    dropout: Annotated[float, typer.Option()] = 0.2,
    lr: Annotated[float, typer.Option()] = 1e-3,
    batch_size: Annotated[int, typer.Option()] = 128,
    negatives: Annotated[int, typer.Option(help="0 = full softmax; N = sampled softmax with N negatives")] = 0,
    max_epochs: Annotated[int, typer.Option()] = 200,
    eval_every: Annotated[int, typer.Option(help="epochs between validation evaluations")] = 5,
    patience: Annotated[int, typer.Option(help="evaluations without a gain before stopping")] = 3,
    val_users: Annotated[int, typer.Option(help="validation users scored at each evaluation")] = 1000,
    max_minutes: Annotated[Optional[float], typer.Option(help="pause after this many minutes (rerun to resume)")] =
        None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    fresh: Annotated[bool, typer.Option(help="discard an unfinished run instead of resuming it")] = False,
) -> None:
    """Train the SASRec sequential model (full catalog softmax, validation early stopping) on CPU;
    resumes an unfinished run with the same options. See eval.train.sasrec."""
    from pydantic import ValidationError

    from eval.train.sasrec import SASRecTraining, train_sasrec
    from retrieval.sasrec import sasrec_dir

    try:
        settings = SASRecTraining(dataset=dataset, dim=dim, blocks=blocks, maxlen=maxlen, dropout=dropout, lr=lr,
                                  batch_size=batch_size, negatives=negatives, max_epochs=max_epochs,
                                  eval_every=eval_every, patience=patience, val_users=val_users, seed=seed)
    except ValidationError as exc:
        _fail("bad option: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    if threads:
        import torch

        torch.set_num_threads(threads)
    name = name or f"sasrec-{dataset}"
    folder = Path(name).expanduser() if ("/" in name or Path(name).is_dir()) else sasrec_dir(name)
    console.print(f"training SASRec into {folder}")
    try:
        report = train_sasrec(settings, folder, max_minutes=max_minutes, fresh=fresh)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    if report["status"] == "paused":
        console.print(f"paused after {max_minutes} min at epoch {report['epochs']}: rerun the same command to resume")
    typer.echo(json.dumps({k: v for k, v in report.items() if k != "settings"}, indent=1))


@train_app.command("eval")
def train_eval_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="report folder")],
    dataset: Annotated[str, typer.Option(help="movielens-100k or movielens-1m")] = "movielens-100k",
    protocol: Annotated[str, typer.Option(help="full or sampled")] = "full",
    pipelines: Annotated[str, typer.Option(help="comma-separated; see eval.train.pipelines")] =
        "popularity,retrieval,retrieval+knn,retrieval+ranker",
    users: Annotated[int, typer.Option(help="seeded user sample (0 = all)")] = 0,
    split: Annotated[str, typer.Option(help="test or validation")] = "test",
    ranker: Annotated[Optional[str], typer.Option(help="trained ranker name or folder")] = None,
    retriever: Annotated[Optional[str], typer.Option(help="trained retriever name or folder (for retrieval-ft*)")] = None,
    sasrec: Annotated[Optional[str], typer.Option(help="trained SASRec name or folder (for *sasrec*); several joined by commas: their ensemble (mean log-softmax)")] = None,
    llm_ranker: Annotated[Optional[str], typer.Option(
        help="LoRA-trained LLM ranker name or folder (for *llm-lora; its base LLM is the default --llm)")] = None,
    fusion_weight: Annotated[Optional[float], typer.Option(help="ranker+llm fusion weight (default: tuned file)")] = None,
    llm: Annotated[Optional[str], typer.Option(help="LLM of +llm pipelines")] = None,
    llm_url: Annotated[Optional[str], typer.Option(help="running OpenAI-compatible server")] = None,
    limit_users: Annotated[Optional[int], typer.Option(help="first N users of the sample")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    fresh: Annotated[bool, typer.Option(help="discard cached per-user results in --out")] = False,
) -> None:
    """Evaluate the trained stages through the eval harness (same users, same protocol)."""
    from pydantic import ValidationError

    from agent.settings import AgentSettings
    from eval.runner import run_eval
    from eval.settings import EvalSettings
    from eval.train.pipelines import TrainedAssets, trained_registry
    from ui.commands_eval import passed_options

    passed = passed_options(ctx)
    if llm_ranker is not None and llm is None:
        from eval.train.llm_ranker import load_llm_ranker

        try:
            llm = load_llm_ranker(llm_ranker).settings.llm  # the adapter's base model
        except FileNotFoundError as exc:
            _fail(str(exc))
    try:
        agent = AgentSettings(**{k: v for k, v in {"llm": llm, "llm_url": llm_url}.items() if v is not None})
        settings = EvalSettings(dataset=dataset, protocol=protocol, pipelines=pipelines, users=users or None, seed=seed,
                                split=split, explain=False, agent=agent,
                                **({"limit_users": limit_users} if limit_users is not None else {}))
    except ValidationError as exc:
        _fail("bad option: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    assets = TrainedAssets(ranker=ranker, retriever=retriever, sasrec=sasrec, llm_ranker=llm_ranker,
                           fusion_weight=fusion_weight)
    try:
        from eval.data import load_dataset

        data = load_dataset(settings.dataset)
        registry = trained_registry(settings, data, assets)
        command = train_eval_command_line(settings, out, assets, passed)
        doc = run_eval(settings, out, registry=registry, dataset=data, fresh=fresh, command=command)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    for name, p in doc["pipelines"].items():
        m = p["metrics"]
        typer.echo(f"{name:28s} NDCG@10 {m['ndcg@10']['mean']:.4f}  Recall@10 {m['recall@10']['mean']:.4f}  "
                   f"MRR {m['mrr']['mean']:.4f}")


def train_eval_command_line(settings: "EvalSettings", out: Path, assets: "TrainedAssets", passed: dict | None = None,
                            env: dict[str, str] | None = None) -> str:
    """The ``recchat train eval`` line of a run (recorded in its report): the environment in
    force, the options that define the run with their resolved values, and every other option
    that was ``passed`` (see :func:`ui.commands_eval.recorded_command`)."""
    import inspect

    from eval.report import uses_llm
    from ui.commands_eval import recorded_command

    resolved = {"out": out, "dataset": settings.dataset, "protocol": settings.protocol,
                "pipelines": ",".join(settings.pipelines), "users": settings.users or 0, "split": settings.split,
                "ranker": assets.ranker, "retriever": assets.retriever, "sasrec": assets.sasrec,
                "llm_ranker": assets.llm_ranker, "fusion_weight": assets.fusion_weight,
                "limit_users": settings.limit_users, "seed": settings.seed}
    if any(uses_llm(p) for p in settings.pipelines):
        resolved |= {"llm": settings.agent.llm, "llm_url": settings.agent.llm_url}
    passed = passed or {}
    order = [n for n in inspect.signature(train_eval_command).parameters
             if n != "ctx" and (n in resolved or n in passed)]
    values = {n: resolved[n] if resolved.get(n) is not None else passed.get(n) for n in order}
    return recorded_command("recchat train eval", values, env)


@train_app.command("fusion")
def train_fusion_command(
    ranker: Annotated[str, typer.Option(help="trained ranker name or folder")],
    dataset: Annotated[str, typer.Option()] = "movielens-100k",
    users: Annotated[int, typer.Option(help="validation users")] = 100,
    llm: Annotated[Optional[str], typer.Option(help="LLM (bundled name, HF id, folder)")] = None,
    llm_url: Annotated[Optional[str], typer.Option(help="running OpenAI-compatible server")] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Tune the cross-encoder + LLM fusion weight on the VALIDATION split and save it beside the ranker."""
    from eval.train.pipelines import tune_fusion_on_validation

    try:
        tuning, path = tune_fusion_on_validation(dataset, ranker, users=users, llm=llm, llm_url=llm_url, seed=seed)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(json.dumps({"saved": str(path), **tuning.model_dump()}, indent=1))


@train_app.command("lora-fusion")
def train_lora_fusion_command(
    llm_ranker: Annotated[str, typer.Option(help="trained LoRA LLM ranker (recchat train llm-ranker): name or folder")],
    source: Annotated[str, typer.Option(help="the ranker's candidate source whose scores are fused: sasrec or ease")]
        = "sasrec",
    sasrec: Annotated[str, typer.Option(help="trained SASRec name or folder (source sasrec; several joined by "
                                        "commas: their ensemble)")] = "sasrec-movielens-1m",
    dataset: Annotated[str, typer.Option()] = "movielens-1m",
    protocol: Annotated[str, typer.Option(help="sampled or full: the protocol the weight is tuned for")] = "sampled",
    users: Annotated[int, typer.Option(help="validation users (the LLM scores each once)")] = 100,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Tune the weight (and source temperature) of <source>+llm-lora-fused on the VALIDATION split and
    save it beside the adapter."""
    from eval.train.pipelines import tune_lora_fusion_on_validation

    if protocol not in ("sampled", "full"):
        _fail(f"--protocol must be sampled or full, got {protocol!r}")
    try:
        tuning, path = tune_lora_fusion_on_validation(dataset, llm_ranker, source=source,
                                                      sasrec=sasrec if source == "sasrec" else None,
                                                      protocol=protocol, users=users, seed=seed)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(json.dumps({"saved": str(path), **tuning.model_dump()}, indent=1))


@train_app.command("llm-ranker")
def train_llm_ranker_command(
    llm: Annotated[str, typer.Option(help="base LLM: bundled name, folder or HF id")] = "qwen2.5-coder-0.5b-instruct",
    dataset: Annotated[str, typer.Option(help="movielens-100k or movielens-1m")] = "movielens-1m",
    source: Annotated[str, typer.Option(help="candidate source: sasrec or ease")] = "sasrec",
    sasrec: Annotated[str, typer.Option(help="trained SASRec name or folder (source sasrec)")] = "sasrec-movielens-1m",
    name: Annotated[Optional[str], typer.Option(help="ranker name (default <source>-<dataset>-<llm>) or a folder")] =
        None,
    candidates: Annotated[int, typer.Option(help="candidates per prompt (the eval's rerank_k)")] = 20,
    history_items: Annotated[int, typer.Option(help="newest history items in the prompt")] = 20,
    layout: Annotated[str, typer.Option(help="prompt layout: titles (compact, LlamaRec's), inline or split; "
                                        "the eval ranks with the adapter's layout")] = "titles",
    lora_r: Annotated[int, typer.Option(help="LoRA rank")] = 8,
    lora_alpha: Annotated[int, typer.Option()] = 16,
    lora_dropout: Annotated[float, typer.Option()] = 0.05,
    lora_top_layers: Annotated[Optional[int], typer.Option(help="adapt only the top N layers (cheaper backward)")] =
        None,
    lr: Annotated[float, typer.Option()] = 1e-4,
    grad_accum: Annotated[int, typer.Option(help="examples per optimiser step (batch 1)")] = 16,
    warmup_steps: Annotated[int, typer.Option(help="optimiser steps of linear warm-up")] = 10,
    epochs: Annotated[int, typer.Option()] = 1,
    max_steps: Annotated[Optional[int], typer.Option(help="cap on optimiser steps")] = None,
    max_users: Annotated[Optional[int], typer.Option(help="training users (seeded sample)")] = None,
    val_users: Annotated[int, typer.Option(help="held-out validation users (0 = no validation)")] = 300,
    eval_every: Annotated[int, typer.Option(help="optimiser steps between validation evaluations")] = 25,
    checkpoint_every: Annotated[int, typer.Option(help="optimiser steps between checkpoints")] = 1,
    max_length: Annotated[int, typer.Option(help="longest prompt trained on, in tokens (longer: dropped)")] = 3072,
    gradient_checkpointing: Annotated[bool, typer.Option(help="about half the memory, ~30% slower")] = False,
    max_minutes: Annotated[Optional[float], typer.Option(help="pause after this many minutes (rerun to resume)")] =
        None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    fresh: Annotated[bool, typer.Option(help="discard an unfinished run instead of resuming it")] = False,
) -> None:
    """LoRA-train the LLM verbalizer reranker on its exact prompt over the source's top list
    (LlamaRec's recipe, validation split; see eval.train.llm_ranker); resumes an unfinished run."""
    from pydantic import ValidationError

    from eval.train.llm_ranker import LLMRankerTraining, default_name, llm_ranker_dir, train_llm_ranker

    try:
        settings = LLMRankerTraining(llm=llm, dataset=dataset, source=source, sasrec=sasrec, candidates=candidates,
                                     history_items=history_items, layout=layout, lora_r=lora_r, lora_alpha=lora_alpha,
                                     lora_dropout=lora_dropout, lora_top_layers=lora_top_layers, lr=lr,
                                     grad_accum=grad_accum, warmup_steps=warmup_steps, epochs=epochs,
                                     max_steps=max_steps, max_users=max_users, val_users=val_users,
                                     eval_every=eval_every, checkpoint_every=checkpoint_every, max_length=max_length,
                                     gradient_checkpointing=gradient_checkpointing, seed=seed)
    except ValidationError as exc:
        _fail("bad option: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    if threads:
        import torch

        torch.set_num_threads(threads)
    name = name or default_name(settings)
    folder = Path(name).expanduser() if ("/" in name or Path(name).is_dir()) else llm_ranker_dir(name)
    console.print(f"training the LLM ranker into {folder}")
    try:
        report = train_llm_ranker(settings, folder, max_minutes=max_minutes, fresh=fresh)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted:[/] rerun the same command to resume from the last checkpoint")
        raise typer.Exit(130)
    if report["status"] == "paused":
        console.print(f"paused after {max_minutes} min at step {report['steps']} of {report['total_steps']}: "
                      "rerun the same command to resume")
    typer.echo(json.dumps({k: v for k, v in report.items() if k not in ("settings", "loss_curve")}, indent=1))


def register(app: typer.Typer) -> None:
    """Add the ``train`` sub-app to ``app``."""
    app.add_typer(train_app, name="train")


if __name__ == "__main__":  # pragma: no cover
    train_app()
