"""The Gradio web chat: conversation on the left, recommendation cards and the editable interest
profile on the right.

Structure: :class:`ChatUI` holds the handler logic over one shared :class:`agent.conversation.ChatAgent`
and keeps NO per-person state; everything about one browser session lives in a :class:`UIState`
held by a ``gr.State`` (so concurrent visitors never see each other's conversation).
:func:`build_app` lays out the Blocks and wires the handlers; :func:`launch` serves it (analytics
off, 127.0.0.1 by default, optional basic auth). A session is resumable by link: its id is put in
the page URL (``?session=ID``) and read back from ``gr.Request`` on load.

A turn runs in a worker thread; the handler is a generator that shows the ranked list as soon as
the agent reports it (``on_ranked``) and the reasons when they are written. Every piece of
catalog, user or LLM text is HTML-escaped (see :mod:`ui.cards`).
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.conversation import MAX_MESSAGE_CHARS, ChatAgent, clean_message
from ui.cards import (
    CSS,
    CardView,
    esc,
    render_card,
    render_history,
    render_notices,
    render_status,
)

log = logging.getLogger(__name__)

#: Longest a turn may take before the UI gives up waiting on it (seconds).
TURN_TIMEOUT_S = 600.0
#: Most events waiting in the Gradio queue (beyond it new requests are refused: bounded memory).
QUEUE_MAX_SIZE = 64
START_MODES = ("Cold start", "MovieLens user")

@dataclass
class UIState:
    """Everything about one browser session (held in ``gr.State``; never shared).

    ``chat`` is the Chatbot value (messages format, text already HTML-escaped); ``cards`` the
    current list; ``notices`` messages to show above the cards (LLM unavailable, errors);
    ``status`` a progress line; ``busy`` is True while a turn runs."""

    session: Any = None  # agent.sessions.session.Session
    chat: list[dict[str, str]] = field(default_factory=list)
    cards: list[CardView] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    status: str = ""
    history_html: str = ""
    busy: bool = False

    @property
    def session_id(self) -> str:
        return self.session.id if self.session is not None else ""


def default_concurrency(agent: ChatAgent) -> int:
    """Turns processed at once, matched to the LLM backend: an in-process model serialises
    (1), a vLLM server batches concurrent requests (4; each turn already sends several), and
    retrieval only is cheap (8)."""
    engine = agent.app.engine
    if engine is None:
        return 8
    if engine.backend in ("transformers", "llamacpp"):
        return 1
    return max(1, min(4, agent.settings.max_concurrency))


def _is_index_error(exc: BaseException) -> bool:
    from retrieval.store import IndexMismatchError, IndexMissingError  # noqa: PLC0415

    return isinstance(exc, (IndexMismatchError, IndexMissingError))


def _csv(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").replace("\n", ",").split(",") if p.strip()]


def _year(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(float(value))


class ChatUI:
    """The UI's handlers over one shared agent. Holds no per-person state: each method takes and
    returns the caller's :class:`UIState`."""

    def __init__(self, agent: ChatAgent, slots: int | None = None, turn_timeout_s: float = TURN_TIMEOUT_S) -> None:
        self.agent = agent
        self.slots = int(slots or agent.settings.chat_k)
        self.turn_timeout_s = turn_timeout_s
        self.explain_top_k = agent.settings.explain_top_k if agent.app.has_llm else 0

    # ------------------------------------------------------------------ sessions
    def open(self, session_id: str | None = None) -> UIState:
        """The state of a page load: resume ``session_id`` when given and known, else a new cold session."""
        state = UIState()
        if self.agent.llm_error:
            state.notices.append(self.agent.llm_error)
        if session_id:
            try:
                state.session = self.agent.load_session(session_id)
            except KeyError:
                state.notices.append(f"Conversation {session_id!r} was not found; this is a new one.")
            except Exception as exc:  # noqa: BLE001 - a bad id must not break the page
                log.exception("loading session %r failed", session_id)
                state.notices.append(f"Could not resume conversation {session_id!r} ({type(exc).__name__}); this is a new one.")
        if state.session is None:
            state.session = self.agent.new_session()
        else:
            self._restore(state)
        return state

    def _restore(self, state: UIState) -> None:
        """Chat and the last list of a resumed session (reasons are not stored, so none shown)."""
        from agent.types import Recommendation  # noqa: PLC0415

        s = state.session
        state.chat = [{"role": t.role, "content": esc(t.text)} for t in s.turns if t.text]
        ids = s.last_shown()
        items = self.agent.store.get_items(self.agent.catalog, ids) if ids else {}
        fb = {f.item_id: f.kind for f in s.feedback}
        explored = set(s.explored)
        state.cards = [CardView(Recommendation(item=items[i], rank=n + 1, score=0.0, exploration=i in explored),
                                feedback=fb.get(i), reason_state="none")
                       for n, i in enumerate(ids) if i in items and fb.get(i) not in ("dislike", "not_this")]
        if s.ml_user:
            state.history_html = self._history_html(s)
        state.status = "Resumed your conversation." if s.turns else ""

    def start(self, state: UIState | None, mode: str, ml_user: str | None) -> UIState:
        """A new conversation: cold, or seeded with a MovieLens user's history (shown briefly)."""
        new = UIState(notices=[self.agent.llm_error] if self.agent.llm_error else [])
        user = (ml_user or "").strip()
        if mode == START_MODES[1]:
            if not user:
                keep = state or UIState()
                keep.notices = ["Type a MovieLens user id first (e.g. 1m_1 for MovieLens-1M)."]
                return keep
            try:
                new.session = self.agent.new_session(ml_user=user)
            except ValueError as exc:
                keep = state or UIState()
                keep.notices = [str(exc)]
                return keep
            new.history_html = self._history_html(new.session)
            new.status = f"Loaded the history of {user}. Tell me what you feel like watching."
        else:
            new.session = self.agent.new_session()
            new.status = "New conversation."
        return new

    def _history_html(self, session: Any) -> str:
        ids = list(session.history)
        items = self.agent.store.get_items(self.agent.catalog, ids) if ids else {}
        return render_history(session.ml_user or "", [items[i].label if i in items else i for i in ids])

    # ------------------------------------------------------------------ turns
    def send(self, state: UIState, message: str) -> Iterator[UIState]:
        """One chat turn, streamed: the user's message, then the ranked list, then the reasons."""
        shown, _ = clean_message(message)  # what the chat shows; the agent cuts (with a notice) the same way
        if state.session is None:
            state = self.open()
        if not shown:
            return
        if state.busy:
            state.status = "Still working on your previous message..."
            yield state
            return
        state.chat = state.chat + [{"role": "user", "content": esc(shown)}]
        yield from self._turn(state, lambda on_ranked: self.agent.respond(state.session, message, on_ranked=on_ranked),
                              "Understanding and searching the catalog...")

    def refresh(self, state: UIState) -> Iterator[UIState]:
        """A fresh list from the current profile (no user message)."""
        if state.session is None or state.busy:
            return
        yield from self._turn(state, lambda on_ranked: self.agent.refresh(state.session, on_ranked=on_ranked),
                              "Updating the list...")

    def _turn(self, state: UIState, call: Callable[[Callable[..., None]], Any], status: str) -> Iterator[UIState]:
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                events.put(("done", call(lambda recs: events.put(("ranked", list(recs))))))
            except Exception as exc:  # noqa: BLE001 - shown as a message, logged with traceback
                log.exception("chat turn failed")
                events.put(("error", exc))

        state.busy, state.status = True, status
        state.notices = [n for n in state.notices if n == self.agent.llm_error]
        threading.Thread(target=work, name="recchat-turn", daemon=True).start()
        yield state
        deadline = time.monotonic() + self.turn_timeout_s
        try:
            while True:
                try:
                    kind, payload = events.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    state.notices.append("This is taking too long; please try again in a moment.")
                    break
                if kind == "ranked":
                    state.cards = [CardView(r, reason_state="pending") for r in payload]
                    state.status = "Ranked. Writing the reasons..."
                    yield state
                elif kind == "done":
                    self._apply_reply(state, payload)
                    break
                elif _is_index_error(payload):  # the index was swapped or removed under the running UI
                    state.notices.append(self._index_message(payload))
                    break
                else:
                    state.notices.append(f"Sorry, something went wrong ({type(payload).__name__}). "
                                         "Your conversation is saved; please try again.")
                    break
        finally:
            state.busy = False
        if state.status.endswith("..."):
            state.status = ""
        yield state

    def _index_message(self, exc: BaseException) -> str:
        """The index-mismatch message (embedders + rebuild command) for this agent's catalog."""
        from ui.index_errors import index_error_message  # noqa: PLC0415

        return index_error_message(exc, self.agent.store.settings, self.agent.catalog)

    def _apply_reply(self, state: UIState, reply: Any) -> None:
        if reply is None:
            return
        audit = [dict(c) for c in reply.llm_calls]
        fb = {f.item_id: f.kind for f in state.session.feedback}
        if reply.recommendations or reply.intent in ("recommend", "refine", "feedback"):
            state.cards = [CardView(r, reply.evidence.get(r.item.id), audit, fb.get(r.item.id)) for r in reply.recommendations]
        state.notices += [n for n in reply.notices if n and n not in state.notices]
        text = esc(reply.text)
        if reply.notices:
            text += "\n\n" + "\n".join(f"_{esc(n)}_" for n in reply.notices if n)
        state.chat = state.chat + [{"role": "assistant", "content": text}]
        total = reply.timings.get("total_s")
        state.status = f"Answered in {total:.1f} s." if total is not None else ""

    # ------------------------------------------------------------------ feedback and profile
    def feedback(self, state: UIState, slot: int, kind: str) -> UIState:
        """Like / dislike / not-this on the card in ``slot``: recorded at once; a disliked or
        rejected card leaves the list (it will not come back)."""
        if state.session is None or not 0 <= slot < len(state.cards):
            return state
        card = state.cards[slot]
        item = card.rec.item
        try:
            self.agent.feedback(state.session, item.id, kind)
        except Exception as exc:  # noqa: BLE001
            log.exception("feedback failed")
            state.notices = [f"Could not record that ({type(exc).__name__}); please try again."]
            return state
        if kind == "like":
            card.feedback = "like"
            state.status = f"Noted: you like {item.label}. Ask for more and I'll use it."
        else:
            state.cards = [c for i, c in enumerate(state.cards) if i != slot]
            word = "you don't like" if kind == "dislike" else "not this one:"
            state.status = f"Noted, {word} {item.label}. It won't be shown again."
        return state

    def apply_profile(self, state: UIState, liked_items: Sequence[str] | None, disliked_items: Sequence[str] | None,
                      liked_attributes: str, disliked_attributes: str, soft: str, year_min: Any, year_max: Any,
                      genres: Sequence[str] | None, exclude_genres: Sequence[str] | None,
                      wishes: Sequence[str] | None = None, moods: Sequence[str] | None = None) -> tuple[UIState, bool]:
        """Apply the person's edits of "what I think you like" and the filters. Returns (state,
        changed); invalid input leaves the profile as it was and says why in ``notices``."""
        if state.session is None:
            return state, False
        try:
            edits = {"liked_items": list(liked_items or []), "disliked_items": list(disliked_items or []),
                     "liked_attributes": _csv(liked_attributes), "disliked_attributes": _csv(disliked_attributes),
                     "soft": _csv(soft), "year_min": _year(year_min), "year_max": _year(year_max),
                     "genres": list(genres or []), "exclude_genres": list(exclude_genres or [])}
            if wishes is not None:
                edits["wishes"] = list(wishes)
            if moods is not None:
                edits["moods"] = list(moods)
            before = state.session.profile.to_form()
            self.agent.update_profile(state.session, edits)
        except (ValueError, TypeError) as exc:
            state.notices = [f"Not applied: {exc}"]
            return state, False
        changed = state.session.profile.to_form() != before
        state.notices = [n for n in state.notices if n == self.agent.llm_error]
        state.status = "Preferences saved." if changed else "Nothing changed."
        return state, changed

    def apply_and_refresh(self, state: UIState, *form: Any) -> Iterator[UIState]:
        """:meth:`apply_profile`, then a fresh list when something changed and a list was shown."""
        state, changed = self.apply_profile(state, *form)
        yield state
        if changed and state.session.shown:
            yield from self.refresh(state)

    # ------------------------------------------------------------------ view
    def profile_form(self, state: UIState) -> dict[str, Any]:
        """Values of the profile panel: summary text, item choices and the editable fields."""
        s = state.session
        if s is None:
            return {}
        p = s.profile
        c = p.constraints
        return {
            "summary": self.agent.profile_summary(s),
            "liked_items": ([(r.title, r.item_id) for r in p.liked_items], [r.item_id for r in p.liked_items]),
            "disliked_items": ([(r.title, r.item_id) for r in p.disliked_items], [r.item_id for r in p.disliked_items]),
            "liked_attributes": ", ".join(p.liked_attributes),
            "disliked_attributes": ", ".join(p.disliked_attributes),
            "soft": ", ".join(p.soft),
            "year_min": c.year_min, "year_max": c.year_max,
            "genres": list(c.genres), "exclude_genres": list(c.exclude_genres),
            "wishes": ([(words, key) for key, words in c.wishes()], [key for key, _ in c.wishes()]),
            "moods": (list(p.moods), list(p.moods)),
        }

    def card_html(self, state: UIState) -> list[str]:
        """One HTML string per slot ("" for an empty slot)."""
        out = [render_card(v, self.explain_top_k) for v in state.cards[: self.slots]]
        return out + [""] * (self.slots - len(out))

    def genres(self) -> list[str]:
        """The catalog's genre names (choices of the filter fields)."""
        try:
            return list(self.agent.vocabulary().genres)
        except Exception:  # noqa: BLE001 - the panel still works without choices
            log.exception("vocabulary unavailable")
            return []


# ---------------------------------------------------------------------- Gradio wiring
URL_JS = """(sid) => {
  if (sid) {
    const u = new URL(window.location.href);
    if (u.searchParams.get('session') !== sid) {
      u.searchParams.set('session', sid);
      window.history.replaceState(null, '', u.toString());
    }
  }
  return [];
}"""


def build_app(agent: ChatAgent, title: str = "recchat", concurrency_limit: int | None = None, slots: int | None = None,
              queue_size: int | None = None) -> Any:
    """The Gradio Blocks app over ``agent`` (queue configured; serve it with :func:`launch`).

    ``concurrency_limit`` is how many turns run at once (default :func:`default_concurrency`);
    ``slots`` the number of card places (default ``agent.settings.chat_k``); ``queue_size`` the most
    events waiting in the queue (default :data:`QUEUE_MAX_SIZE`; more are refused, so memory stays bounded)."""
    import gradio as gr  # noqa: PLC0415 - heavy, UI only

    ui = ChatUI(agent, slots=slots)
    limit = concurrency_limit or default_concurrency(agent)
    genre_choices = ui.genres()

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        state = gr.State(None)
        session_id = gr.Textbox(visible=False, elem_id="session-id")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                gr.HTML(f"<h2 style='margin:0'>{esc(title)}</h2><div class='rc-status'>Tell me what you feel like "
                        "watching; I explain every pick.</div>")
                chatbot = gr.Chatbot(elem_id="chatbot", height=480, label="Conversation", feedback_options=None,
                                     sanitize_html=True)
                with gr.Row():
                    msg = gr.Textbox(elem_id="msg", placeholder="e.g. a funny animated movie for kids", scale=5,
                                     show_label=False, lines=1, max_lines=4, max_length=MAX_MESSAGE_CHARS)
                    send = gr.Button("Send", elem_id="send", variant="primary", scale=1, min_width=80)
                with gr.Accordion("Start over", open=False, elem_id="start-panel"):
                    mode = gr.Radio(list(START_MODES), value=START_MODES[0], label="Start", elem_id="start-mode")
                    ml_user = gr.Textbox(label="MovieLens user id", placeholder="e.g. 1m_1", elem_id="ml-user")
                    start = gr.Button("Start a new conversation", elem_id="start")
                history = gr.HTML(elem_id="history")
                link = gr.HTML(elem_id="session-link")
            with gr.Column(scale=6):
                notices = gr.HTML(elem_id="notices")
                status = gr.HTML(elem_id="status")
                card_cols, card_htmls, buttons = [], [], []
                for i in range(ui.slots):
                    with gr.Column(visible=False, elem_id=f"card-{i}", elem_classes=["rc-slot"]) as col:
                        card_htmls.append(gr.HTML(elem_id=f"card-html-{i}"))
                        with gr.Row(elem_classes=["rc-card-buttons"]):
                            for kind, label, eid in (("like", "Like", "like"), ("dislike", "Dislike", "dislike"),
                                                     ("not_this", "Not this", "notthis")):
                                buttons.append((i, kind, gr.Button(label, elem_id=f"{eid}-{i}", size="sm", scale=0,
                                                                   min_width=90)))
                    card_cols.append(col)
                refresh = gr.Button("Refresh the list", elem_id="refresh", size="sm")
                with gr.Accordion("What I think you like", open=True, elem_id="profile-panel"):
                    summary = gr.HTML(elem_id="profile-summary")
                    liked_items = gr.Dropdown([], multiselect=True, label="Films you like", elem_id="liked-items")
                    disliked_items = gr.Dropdown([], multiselect=True, label="Films you don't like", elem_id="disliked-items")
                    with gr.Row():
                        liked_attrs = gr.Textbox(label="You like (comma-separated)", elem_id="liked-attrs")
                        disliked_attrs = gr.Textbox(label="You don't like", elem_id="disliked-attrs")
                    soft = gr.Textbox(label="Also keep in mind", elem_id="soft")
                    with gr.Row():
                        year_min = gr.Number(label="From year", precision=0, elem_id="year-min")
                        year_max = gr.Number(label="To year", precision=0, elem_id="year-max")
                    with gr.Row():
                        genres = gr.Dropdown(genre_choices, multiselect=True, label="Only these genres", elem_id="genres")
                        exclude = gr.Dropdown(genre_choices, multiselect=True, label="Never these genres",
                                              elem_id="exclude-genres")
                    wishes = gr.Dropdown([], multiselect=True, label="Also required (remove one to drop it)",
                                         elem_id="wishes")
                    moods = gr.Dropdown([], multiselect=True, label="Moods I lean towards (remove one to drop it)",
                                        elem_id="moods")
                    apply = gr.Button("Apply", elem_id="apply-profile", size="sm")

        form = [liked_items, disliked_items, liked_attrs, disliked_attrs, soft, year_min, year_max, genres, exclude, wishes,
                moods]
        outputs = [state, chatbot, notices, status, history, link, session_id, summary, *form, *card_cols, *card_htmls]

        def view(st: UIState) -> list[Any]:
            f = ui.profile_form(st)
            sid = st.session_id
            link_html = (f"<div class='rc-status'>Resume this conversation later with "
                         f"<a href='?session={esc(sid)}'>this link</a> (session {esc(sid)}).</div>") if sid else ""
            cards = ui.card_html(st)
            return [
                st, st.chat, render_notices(st.notices), render_status(st.status), st.history_html, link_html, sid,
                "<div>" + esc(f.get("summary", "")) + "</div>",
                gr.update(choices=f["liked_items"][0], value=f["liked_items"][1]),
                gr.update(choices=f["disliked_items"][0], value=f["disliked_items"][1]),
                f["liked_attributes"], f["disliked_attributes"], f["soft"], f["year_min"], f["year_max"],
                f["genres"], f["exclude_genres"],
                gr.update(choices=f["wishes"][0], value=f["wishes"][1]),
                gr.update(choices=f["moods"][0], value=f["moods"][1]),
                *[gr.update(visible=bool(h)) for h in cards], *cards,
            ]

        def on_load(request: gr.Request) -> list[Any]:
            sid = request.query_params.get("session") if request is not None else None
            return view(ui.open(sid))

        def on_send(message: str, st: UIState | None) -> Iterator[list[Any]]:
            st = st or ui.open()
            yield ["", *view(st)]
            for s in ui.send(st, message):
                yield ["", *view(s)]

        def on_refresh(st: UIState | None) -> Iterator[list[Any]]:
            st = st or ui.open()
            for s in ui.refresh(st):
                yield view(s)

        def on_apply(st: UIState | None, *values: Any) -> Iterator[list[Any]]:
            st = st or ui.open()
            for s in ui.apply_and_refresh(st, *values):
                yield view(s)

        def on_start(st: UIState | None, m: str, user: str) -> list[Any]:
            return view(ui.start(st, m, user))

        def feedback_handler(slot: int, kind: str) -> Callable[[UIState | None], list[Any]]:
            def handler(st: UIState | None) -> list[Any]:
                st = st or ui.open()
                return view(ui.feedback(st, slot, kind))
            return handler

        turn = {"concurrency_limit": limit, "concurrency_id": "turn", "show_progress": "hidden"}
        app.load(on_load, None, outputs, show_progress="hidden").then(None, [session_id], None, js=URL_JS)
        for trigger in (msg.submit, send.click):
            trigger(on_send, [msg, state], [msg, *outputs], **turn).then(None, [session_id], None, js=URL_JS)
        refresh.click(on_refresh, [state], outputs, **turn)
        apply.click(on_apply, [state, *form], outputs, **turn)
        start.click(on_start, [state, mode, ml_user], outputs, show_progress="hidden").then(
            None, [session_id], None, js=URL_JS)
        for slot, kind, button in buttons:
            button.click(feedback_handler(slot, kind), [state], outputs, show_progress="hidden")
    # bounded queue: beyond max_size waiting events Gradio refuses new ones ("queue full") instead of growing
    app.queue(default_concurrency_limit=limit, max_size=queue_size or QUEUE_MAX_SIZE)
    return app


def launch(app: Any, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
           share: bool = False, block: bool = True, quiet: bool = False) -> str:
    """Serve ``app`` (no analytics; errors shown as messages, never stack traces). Returns the
    local URL; with ``block=False`` returns at once and the server runs in a background thread
    (stop it with ``app.close()``)."""
    _, url, _ = app.launch(server_name=host, server_port=port, auth=auth, share=share, show_error=False,
                           prevent_thread_lock=not block, quiet=quiet, ssr_mode=False, css=CSS,
                           footer_links=[], pwa=False, mcp_server=False, enable_monitoring=False)
    return str(url)


@dataclass(frozen=True)
class Served:
    """A web chat serving in a background thread: its URL, how to stop it, and its limits."""

    url: str
    close: Callable[[], None]
    concurrency_limit: int
    queue_max_size: int = QUEUE_MAX_SIZE


def serve_in_background(agent: ChatAgent, concurrency_limit: int | None = None, port: int | None = None) -> Served:
    """Build the web chat over ``agent`` and serve it on 127.0.0.1 (a free port unless ``port``),
    without blocking (the load benchmark drives it over HTTP)."""
    from agent.llm.vllm_server import find_free_port  # noqa: PLC0415

    limit = concurrency_limit or default_concurrency(agent)
    app = build_app(agent, concurrency_limit=limit)
    url = launch(app, port=port or find_free_port(), block=False, quiet=True)
    return Served(url, app.close, limit)


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:pass"`` -> ``("user", "pass")``; None/empty -> None; ValueError when malformed."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must look like user:password")
    return user, password
