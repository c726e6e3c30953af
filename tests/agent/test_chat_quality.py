"""The chat failures people reported (issues 16/17), scripted on the real stack: the ML-100K index
in Chroma, MiniLM, the behaviour model from ML-100K's real ratings, the rule-based understanding
(no LLM, so the answers are deterministic). Each test is one request a person typed."""

from __future__ import annotations

import pytest

from agent.app import assemble
from agent.conversation import ChatAgent
from agent.one_shot import recommend_once
from agent.settings import AgentSettings


@pytest.fixture(scope="module")
def app(ml100k_store, tmp_path_factory):
    from retrieval.behaviour import Behaviour, histories_from_frame
    from retrieval.movielens import load_interactions
    from retrieval.retriever import Retriever

    histories, pairs = histories_from_frame(load_interactions("movielens-100k"))
    behaviour = Behaviour.build(histories, sorted({i for h in histories for i in h}), pairs)
    settings = AgentSettings(chat_k=5, sessions_url=f"sqlite:///{tmp_path_factory.mktemp('s')}/s.db")
    return assemble(ml100k_store, Retriever(ml100k_store, "ml100k"), None, settings, behaviour=behaviour)


@pytest.fixture
def ask(app):
    agent = ChatAgent(app)

    def ask(*messages: str):
        session = agent.new_session()
        reply = None
        for m in messages:
            reply = agent.respond(session, m)
        assert reply is not None and reply.recommendations, (messages, reply and reply.text)
        return reply, [r.item for r in reply.recommendations], session
    return ask


def test_like_se7en_not_horror_from_the_90s(ask):
    reply, picks, session = ask("something tense like Se7en, but not horror, from the 90s")
    titles = [p.title for p in picks]
    assert all(1990 <= p.year <= 1999 and "Horror" not in p.genres for p in picks), titles
    assert not any(t.startswith("Seven") or "Seven Years" in t for t in titles), titles  # the reference, or word matches
    assert sum(bool({"Thriller", "Crime", "Mystery"} & set(p.genres)) for p in picks) >= 3, titles


def test_a_scary_movie_that_is_not_a_slasher_is_still_scary(ask):
    # the web chat read "isn't a slasher" as "no horror" and showed Star Wars and Shawshank
    reply, picks, session = ask("a scary movie that isn't a slasher")
    assert "Horror" not in session.profile.constraints.exclude_genres
    assert sum(bool({"Horror", "Thriller"} & set(p.genres)) for p in picks) >= 3, [(p.title, p.genres) for p in picks]


def _genres(picks):
    return [(p.title, p.genres) for p in picks]


def test_cheer_me_up_after_a_breakup_is_comedies_not_hate_crime_dramas(ask):
    # issue 31: Gone with the Wind, Boys Don't Cry (a hate-crime drama), Dr. Strangelove were shown
    reply, picks, session = ask("something to cheer me up after a breakup")
    assert session.profile.moods == ["cheering you up", "getting over a breakup"]
    assert not any(r.exploration for r in reply.recommendations)  # a mood asked: every pick serves it
    assert sum("Comedy" in p.genres for p in picks) >= 4, _genres(picks)
    assert not any({"War", "Horror", "Crime", "Thriller"} & set(p.genres) for p in picks), _genres(picks)


def test_a_date_night_for_someone_who_hates_violence(ask):
    # issue 31: Boogie Nights, So I Married an Axe Murderer and Double Indemnity were shown
    reply, picks, session = ask("my wife hates violence, a date night film please")
    assert set(session.profile.moods) == {"nothing violent", "a date night"}
    assert sum(bool({"Romance", "Comedy"} & set(p.genres)) for p in picks) >= 4, _genres(picks)
    assert not any({"Action", "War", "Crime", "Horror", "Thriller"} & set(p.genres) for p in picks), _genres(picks)


def test_a_good_cry_is_dramas_and_a_follow_up_adds_to_the_mood(ask):
    reply, picks, session = ask("I need a good cry")
    assert sum("Drama" in p.genres for p in picks) >= 4 and not any("Comedy" in p.genres for p in picks), _genres(picks)
    _, picks, session = ask("I need a good cry", "and nothing violent")
    assert session.profile.moods == ["a good cry", "nothing violent"]
    assert not any({"War", "Crime", "Action"} & set(p.genres) for p in picks), _genres(picks)


def test_a_theme_request_gets_no_exploration_card_a_genre_request_may(ask):
    # issue 31 quoted "a heist film with a twist ending" -> "... 5. Toy Story (to explore)"
    reply, _, _ = ask("a heist film with a twist ending")
    assert not any(r.exploration for r in reply.recommendations)
    reply, _, _ = ask("a thriller from the 90s")  # nothing said about the story: one card may step away
    assert any(r.exploration for r in reply.recommendations)


def test_nothing_fits_says_what_dropping_each_constraint_would_give(app):
    reply = recommend_once(app, "a Tom Hanks western", k=5)
    assert not reply.recommendations and reply.text.startswith("I found nothing that fits")
    assert 'Without "with Tom Hanks", ' in reply.text and 'Without "genre Western", ' in reply.text
    assert reply.text.endswith("Say which to drop.")


def test_a_mood_does_not_lower_the_genre_the_theme_names(ask):
    # web chat: "a heist movie that isn't violent" lowered Crime and Thriller and showed Blade Runner
    reply, picks, _ = ask("a heist movie that isn't violent")
    assert not any("mention" in n for n in reply.notices), reply.notices
    assert sum("Crime" in p.genres for p in picks) >= 3, _genres(picks)


def test_a_negation_no_fact_can_check_is_said_not_hidden(ask):
    # issue 31: "not Disney" (no studio fact) changed nothing and said nothing
    reply, _, _ = ask("an animated movie that's not Disney")
    assert any('"disney"' in n and "did not change these picks" in n for n in reply.notices), reply.notices


def test_a_new_theme_drops_the_last_requests_constraints(ask):
    # "something romantic set in Paris" after a children's request kept "short, nothing above PG, animated"
    _, _, session = ask("a short animated film for a 5 year old", "something romantic set in Paris")
    c = session.profile.constraints
    assert not c.ranges and not c.one_of and "Animation" not in c.genres and "Children's" not in c.genres


def test_kids_movie_but_not_animated(ask):
    _, picks, _ = ask("Kids movie, but not animated")
    assert all("Children's" in p.genres and "Animation" not in p.genres for p in picks), [(p.title, p.genres) for p in picks]


def test_a_war_movie_nothing_made_after_1970(ask):
    _, picks, _ = ask("A war movie, but nothing made after 1970")
    assert all("War" in p.genres and p.year <= 1970 for p in picks), [(p.title, p.year) for p in picks]


def test_science_fiction_before_1980_is_what_people_love(ask):
    _, picks, _ = ask("Science fiction from before 1980")
    titles = {p.title for p in picks}
    assert all("Sci-Fi" in p.genres and p.year < 1980 for p in picks), titles
    loved = {"Star Wars", "Alien", "2001: A Space Odyssey", "Close Encounters of the Third Kind"}
    assert len(loved & titles) >= 2, titles


def test_only_the_80s_reads_a_period_not_a_title(ask):
    reply, picks, session = ask("I only want movies from the 1980s.")
    assert all(1980 <= p.year <= 1989 for p in picks) and not any("Only" in p.title for p in picks)
    assert session.profile.liked_items == []  # no invented reference
    assert all("Matrix" not in (r.reason or "") for r in reply.recommendations)


def test_for_kids_wants_childrens_films_and_a_new_request_drops_old_bounds(ask):
    _, picks, session = ask("a tense thriller from the early 90s", "a funny animated movie for kids")
    c = session.profile.constraints
    assert "Children's" not in c.exclude_genres and (c.year_min, c.year_max) == (None, None)
    assert all("Animation" in p.genres for p in picks), [(p.title, p.genres) for p in picks]


def test_recommend_reads_the_constraints_in_the_message(app):
    reply = recommend_once(app, "a tense 90s thriller, not horror", k=5)
    picks = [r.item for r in reply.recommendations]
    assert picks and all(1990 <= p.year <= 1999 and "Horror" not in p.genres and "Thriller" in p.genres for p in picks)
    assert reply.filters["year_min"] == 1990 and reply.filters["exclude_genres"] == ["Horror"]


def test_the_ranked_list_arrives_with_its_reasons(app):
    """The web chat shows the list as soon as it is ranked: every card already carries its data
    sentence then (a checked LLM sentence may replace it later), never "writing the reason..."."""
    agent, seen = ChatAgent(app), []
    reply = agent.respond(agent.new_session(), "a thriller from the 90s", on_ranked=seen.append)
    assert len(seen) == 1 and seen[0]
    assert all(r.reason and r.reason_source == "data" for r in seen[0] if not r.exploration)
    assert [r.item.id for r in seen[0]] == [r.item.id for r in reply.recommendations]


def test_cards_fill_in_one_by_one_as_checked_llm_reasons_arrive(app):
    """With ``llm_reasons`` on, each accepted LLM sentence is sent as soon as it is checked: the
    list comes first with data sentences, then once more per LLM sentence, and the last update is
    what the reply shows. (An engine that phrases the pick's first fact; the rest is the real stack.)"""
    from dataclasses import replace

    class Phraser:
        def generate_json(self, messages, schema, max_tokens=512, timeout_s=None):
            title = messages[1].content.split("The film: ")[1].split(". Genres")[0]
            return {"reason": f"{title} is a thriller from the 1990s, as you asked."}

    reasoned = replace(app, engine=Phraser(), settings=app.settings.model_copy(update={"llm_reasons": True,
                                                                                         "explain_top_k": 3}))
    agent, seen = ChatAgent(reasoned), []
    agent.understander.engine = None  # rules reading: the phraser only writes reasons
    reply = agent.respond(agent.new_session(), "a thriller from the 90s", on_ranked=seen.append)
    llm = [r for r in reply.recommendations if r.reason_source == "llm"]
    assert len(llm) == 3, [(r.reason, r.reason_source) for r in reply.recommendations]
    assert len(seen) == 1 + len(llm) and all(r.reason_source == "data" for r in seen[0] if not r.exploration)
    assert [sum(r.reason_source == "llm" for r in update) for update in seen] == [0, 1, 2, 3]
    assert [(r.item.id, r.reason) for r in seen[-1]] == [(r.item.id, r.reason) for r in reply.recommendations]


def test_words_that_describe_the_film_lead_the_ranking(ask):
    """No constraint reads "boxer": the text must lead (agent.ranking.fusion.TEXT_LED_WEIGHT), not the
    popularity prior, and a short "a movie about X" is a request, not a greeting to clarify."""
    reply, picks, _ = ask("a movie about a boxer")
    assert reply.intent == "recommend"
    assert {"Raging Bull", "Rocky", "Rocky II", "Rocky III", "Rocky IV", "Rocky V"} & {p.title for p in picks[:4]}, \
        [p.title for p in picks]


def test_funny_raises_comedies_without_demanding_them(ask):
    reply, picks, _ = ask("I loved Star Wars and Raiders of the Lost Ark", "something funny from the 80s")
    main = [p for r, p in zip(reply.recommendations, picks) if not r.exploration]
    assert all(1980 <= p.year <= 1989 for p in picks), [p.title for p in picks]
    assert sum("Comedy" in p.genres for p in main) >= 3, [(p.title, p.genres) for p in main]
    assert "Comedy" not in reply.filters.get("genres", []), reply.filters  # a wish, not a filter


def test_list_stays_full_when_no_exploration_pick_is_found(app, monkeypatch):
    agent = ChatAgent(app)
    monkeypatch.setattr(agent, "_explore", lambda *args, **kwargs: None)
    reply = agent.respond(agent.new_session(), "a comedy from the 90s")
    assert len(reply.recommendations) == app.settings.chat_k
    assert not any(r.exploration for r in reply.recommendations)
    assert [r.rank for r in reply.recommendations] == list(range(1, app.settings.chat_k + 1))


def test_a_mood_no_film_can_meet_is_said_not_hidden(ask):
    """"Scary" is a wish (Horror raised, not required); with "for my kids" and the 70s standing no
    pick is Horror, and the reply says so instead of passing kids' films off as scary ones."""
    reply, picks, _ = ask("something funny for my kids", "something scary from the 70s instead")
    assert not any("Horror" in p.genres for p in picks), [(p.title, p.genres) for p in picks]
    [notice] = [n for n in reply.notices if n.startswith("No horror or thriller film")]
    assert "Children's" in notice and "1970" in notice
    funny, picks, _ = ask("something funny")  # a wish the list meets: no notice
    assert any("Comedy" in p.genres for p in picks) and not any("film fits" in n for n in funny.notices)


def test_a_heist_film_with_a_twist_ending_is_not_twister(ask):
    """Issue 31's quoted failure: "twist" found Twister (1996) first. BM25 over the overviews and
    keywords finds the word itself, and the title is not searched for theme words."""
    reply, picks, _ = ask("a heist film with a twist ending")
    assert "Twister" not in {p.title for p in picks}, [p.title for p in picks]
    main = [p for r, p in zip(reply.recommendations, picks) if not r.exploration]
    assert any(w in p.document().lower() for p in main[:3] for w in ("heist", "robbery", "thief", "steal")), \
        [p.title for p in main]


def test_origin_and_acclaim_wishes_are_kept(ask, app):
    from agent.ranking.acclaim import item_passes

    _, picks, _ = ask("a French film")
    assert all(p.extra.get("primary_language") == "French" for p in picks), [p.label for p in picks]
    reply, picks, session = ask("a hidden gem from the 90s")
    assert all(item_passes("underrated", p, app.behaviour) and 1990 <= p.year <= 1999 for p in picks), \
        [p.label for p in picks]
    assert "little-known but well rated" in session.profile.summary()


def test_a_wish_no_description_matches_is_said(ask):
    reply, _, _ = ask("a comedy with a zxqvbnm in it")
    assert any('mention "zxqvbnm"' in n for n in reply.notices), reply.notices
    reply, _, _ = ask("a heist film")
    assert not any("mention" in n for n in reply.notices), reply.notices


def test_a_mood_word_belongs_to_its_request_not_to_the_next(ask):
    """"feel-good" wished for comedies in the web chat for four requests after it was said."""
    reply, picks, session = ask("a feel-good British film", "a long epic about war")
    assert "feel-good" not in session.profile.liked_attributes
    assert sum("Comedy" in p.genres for p in picks) <= 1, [(p.title, p.genres) for p in picks]
    assert all(p.extra.get("runtime_min", 0) >= 140 for r, p in zip(reply.recommendations, picks) if not r.exploration)


def test_something_about_a_theme_is_a_new_request(ask):
    """Seen in the web chat: after "a western with Clint Eastwood", "something about a
    submarine" kept Eastwood and the western and said no summary mentions a submarine."""
    reply, picks, session = ask("a western with Clint Eastwood", "something about a submarine")
    assert not session.profile.constraints.fields and not session.profile.constraints.genres
    main = [p for r, p in zip(reply.recommendations, picks) if not r.exploration]
    assert any("submarine" in p.document().lower() for p in main[:3]), [p.title for p in main]
