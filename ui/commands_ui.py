"""``recchat ui``: serve the Gradio web chat (registered on the main typer app by ``ui.cli``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ui.options import LlmReading


def register(app: typer.Typer) -> None:
    """Add the ``ui`` command to ``app``."""
    app.command("ui")(ui_command)


def ui_command(
    host: Annotated[str, typer.Option(help="bind address (127.0.0.1 = this machine only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port")] = 7860,
    llm: Annotated[Optional[str], typer.Option(help="LLM: bundled name, HF id or local dir")] = None,
    llm_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server URL (http://host:port/v1); "
                                                         "default: start a local vLLM server")] = None,
    chroma_url: Annotated[Optional[str], typer.Option(help="Chroma server URL; default embedded")] = None,
    catalog: Annotated[Optional[str], typer.Option(help="catalog (index) name; default movielens-1m")] = None,
    auth: Annotated[Optional[str], typer.Option(help="basic auth as user:password")] = None,
    share: Annotated[bool, typer.Option("--share", help="also open a public gradio.live link (contacts Gradio's servers)")] = False,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="no language model, even where settings ask for one")] = False,
    read_with_llm: LlmReading = False,
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=64, help="turns processed at once (default: matched to the LLM backend)")] = None,
) -> None:
    """Serve the web chat (MovieLens-1M by default; with --llm-reading the LLM, via a local vLLM server, also reads
    what the rules leave unread)."""
    import time

    from rich.console import Console

    from agent.conversation import ChatAgent
    from agent.settings import AgentSettings
    from retrieval.settings import RetrievalSettings
    from retrieval.store import IndexMismatchError, IndexMissingError
    from agent.app import open_app
    from ui.web import build_app, launch, parse_auth

    console = Console(stderr=True)
    try:
        credentials = parse_auth(auth)
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    rset = RetrievalSettings(**{k: v for k, v in {"chroma_url": chroma_url, "catalog": catalog}.items() if v is not None})
    aset = AgentSettings(**{k: v for k, v in {"llm": llm, "llm_url": llm_url,
                                              "understand_with_llm": read_with_llm or None}.items() if v is not None})
    with_llm = aset.uses_llm and not no_llm
    console.print(f"loading catalog {rset.catalog!r}" + (f" and LLM {aset.llm_url or aset.llm!r}" if with_llm else "") + " ...")
    try:
        app = open_app(rset, aset, use_llm=not no_llm)
    except (IndexMissingError, IndexMismatchError, ValueError) as exc:
        from ui.index_errors import index_error_message

        console.print("[bold red]error:[/] ", end="")
        console.print(index_error_message(exc, rset), markup=False, highlight=False)
        raise typer.Exit(1) from None
    if app.llm_error:
        console.print(f"[yellow]note:[/] {app.llm_error}")
    try:
        agent = ChatAgent(app)
        started = time.perf_counter()
        app.retriever.warm_up()  # metadata mirror (+ vector cache) and vocabulary now, not in the
        agent.vocabulary()  # first chat turns (~105 s + ~57 s at 1M items on 2 cores)
        console.print(f"catalog ready: {len(app.store.mirror(rset.catalog).ids):,} items "
                      f"({time.perf_counter() - started:.1f} s)")
        web = build_app(agent, concurrency_limit=concurrency)
        console.print(f"serving on http://{host}:{port}" + (" (basic auth on)" if credentials else "") + "  (Ctrl-C stops)")
        launch(web, host=host, port=port, auth=credentials, share=share, block=True)
    finally:
        app.close()
