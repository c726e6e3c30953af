"""The ``recchat eval`` command: run an offline evaluation, or compare two reports.

Wired into the main CLI by ``ui.cli``: ``from ui.commands_eval import register; register(app)``.
"""

from __future__ import annotations

import inspect
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console

if TYPE_CHECKING:
    from eval.data import EvalDataset
    from eval.pipelines import PipelineRegistry
    from eval.settings import EvalSettings

console = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def eval_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="movielens-100k, movielens-1m, or a name for --interactions/--catalog")] = "movielens-1m",
    protocol: Annotated[str, typer.Option(help="'sampled' (1 target + 19 frozen random items), 'full' (every item), "
                                               "'conversation' (simulated person, hidden target), 'requests' "
                                               "(constraint suite), 'explanations' (strict reason check) or "
                                               "'freeform' (free-form request suite)")] = "sampled",
    pipelines: Annotated[str, typer.Option(help="comma-separated: popularity, retrieval, retrieval+llm, retrieval+order, "
                                                "knn, retrieval+knn (item-kNN, no training); trained ones: recchat train eval. "
                                                "conversation: popularity, retrieval, agent-rules, agent-llm; requests: "
                                                "chat-rules, chat-llm, recommend-rules, recommend-llm; explanations: chat-llm; "
                                                "freeform: as requests")] = "popularity,retrieval",
    users: Annotated[Optional[int], typer.Option(help="seeded user sample size (0 = every eligible user)")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the user sample, candidates and random hold-out")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="report folder (results.json, report.md, PNGs, cache)")] = None,
    limit_users: Annotated[Optional[int], typer.Option(help="evaluate only the first N sampled users (quick runs); "
                                                          "freeform: the first N requests, one kind in turn")] = None,
    min_rating: Annotated[Optional[float], typer.Option(help="keep only interactions rated >= R")] = None,
    split: Annotated[str, typer.Option(help="held-out item: test (last) or validation (second-to-last)")] = "test",
    llm: Annotated[Optional[str], typer.Option(help="LLM of retrieval+llm: bundled name, HF id or folder")] = None,
    llm_url: Annotated[Optional[str], typer.Option(help="use a running OpenAI-compatible server (http://host:port/v1)")] = None,
    permutations: Annotated[Optional[int], typer.Option(help="verbalizer candidate orders per user")] = None,
    concurrency: Annotated[Optional[int], typer.Option(help="users in flight for LLM pipelines")] = None,
    explain: Annotated[bool, typer.Option(help="LLM pipelines explain their top picks (explanation metrics)")] = True,
    explain_users: Annotated[Optional[int], typer.Option(help="explain only for the first N users of the sample "
                                                          "(ranking metrics still cover all)")] = None,
    interactions: Annotated[Optional[Path], typer.Option(help="bring-your-own interactions file (.csv/.jsonl/.parquet)")] = None,
    catalog: Annotated[Optional[Path], typer.Option(help="bring-your-own catalog file (with --interactions)")] = None,
    candidates_file: Annotated[Optional[Path], typer.Option(help="frozen candidate file (default <home>/eval/candidates/...)")] = None,
    turns: Annotated[Optional[int], typer.Option(help="conversation: most turns per simulated person (default 5)")] = None,
    starts: Annotated[Optional[str], typer.Option(help="conversation: session starts, known and/or new (default known,new)")] = None,
    explain_sample: Annotated[Optional[int], typer.Option(help="explanations: reasons written to reasons_sample.md for a person to judge")] = None,
    fresh: Annotated[bool, typer.Option(help="discard cached per-user results in --out")] = False,
    compare: Annotated[Optional[tuple[Path, Path]], typer.Option(help="compare two report folders: --compare A B")] = None,
    compare_pipelines: Annotated[Optional[str], typer.Option("--pipelines-pair", help="with --compare: NAME_IN_A,NAME_IN_B")] = None,
) -> None:
    """Evaluate pipelines offline on the same users (or --compare two reports)."""
    if compare:
        from eval.compare import CompareError, compare as run_compare, render

        pair = None
        if compare_pipelines:
            parts = [p.strip() for p in compare_pipelines.split(",")]
            if len(parts) != 2:
                _fail("--pipelines-pair needs two names: NAME_IN_A,NAME_IN_B")
            pair = (parts[0], parts[1])
        try:
            typer.echo(render(run_compare(compare[0], compare[1], pipelines=pair)))
        except CompareError as exc:
            _fail(str(exc))
        return
    if out is None:
        _fail("--out REPORT_FOLDER is required (e.g. --out reports/ml1m-sampled)")
    from pydantic import ValidationError

    from agent.settings import AgentSettings
    from eval.data import InteractionsError, load_custom, load_dataset
    from eval.protocols import CandidateFileMismatch
    from eval.runner import RunMismatchError, run_eval
    from eval.settings import EvalSettings
    from retrieval.catalog import CatalogError

    passed = passed_options(ctx)
    agent_overrides = {"llm": llm, "llm_url": llm_url, "permutations": permutations}
    overrides = {"concurrency": concurrency, "min_rating": min_rating, "limit_users": limit_users,
                 "explain_users": explain_users, "turns": turns, "starts": starts, "explain_sample": explain_sample}
    try:
        agent = AgentSettings(**{k: v for k, v in agent_overrides.items() if v is not None})
        settings = EvalSettings(dataset=dataset, protocol=protocol, pipelines=pipelines, users=users or None, seed=seed,
                                split=split, explain=explain, agent=agent,
                                **{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        _fail("bad option: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    from eval.settings import CHAT_PROTOCOLS

    if settings.protocol in CHAT_PROTOCOLS:
        _chat_eval(settings, out, passed, fresh)
        return
    try:
        from eval.train.pipelines import TrainedAssets, require_checkpoints

        require_checkpoints(settings.pipelines, TrainedAssets())  # before loading anything
        if interactions or catalog:
            if not (interactions and catalog):
                _fail("bring-your-own data needs both --interactions FILE and --catalog FILE")
            data = load_custom(interactions, catalog, name=dataset if dataset != "movielens-1m" else None)
            settings = settings.model_copy(update={"dataset": data.name})
        else:
            data = load_dataset(settings.dataset)
        command = canonical_command(settings, out, interactions, catalog, passed=passed)
        registry = eval_registry(settings, data)
        doc = run_eval(settings, out, registry=registry, dataset=data, candidates_file=candidates_file, fresh=fresh,
                       command=command)
    except (InteractionsError, CatalogError, CandidateFileMismatch, RunMismatchError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted:[/] finished users are cached in {out}/cache; rerun the same command to resume")
        raise typer.Exit(130)
    _print_summary(doc, out)


def _chat_eval(settings: "EvalSettings", out: Path, passed: Mapping[str, Any], fresh: bool) -> None:
    """``recchat eval --protocol conversation|requests|explanations|freeform`` (:mod:`eval.chat_protocols`)."""
    import shutil

    from eval.chat_protocols import LeakError, run_chat_eval
    from eval.data import load_dataset

    if fresh and (out / "cache").exists():
        shutil.rmtree(out / "cache")
    try:
        command = canonical_command(settings, out, passed=passed)
        doc = run_chat_eval(settings, out, dataset=load_dataset(settings.dataset), command=command)
    except LeakError as exc:
        _fail(str(exc))
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted:[/] finished items are cached in {out}/cache; rerun the same command to resume")
        raise typer.Exit(130)
    typer.echo((out / "report.md").read_text(encoding="utf-8"))
    console.print(f"report: {out / 'report.md'} ({doc['protocol']})")


def eval_registry(settings: "EvalSettings", data: "EvalDataset") -> "PipelineRegistry":
    """The default pipelines plus the behavioural ones that need no checkpoint (``knn``,
    ``retrieval+knn``); a pipeline that needs a trained model fails here, before any work, with
    the command that trains it (:func:`eval.train.pipelines.require_checkpoints`)."""
    from eval.train.pipelines import TrainedAssets, require_checkpoints, trained_registry

    assets = TrainedAssets()
    require_checkpoints(settings.pipelines, assets)
    return trained_registry(settings, data, assets)


def passed_options(ctx: typer.Context | None) -> dict[str, Any]:
    """The options of the running command that were given (on the command line or through an
    option's environment variable), by parameter name; defaults are left out."""
    if ctx is None:
        return {}
    out = {}
    for name, value in ctx.params.items():
        source = ctx.get_parameter_source(name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            out[name] = value
    return out


def _token(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_options(values: Mapping[str, Any]) -> list[str]:
    """Command-line options for ``values`` (parameter name -> value, in order): ``--name VALUE``,
    a bool as ``--name`` / ``--no-name``, a sequence as several values; None is left out."""
    parts: list[str] = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, (list, tuple)):
            parts += [flag, *map(_token, value)]
        else:
            parts += [flag, _token(value)]
    return parts


def recorded_command(prog: str, values: Mapping[str, Any], env: Mapping[str, str] | None = None) -> str:
    """The full shell line of a run: the environment variables in force that change what it
    does (:func:`eval.provenance.relevant_env`: ``RECCHAT_*``, ``VLLM_*``, threads, devices;
    secrets redacted), then ``prog`` and its options (:func:`render_options`)."""
    from eval.provenance import relevant_env

    assignments = [f"{name}={shlex.quote(value)}" for name, value in relevant_env(env).items()]
    return " ".join([*assignments, *(shlex.quote(p) for p in [*prog.split(), *render_options(values)])])


def canonical_command(settings: "EvalSettings", out: Path, interactions: Path | None = None,
                      catalog: Path | None = None, *, passed: Mapping[str, Any] | None = None,
                      env: Mapping[str, str] | None = None) -> str:
    """The ``recchat eval`` line that reproduces ``settings`` (recorded in the report): the
    environment variables in force (``env``, default this process'), the options that define the
    run with their resolved values (for LLM pipelines also the LLM, permutations, concurrency and
    explanation options) and every other option that was ``passed`` (name -> value, e.g.
    ``--llm-url``, ``--candidates-file``, ``--fresh``)."""
    from eval.report import uses_llm

    agent = settings.agent
    resolved: dict[str, Any] = {
        "dataset": settings.dataset, "protocol": settings.protocol, "pipelines": ",".join(settings.pipelines),
        "users": settings.users or 0, "seed": settings.seed, "out": out, "limit_users": settings.limit_users,
        "min_rating": settings.min_rating, "split": settings.split if settings.split != "test" else None,
        "interactions": interactions if interactions is not None and catalog is not None else None,
        "catalog": catalog if interactions is not None and catalog is not None else None,
    }
    if settings.protocol in ("conversation", "requests", "explanations", "freeform"):
        resolved |= {"turns": settings.turns if settings.protocol == "conversation" else None,
                     "starts": ",".join(settings.starts) if settings.protocol == "conversation" else None,
                     "explain_sample": settings.explain_sample or None}
    if any(uses_llm(p) or p.endswith("-llm") for p in settings.pipelines):
        resolved |= {"llm": agent.llm, "llm_url": agent.llm_url, "permutations": agent.permutations,
                     "concurrency": settings.concurrency, "explain": None if settings.explain else False,
                     "explain_users": settings.explain_users if settings.explain else None}
    passed = {k: v for k, v in (passed or {}).items() if k not in ("compare", "compare_pipelines")}
    order = [n for n in inspect.signature(eval_command).parameters if n != "ctx" and (n in resolved or n in passed)]
    values = {n: resolved[n] if resolved.get(n) is not None else passed.get(n) for n in order}
    values = {n: v for n, v in values.items() if n != "out"} | {"out": out}  # --out last, as people write it
    return recorded_command("recchat eval", values, env)


def _print_summary(doc: dict, out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"{doc['dataset']['name']} / {doc['protocol']} / {doc['users']['evaluated']} users")
    for col in ("pipeline", "NDCG@10", "95% CI", "Recall@10", "MRR"):
        table.add_column(col, justify="left" if col == "pipeline" else "right")
    for name, p in doc["pipelines"].items():
        m = p["metrics"]
        table.add_row(name, f"{m['ndcg@10']['mean']:.4f}", f"[{m['ndcg@10']['low']:.3f}, {m['ndcg@10']['high']:.3f}]",
                      f"{m['recall@10']['mean']:.4f}", f"{m['mrr']['mean']:.4f}")
    Console().print(table)
    console.print(f"report: {out / 'report.md'}")


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command to ``app``."""
    app.command("eval")(eval_command)


def main() -> None:  # pragma: no cover - `python -m ui.commands_eval ...` until ui.cli wires it
    """Stand-alone entry point: ``python -m ui.commands_eval --dataset ... --out ...``."""
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
