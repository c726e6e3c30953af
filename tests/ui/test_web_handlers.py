"""The web UI's handlers without a browser: a real ChatAgent over the real ML-100K index
(retrieval order unless stated), HTML escaping, sessions, feedback, profile edits, isolation."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from agent.types import Recommendation
from retrieval.items import Item
from ui.cards import CardView, esc, render_audit, render_card
from ui.web import ChatUI, UIState, default_concurrency, parse_auth

XSS = '<img src=x onerror="alert(1)">'


def run(gen) -> list[UIState]:
    """Drain a handler generator, keeping a snapshot summary of each step."""
    return [SimpleNamespace(status=s.status, cards=list(s.cards), chat=list(s.chat), busy=s.busy,
                            pending=[c.reason_state for c in s.cards]) for s in gen]


def test_send_streams_ranked_list_then_final(make_agent):
    ui = ChatUI(make_agent())
    state = ui.open()
    assert state.session is not None and state.chat == [] and state.cards == []
    steps = run(ui.send(state, "a funny animated movie for kids"))
    assert steps[0].busy and steps[0].chat[-1] == {"role": "user", "content": "a funny animated movie for kids"}
    ranked = [s for s in steps if s.cards and "pending" in s.pending]
    assert ranked, "the ranked list must be shown before the turn ends"
    final = steps[-1]
    assert not final.busy and final.chat[-1]["role"] == "assistant"
    assert 1 <= len(state.cards) <= ui.slots and all(c.reason_state == "done" for c in state.cards)
    assert any("Animation" in c.rec.item.genres for c in state.cards)
    html = ui.card_html(state)
    assert len(html) == ui.slots and "rc-card" in html[0] and "why?" in html[0]
    # the "why?" view carries the evidence of each ranked pick: its retrieval similarity
    main = [h for h, c in zip(html, state.cards) if not c.rec.exploration]
    assert main and all("retrieval similarity (cosine)" in h for h in main)


def test_empty_message_does_nothing(make_agent):
    ui = ChatUI(make_agent())
    state = ui.open()
    assert run(ui.send(state, "   ")) == [] and state.chat == []


def test_like_marks_card_and_dislike_removes_it_for_good(make_agent):
    agent = make_agent()
    ui = ChatUI(agent)
    state = ui.open()
    run(ui.send(state, "a scary movie"))
    liked, gone = state.cards[0].rec.item, state.cards[1].rec.item
    ui.feedback(state, 0, "like")
    assert state.cards[0].feedback == "like" and "liked" in ui.card_html(state)[0]
    ui.feedback(state, 1, "not_this")
    assert gone.id not in {c.rec.item.id for c in state.cards}
    assert any(r.item_id == liked.id for r in state.session.profile.liked_items)
    run(ui.send(state, "more scary movies"))
    assert gone.id not in {c.rec.item.id for c in state.cards}
    before = ([c.rec.item.id for c in state.cards], state.session.to_dict())
    ui.feedback(state, 99, "like")  # an empty slot is ignored
    assert ([c.rec.item.id for c in state.cards], state.session.to_dict()) == before


def test_something_older_sets_year_filter_and_list_respects_it(make_agent):
    ui = ChatUI(make_agent())
    state = ui.open()
    run(ui.send(state, "a funny animated movie for kids"))
    first_years = sorted(c.rec.item.year for c in state.cards if c.rec.item.year)
    run(ui.send(state, "something older"))
    year_max = state.session.profile.constraints.year_max
    assert year_max is not None and year_max < first_years[-1]
    assert all(c.rec.item.year <= year_max for c in state.cards if c.rec.item.year)
    form = ui.profile_form(state)
    assert form["year_max"] == year_max
    # ML-100K has 6 animated children's comedies: the person widens the genres in the panel
    run(ui.apply_and_refresh(state, form["liked_items"][1], form["disliked_items"][1], form["liked_attributes"],
                             form["disliked_attributes"], form["soft"], form["year_min"], year_max, [], []))
    assert state.cards and all(c.rec.item.year <= year_max for c in state.cards if c.rec.item.year)


def test_profile_edit_applies_filters_and_refreshes(make_agent):
    ui = ChatUI(make_agent())
    state = ui.open()
    run(ui.send(state, "a crime thriller"))
    form = ui.profile_form(state)
    args = [form["liked_items"][1], form["disliked_items"][1], "tense, dark", "", "", 1970, 1979,
            ["Crime"], ["Comedy"]]
    steps = run(ui.apply_and_refresh(state, *args))
    c = state.session.profile.constraints
    assert (c.year_min, c.year_max, c.genres, c.exclude_genres) == (1970, 1979, ["Crime"], ["Comedy"])
    assert state.session.profile.liked_attributes == ["tense", "dark"]
    assert len(steps) >= 2 and state.cards
    assert all(1970 <= x.rec.item.year <= 1979 and "Crime" in x.rec.item.genres and "Comedy" not in x.rec.item.genres
               for x in state.cards)


def test_fact_wishes_are_shown_in_the_panel_and_removable_there(make_agent):
    ui = ChatUI(make_agent())
    state = ui.open()
    run(ui.send(state, "a drama under 2 hours that the critics loved"))
    form = ui.profile_form(state)
    shown = dict(form["wishes"][0])
    assert shown == {"running minutes at most 119": "ranges:runtime_min", "loved by critics": "acclaim"}
    assert all(x.rec.item.extra.get("runtime_min", 999) <= 119 for x in state.cards if not x.rec.exploration)
    args = [form["liked_items"][1], form["disliked_items"][1], form["liked_attributes"], form["disliked_attributes"],
            form["soft"], form["year_min"], form["year_max"], form["genres"], form["exclude_genres"], ["acclaim"]]
    run(ui.apply_and_refresh(state, *args))  # the person drops the length, keeps the critics
    c = state.session.profile.constraints
    assert c.ranges == {} and c.acclaim == "critics" and c.genres == ["Drama"]
    assert "loved by critics" in ui.profile_form(state)["summary"]


def test_moods_are_shown_in_the_panel_and_removable_there(make_agent):
    ui = ChatUI(make_agent())
    state = ui.open()
    run(ui.send(state, "I need a good cry, but nothing violent"))
    form = ui.profile_form(state)
    assert form["moods"] == (["a good cry", "nothing violent"], ["a good cry", "nothing violent"])
    assert 'For "a good cry" and "nothing violent" I lean towards drama' in form["summary"]
    args = [form["liked_items"][1], form["disliked_items"][1], form["liked_attributes"], form["disliked_attributes"],
            form["soft"], form["year_min"], form["year_max"], form["genres"], form["exclude_genres"],
            form["wishes"][1], ["nothing violent"]]
    run(ui.apply_and_refresh(state, *args))  # the person drops the good cry, keeps "nothing violent"
    assert state.session.profile.moods == ["nothing violent"]
    assert "For \"nothing violent\" I lean away from" in ui.profile_form(state)["summary"]


def test_invalid_profile_edit_is_explained_and_not_applied(make_agent):
    ui = ChatUI(make_agent())
    state = ui.open()
    before = state.session.profile.to_form()
    state, changed = ui.apply_profile(state, [], [], "", "", "", 1999, 1980, [], [])
    assert not changed and state.session.profile.to_form() == before
    assert state.notices and "year" in state.notices[0]
    state, changed = ui.apply_profile(state, [], [], "", "", "", None, None, ["NotAGenre"], [])
    assert not changed and "unknown genre" in state.notices[0]


def test_session_resumes_by_id_and_unknown_id_starts_fresh(make_agent):
    agent = make_agent()
    ui = ChatUI(agent)
    state = ui.open()
    run(ui.send(state, "a space adventure"))
    ui.feedback(state, 0, "like")
    shown = [c.rec.item.id for c in state.cards]
    again = ChatUI(agent).open(state.session_id)
    assert again.session_id == state.session_id
    assert [m["role"] for m in again.chat] == ["user", "assistant"]
    assert [c.rec.item.id for c in again.cards] == shown and again.cards[0].feedback == "like"
    fresh = ui.open("no-such-session")
    assert fresh.session_id != state.session_id and "not found" in fresh.notices[0]


def test_start_cold_and_unknown_movielens_user(make_agent):
    ui = ChatUI(make_agent())
    state = ui.open()
    run(ui.send(state, "a western"))
    cold = ui.start(state, "Cold start", "")
    assert cold.session_id != state.session_id and cold.chat == [] and cold.cards == []
    # the test catalog is "ml100k" (not a bundled MovieLens name): the error is shown, state kept
    kept = ui.start(cold, "MovieLens user", "1")
    assert kept is cold and kept.notices and "MovieLens" in kept.notices[0]
    assert "user id" in ui.start(cold, "MovieLens user", " ").notices[0]


def test_start_with_movielens_user_shows_history(make_agent, monkeypatch):
    agent = make_agent()
    monkeypatch.setattr("retrieval.movielens.user_history", lambda dataset, user, limit=50: ["50", "181", "1"])
    state = ChatUI(agent).start(None, "MovieLens user", "7")
    assert state.session.history == ["50", "181", "1"] and state.session.ml_user == "7"
    assert "History of 7" in state.history_html and "3 films" in state.history_html
    assert "Star Wars" in state.history_html


def test_concurrent_sessions_stay_separate(make_agent):
    ui = ChatUI(make_agent())
    a, b = ui.open(), ui.open()
    errors: list[BaseException] = []

    def talk(state: UIState, message: str) -> None:
        try:
            run(ui.send(state, message))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=talk, args=(a, "a scary horror movie")),
               threading.Thread(target=talk, args=(b, "a romantic comedy"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert a.chat[0]["content"] == "a scary horror movie" and b.chat[0]["content"] == "a romantic comedy"
    assert len(a.chat) == len(b.chat) == 2 and a.session_id != b.session_id
    assert any("Horror" in c.rec.item.genres for c in a.cards)
    assert any("Romance" in c.rec.item.genres for c in b.cards)
    assert ui.agent.load_session(a.session_id).turns[0].text == "a scary horror movie"


def test_turn_failure_is_a_message_not_a_traceback(make_agent, monkeypatch):
    agent = make_agent()
    ui = ChatUI(agent)
    state = ui.open()

    def boom(*args, **kwargs):
        raise RuntimeError("internal detail")

    monkeypatch.setattr(agent, "respond", boom)
    steps = run(ui.send(state, "anything"))
    assert not steps[-1].busy
    assert state.notices and "something went wrong (RuntimeError)" in state.notices[-1]
    assert "Traceback" not in state.notices[-1] and "internal detail" not in state.notices[-1]


@pytest.mark.slow
def test_dead_llm_shows_notice_and_retrieval_results(make_agent):
    from agent.llm.http_engine import HttpEngine
    from agent.llm.vllm_server import find_free_port

    engine = HttpEngine(f"http://127.0.0.1:{find_free_port()}/v1", model="nobody", timeout_s=2, retries=0)
    agent = make_agent(engine, count_tokens=lambda text: len(text) // 4 + 1, max_candidates=6, permutations=1)
    ui = ChatUI(agent)
    state = ui.open()
    run(ui.send(state, "a musical with a twist ending"))  # words the rules cannot read: the LLM is asked
    assert state.cards, "retrieval results must still be shown"
    assert state.notices, "the person must be told the LLM is unavailable"
    assert all("Traceback" not in n for n in state.notices)
    assert state.chat[-1]["role"] == "assistant"


def test_cards_escape_catalog_and_llm_text():
    item = Item(id='x"1', title=XSS, year=1999, genres=("Drama",), extra={"director": [XSS], "cast": ["<b>bold</b>"]})
    rec = Recommendation(item=item, rank=1, score=0.5, reason=f"because {XSS}", grounded=False,
                         ungrounded_claims=(XSS,))
    ev = SimpleNamespace(matched=(XSS,), related_history=(XSS,), related_scores=(0.5,), exploration_seed=XSS,
                         rerank_score=0.4, retrieval_score=0.3)
    audit = [{"kind": "generate_json", "model": XSS, "latency_s": 0.1, "prompt_tokens": 3, "completion_tokens": 2,
              "messages": [{"role": "user", "content": XSS}], "output": {"reason": XSS}, "error": XSS}]
    html = render_card(CardView(rec, ev, audit))
    assert "<img" not in html and "<b>bold" not in html and 'id="x"1"' not in html
    assert esc(XSS) in html and "partly unsupported" in html and "LLM exchange" in html
    assert "&lt;img" in render_audit(audit)


def test_chat_text_is_escaped(make_agent):
    ui = ChatUI(make_agent())
    state = ui.open()
    run(ui.send(state, f"hello {XSS}"))
    assert "<img" not in state.chat[0]["content"] and "&lt;img" in state.chat[0]["content"]


def test_concurrency_matches_backend_and_auth_parsing(make_agent):
    agent = make_agent()
    assert default_concurrency(agent) == 8
    agent.app.engine = SimpleNamespace(backend="transformers")
    assert default_concurrency(agent) == 1
    agent.app.engine = SimpleNamespace(backend="vllm-http")
    assert default_concurrency(agent) == 4
    assert parse_auth("ann:s3:cret") == ("ann", "s3:cret") and parse_auth(None) is None
    with pytest.raises(ValueError):
        parse_auth("nopassword")


def test_build_app_has_the_components(make_agent):
    from ui.web import build_app

    app = build_app(make_agent(), concurrency_limit=2)
    ids = {getattr(b, "elem_id", None) for b in app.blocks.values()}
    assert {"chatbot", "msg", "send", "like-0", "dislike-0", "notthis-0", "profile-panel", "year-min",
            "genres", "start"} <= ids
    assert app.analytics_enabled is False


def test_ui_command_is_registered():
    import typer
    from typer.testing import CliRunner

    from ui.commands_ui import register

    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command so typer keeps the "ui" sub-command name
        """unused"""

    out = CliRunner().invoke(app, ["ui", "--help"])
    assert out.exit_code == 0
    for flag in ("--host", "--port", "--llm", "--llm-url", "--chroma-url", "--auth", "--share", "--no-llm"):
        assert flag in out.output
    bad = CliRunner().invoke(app, ["ui", "--auth", "nopass"])
    assert bad.exit_code == 2 and "user:password" in bad.output


def test_ui_command_loads_the_catalog_metadata_before_serving(ml100k_store, chroma_dir, monkeypatch, tmp_path):
    """`recchat ui` builds the metadata mirror and vocabulary before it serves, so the first chat
    turn does not pay for them (real embedded index; only the blocking server start is replaced)."""
    import typer
    from typer.testing import CliRunner

    import ui.web
    from ui.commands_ui import register

    served: list = []
    monkeypatch.setattr(ui.web, "launch", lambda app, **kw: served.append(app) or "http://127.0.0.1:0")
    built: list = []
    real_build_app = ui.web.build_app
    monkeypatch.setattr(ui.web, "build_app", lambda agent, **kw: built.append(agent) or real_build_app(agent, **kw))
    monkeypatch.setenv("RECCHAT_RETRIEVAL_CHROMA_PATH", str(chroma_dir))
    monkeypatch.setenv("RECCHAT_AGENT_SESSIONS_URL", f"sqlite:///{tmp_path}/s.db")
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: typer keeps the subcommand name
    res = CliRunner().invoke(app, ["ui", "--no-llm", "--catalog", "ml100k"])
    assert res.exit_code == 0, res.output
    assert "catalog ready: 1,682 items" in res.output, res.output
    assert served and built and built[0]._vocab is not None, "the vocabulary was not built before serving"
    assert res.output.index("catalog ready") < res.output.index("serving on")


def test_forrest_gumps_card_shows_its_stars():
    """The card names the most prominent cast (billing order from the real facts), not the
    first names of an alphabetical list."""
    from retrieval.movielens import load_catalog

    gump = next(i for i in load_catalog("movielens-1m") if i.id == "Forrest Gump (1994)")
    html = render_card(CardView(Recommendation(item=gump, rank=1, score=0.5, reason="", grounded=True)))
    assert "with Tom Hanks, Robin Wright" in html and "Aaron Izbicki" not in html
