"""`recchat chat` (terminal chat) and `recchat sessions list|export|delete`.

``register(app)`` adds the commands to the main typer app. The chat reads one message per line
from stdin (interactive or piped); the ranked list is printed as soon as it is known
(``on_ranked``), the reasons when they are ready.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ui.options import LlmReading

HELP = "commands: /like N, /dislike N, /not N, /seen N, /why N, /profile, /reset, /quit"
_KINDS = {"/like": "like", "/dislike": "dislike", "/not": "not_this", "/seen": "seen"}


def register(app: typer.Typer) -> None:
    """Add ``chat`` and the ``sessions`` group to ``app``."""
    sessions_app = typer.Typer(help="Saved chat sessions (SQLite under RECCHAT_HOME).", no_args_is_help=True)
    app.add_typer(sessions_app, name="sessions")

    @app.command()
    def chat(
        user: Annotated[Optional[str], typer.Option(help="a MovieLens user id whose history seeds the session")] = None,
        session: Annotated[Optional[str], typer.Option(help="resume this session id")] = None,
        llm: Annotated[Optional[str], typer.Option(help="LLM: bundled name, HF id or local dir")] = None,
        llm_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server URL (http://host:port/v1)")] = None,
        no_llm: Annotated[bool, typer.Option("--no-llm", help="rules + retrieval order only")] = False,
        read_with_llm: LlmReading = False,
        catalog: Annotated[Optional[str], typer.Option(help="catalog name")] = None,
    ) -> None:
        """Chat in the terminal (works with piped stdin: one message per line)."""
        from rich.console import Console

        from agent.conversation import ChatAgent
        from agent.settings import AgentSettings
        from retrieval.settings import RetrievalSettings
        from retrieval.store import IndexMismatchError, IndexMissingError
        from agent.app import open_app

        console = Console(highlight=False)
        rkw = {"catalog": catalog} if catalog else {}
        akw = {k: v for k, v in (("llm", llm), ("llm_url", llm_url), ("understand_with_llm", read_with_llm)) if v}
        try:
            rset = RetrievalSettings(**rkw)
            aset = AgentSettings(**akw)
            app = open_app(rset, aset, use_llm=not no_llm)
        except (IndexMissingError, IndexMismatchError, ValueError) as exc:
            from ui.index_errors import index_error_message

            console.print("[red]error:[/] ", end="")
            console.print(index_error_message(exc, rset) if isinstance(exc, IndexMismatchError) else str(exc), markup=False)
            raise typer.Exit(1)
        try:
            agent = ChatAgent(app)
            try:
                sess = agent.load_session(session) if session else agent.new_session(ml_user=user)
            except (KeyError, ValueError) as exc:
                console.print(f"[red]error:[/] {exc}")
                raise typer.Exit(1)
            if app.llm_error:
                console.print(f"[yellow]note:[/] {app.llm_error}")
            console.print(f"[dim]session {sess.id} ({HELP})[/]")
            _loop(agent, sess, console)
        finally:
            app.close()

    @sessions_app.command("list")
    def sessions_list(user: Annotated[Optional[str], typer.Option(help="only this user's")] = None) -> None:
        """Saved sessions, newest first."""
        import datetime as dt

        from agent.sessions.store import SessionStore

        for info in SessionStore(_sessions_url()).list(user_id=user):
            when = dt.datetime.fromtimestamp(info.updated_at).strftime("%Y-%m-%d %H:%M")
            typer.echo(f"{info.id}\t{info.user_id or '-'}\t{info.catalog}\t{info.turns} turns\t{when}")

    @sessions_app.command("export")
    def sessions_export(session_id: str) -> None:
        """Print a session as JSON."""
        from agent.sessions.store import SessionStore

        try:
            typer.echo(SessionStore(_sessions_url()).export(session_id))
        except KeyError as exc:
            typer.echo(f"error: {exc.args[0]}", err=True)
            raise typer.Exit(1)

    @sessions_app.command("delete")
    def sessions_delete(session_id: str) -> None:
        """Delete a session for good."""
        from agent.sessions.store import SessionStore

        if not SessionStore(_sessions_url()).delete(session_id):
            typer.echo(f"error: no session {session_id!r}", err=True)
            raise typer.Exit(1)
        typer.echo(f"deleted {session_id}")


def _sessions_url() -> str | None:
    from agent.settings import AgentSettings

    return AgentSettings().sessions_url


def _loop(agent, sess, console) -> None:  # noqa: ANN001 - typed in ChatAgent
    from retrieval.store import IndexMismatchError, IndexMissingError
    from ui.index_errors import index_error_message

    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            console.print("[bold cyan]you>[/] ", end="")
        line = sys.stdin.readline()
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        if not interactive:
            console.print(f"[bold cyan]you>[/] {text}")
        if text.startswith("/"):
            if not _command(agent, sess, text, console):
                return
            continue
        shown: list[str] = []

        def ranked(recs, shown=shown) -> None:  # noqa: ANN001
            shown.append("x")
            for r in recs:
                tag = " [magenta]\\[to explore][/]" if r.exploration else ""
                console.print(f"  [bold]{r.rank}. {r.item.label}[/]{tag} [dim]{', '.join(r.item.genres)}[/]")
            console.print("  [dim](writing reasons...)[/]")

        try:
            reply = agent.respond(sess, text, on_ranked=ranked)
        except (IndexMismatchError, IndexMissingError) as exc:  # index swapped or removed meanwhile
            console.print("[red]error:[/] ", end="")
            console.print(index_error_message(exc, agent.store.settings, agent.catalog), markup=False)
            return
        _show(reply, console, listed=bool(shown))


def _command(agent, sess, text: str, console) -> bool:  # noqa: ANN001
    parts = text.split()
    cmd = parts[0].lower()
    if cmd in ("/quit", "/exit", "/q"):
        console.print(f"[dim]saved session {sess.id}[/]")
        return False
    if cmd == "/profile":
        console.print(agent.profile_summary(sess))
        return True
    if cmd == "/reset":
        agent.reset(sess)
        console.print("[dim]forgot this conversation and profile[/]")
        return True
    if cmd in _KINDS or cmd == "/why":
        last = sess.last_shown()
        try:
            item_id = last[int(parts[1]) - 1]
        except (IndexError, ValueError):
            console.print(f"[yellow]usage:[/] {cmd} N (1..{len(last) or '?'}, a number in the last list)")
            return True
        if cmd == "/why":
            console.print(agent.why(sess, item_id))
            return True
        reply = agent.feedback(sess, item_id, _KINDS[cmd], rerank=cmd != "/seen")
        console.print(f"[dim]noted: {_KINDS[cmd]} {sess.titles.get(item_id, item_id)}[/]")
        if reply is not None:
            _show(reply, console, listed=False)
        return True
    console.print(f"[yellow]unknown command[/] ({HELP})")
    return True


def _show(reply, console, listed: bool) -> None:  # noqa: ANN001
    for note in reply.notices:
        console.print(f"[yellow]note:[/] {note}")
    if not reply.recommendations:
        console.print(f"[bold green]recchat>[/] {reply.text}")
        return
    console.print(f"[bold green]recchat>[/] {reply.text.splitlines()[0]}")
    for r in reply.recommendations:
        if not listed or r.reason:
            tag = " [magenta]\\[to explore][/]" if r.exploration else ""
            console.print(f"  [bold]{r.rank}. {r.item.label}[/]{tag}")
        if r.reason:
            mark = "" if r.grounded else " [yellow](unsupported claims removed)[/]"
            console.print(f"     {r.reason}{mark}")
    t = reply.timings
    console.print("[dim]" + "  ".join(f"{k} {v:.2f}s" for k, v in t.items()) + "[/]")

