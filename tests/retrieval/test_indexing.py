"""Streaming, resumable indexing of catalog files (real MiniLM, real embedded Chroma)."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrieval.catalog import CatalogError, iter_catalog_batches, scan_catalog_file, write_catalog_jsonl
from retrieval.id_ledger import IdLedger
from retrieval.indexing import index_catalog_file
from retrieval.settings import RetrievalSettings
from retrieval.store import ChromaStore, IndexMissingError


class CountingEmbedder:
    """The real embedder, counting texts; ``on_call(n_calls)`` runs before each encode."""

    def __init__(self, inner, on_call=None):
        self.inner, self.texts, self.calls, self.on_call = inner, [], 0, on_call
        self.model_id, self.dim = inner.model_id, inner.dim

    def encode(self, texts, batch_size=64, progress=False, kind="query"):
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture
def catalog_file(tmp_path, ml100k_items):
    return write_catalog_jsonl(ml100k_items[:250], tmp_path / "films.jsonl")


@pytest.fixture
def settings(tmp_path):
    return RetrievalSettings(chroma_path=str(tmp_path / "chroma"), index_batch=100, upsert_batch=100)


def test_loader_streams_bounded_batches_for_every_format(tmp_path):
    rows = [{"id": str(i), "title": f"Film {i}", "year": 1900 + i % 100} for i in range(2500)]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    csv = tmp_path / "c.csv"
    csv.write_text("id,title,year\n" + "".join(f"{r['id']},{r['title']},{r['year']}\n" for r in rows))
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=700)
    for path in (jsonl, csv, parquet):
        batches = iter_catalog_batches(path, batch_size=1000)
        first = next(batches)  # a generator: the first batch comes before the rest is parsed
        sizes = [len(first.items)] + [len(b.items) for b in batches]
        assert sizes == [1000, 1000, 500], path
    assert scan_catalog_file(parquet).items == 2500


def test_streamed_bad_rows_and_duplicates_across_batches_are_counted(tmp_path):
    lines = [json.dumps({"id": str(i), "title": f"T{i}"}) for i in range(10)]
    lines[7] = json.dumps({"id": "2", "title": "dup of row 3"})  # duplicate in a later batch
    lines[8] = json.dumps({"id": "8", "title": ""})  # missing title
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")
    batches = list(iter_catalog_batches(path, batch_size=3))
    assert all(len(b.items) <= 3 for b in batches)
    errors = [e for b in batches for e in b.errors]
    assert [(e.row, e.field) for e in errors] == [(8, "id"), (9, "title")]
    assert "first seen in row 3" in errors[0].message
    scan = scan_catalog_file(path)
    assert (scan.items, scan.bad_rows) == (8, 2)


def test_id_ledger_reports_repeats_with_first_row():
    with IdLedger() as ledger:
        assert ledger.add([("a", 1), ("b", 2), ("a", 3)]) == [(2, 1)]
        assert ledger.add([("b", 4), ("c", 5)]) == [(0, 2)]
        assert len(ledger) == 3 and ledger.missing(["a", "z", "c"]) == ["z"]


def test_reject_mode_embeds_nothing_and_skip_mode_counts(tmp_path, settings, embedder):
    path = tmp_path / "c.csv"
    path.write_text("id,title,year\n1,Heat,1995\n2,,1990\n3,Alien,1979\n3,Again,1980\n")
    emb = CountingEmbedder(embedder)
    store = ChromaStore(settings, emb)
    with pytest.raises(CatalogError, match="2 bad row"):
        index_catalog_file(store, "c", path)
    assert emb.calls == 0 and store.client.list_collections() == []
    run = index_catalog_file(store, "c", path, on_error="skip", progress=False)
    assert (run.report.total, run.scan.bad_rows) == (2, 2) and store.count("c") == 2
    assert {(e.row, e.field) for e in run.scan.errors} == {(3, "title"), (5, "id")}


def test_interrupted_build_resumes_and_embeds_only_the_remainder(settings, embedder, catalog_file):
    def interrupt_on_third(calls):
        if calls == 3:
            raise KeyboardInterrupt  # Ctrl-C while the third batch of 100 is being embedded

    first = ChromaStore(settings, CountingEmbedder(embedder, interrupt_on_third))
    with pytest.raises(KeyboardInterrupt):
        index_catalog_file(first, "films", catalog_file, progress=False)
    with pytest.raises(IndexMissingError):  # nothing half-built is served
        first.active("films")
    emb = CountingEmbedder(embedder)
    again = ChromaStore(settings, emb)
    run = index_catalog_file(again, "films", catalog_file, progress=False)  # the same command again
    assert run.report.resumed and run.report.rebuilt
    assert (run.report.embedded, run.report.unchanged, len(emb.texts)) == (50, 200, 50)
    assert again.count("films") == 250
    assert {c.name for c in again.client.list_collections()} == {"rc-films", run.report.collection}
    top = again.query("films", embedder.encode(["Toy Story (1995)"])[0], 1)
    assert top[0].meta["title"].startswith("Toy Story")


def test_rebuild_switches_the_head_only_after_the_last_batch(settings, embedder, catalog_file, ml100k_items):
    store = ChromaStore(settings, CountingEmbedder(embedder))
    before = index_catalog_file(store, "films", catalog_file, progress=False).report.collection
    seen_active = []

    def watch(calls):
        seen_active.append(ChromaStore(settings, embedder).active("films").name)

    changed = [it.model_copy(update={"text": "new synopsis"}) for it in ml100k_items[:250]]
    path = write_catalog_jsonl(changed, catalog_file.with_name("films2.jsonl"))
    rebuilder = ChromaStore(settings, CountingEmbedder(embedder, watch))
    run = index_catalog_file(rebuilder, "films", path, rebuild=True, progress=False)
    assert seen_active == [before, before, before] and not run.report.resumed
    assert rebuilder.active("films").name == run.report.collection != before
    assert rebuilder.get_items("films", [changed[0].id])[changed[0].id].text == "new synopsis"


def test_resume_drops_items_that_left_the_catalog_and_no_resume_starts_over(settings, embedder, ml100k_items, tmp_path):
    def interrupt_on_second(calls):
        if calls == 2:
            raise KeyboardInterrupt

    full = write_catalog_jsonl(ml100k_items[:250], tmp_path / "a.jsonl")
    with pytest.raises(KeyboardInterrupt):
        index_catalog_file(ChromaStore(settings, CountingEmbedder(embedder, interrupt_on_second)), "films", full)
    smaller = write_catalog_jsonl(ml100k_items[50:150], tmp_path / "b.jsonl")  # 50 of the 100 stored left
    emb = CountingEmbedder(embedder)
    run = index_catalog_file(ChromaStore(settings, emb), "films", smaller, progress=False)
    assert run.report.resumed and (run.report.embedded, run.report.deleted) == (50, 50)
    store = ChromaStore(settings, embedder)
    assert store.count("films") == 100
    with pytest.raises(KeyboardInterrupt):
        index_catalog_file(ChromaStore(settings, CountingEmbedder(embedder, interrupt_on_second)), "films", full, rebuild=True)
    emb = CountingEmbedder(embedder)
    fresh = index_catalog_file(ChromaStore(settings, emb), "films", full, rebuild=True, resume=False, progress=False)
    assert not fresh.report.resumed and len(emb.texts) == 250


@pytest.mark.slow
def test_killed_recchat_index_resumes_with_the_same_command(tmp_path, catalog_file, embedder):
    """SIGKILL `recchat index` mid-build (after >= 100 of 250 items), rerun it: it resumes."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    env = {**os.environ, "RECCHAT_RETRIEVAL_CHROMA_PATH": str(tmp_path / "chroma"),
           "RECCHAT_RETRIEVAL_INDEX_BATCH": "50", "RECCHAT_RETRIEVAL_UPSERT_BATCH": "50"}
    cmd = [str(Path(sys.executable).with_name("recchat")), "index", str(catalog_file), "--name", "films"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = bytearray()
    reader = threading.Thread(target=lambda: [seen.extend(c) for c in iter(lambda: proc.stdout.read(1), b"")], daemon=True)
    reader.start()
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        done = [int(n) for n in re.findall(rb"(\d+)/250", bytes(seen))]
        if done and max(done) >= 100:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"finished before it could be killed: {bytes(seen)[-300:]!r}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = max(int(n) for n in re.findall(rb"(\d+)/250", bytes(seen)))
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed an interrupted build" in again.stderr
    embedded = int(re.search(r"(\d+) embedded", again.stderr).group(1))
    assert embedded <= 250 - killed_at
    from retrieval.settings import RetrievalSettings

    assert ChromaStore(RetrievalSettings(chroma_path=str(tmp_path / "chroma")), embedder).count("films") == 250


def _spreadsheet_csv(path, rows, delimiter=";", encoding="cp1252"):
    """A catalog as a European spreadsheet saves it: ';' between cells, Windows-1252 text."""
    lines = [delimiter.join(("id", "title", "year", "genres"))] + [delimiter.join(r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


FILMS = [("1", "Amélie", "2001", "Comedy|Romance"), ("2", "Lock, Stock and Two Smoking Barrels", "1998", "Crime"),
         ("3", "Léon", "1994", "Action|Crime")]


def test_semicolon_cp1252_file_indexes_with_the_detected_format(tmp_path, settings, embedder):
    path = _spreadsheet_csv(tmp_path / "films.csv", FILMS)
    emb = CountingEmbedder(embedder)
    store = ChromaStore(settings, emb)
    run = index_catalog_file(store, "films", path, progress=False)
    assert (run.report.total, run.scan.items, run.scan.bad_rows) == (3, 3, 0)
    assert (run.scan.format.encoding, run.scan.format.delimiter) == ("cp1252", ";")
    assert any("';'" in note for note in run.scan.format.notes)
    got = store.get_items("films", ["1", "2"])
    assert got["1"].title == "Amélie" and got["1"].genres == ("Comedy", "Romance")
    assert got["2"].title == "Lock, Stock and Two Smoking Barrels"
    assert any("Amélie" in text for text in emb.texts)  # embedded as text, not mojibake
    with pytest.raises(CatalogError, match="looks ';'-separated") as err:  # forced: one error, nothing embedded
        index_catalog_file(ChromaStore(settings, emb), "other", path, delimiter=",", progress=False)
    assert len(err.value.errors) == 1 and "other" not in {c.name for c in store.client.list_collections()}


def _cli(monkeypatch, tmp_path, *args):
    from typer.testing import CliRunner

    from ui.cli import app

    monkeypatch.setenv("RECCHAT_RETRIEVAL_CHROMA_PATH", str(tmp_path / "chroma"))
    return CliRunner().invoke(app, ["index", *map(str, args)])


def test_cli_index_notes_the_detected_delimiter_and_encoding(tmp_path, monkeypatch, embedder):
    path = _spreadsheet_csv(tmp_path / "films.csv", FILMS)
    res = _cli(monkeypatch, tmp_path, path, "--name", "films")
    flat = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert "note: films.csv: columns are separated by ';' (detected; --delimiter overrides)" in flat
    assert "note: films.csv: not UTF-8; read as cp1252 (detected; --encoding overrides), e.g. row 2: Amélie" in flat
    assert "indexed 'films': 3 items" in flat
    again = _cli(monkeypatch, tmp_path, path, "--name", "films", "--delimiter", ";", "--encoding", "cp1252")
    assert again.exit_code == 0 and "note:" not in again.output and "3 unchanged" in again.output


def test_cli_index_errors_start_with_error_and_name_the_problem(tmp_path, monkeypatch):
    path = _spreadsheet_csv(tmp_path / "films.csv", FILMS)
    bad_rows = _spreadsheet_csv(tmp_path / "bad.csv", [("1", "Amélie", "[/]", "Drama")])  # not rich markup
    cases = [
        ([path, "--delimiter", ","], ["cannot split the columns of catalog", "films.csv", "looks ';'-separated",
                                      "pass --delimiter ';'"]),
        ([path, "--encoding", "utf-8"], ["cannot read catalog", "films.csv, row 2", "not valid utf-8"]),
        ([path, "--encoding", "klingon"], ["unknown text encoding 'klingon'"]),
        ([path, "--delimiter", "ab"], ["bad delimiter 'ab'"]),
        ([tmp_path / "none.csv"], ["catalog file not found"]),
        ([bad_rows], ["1 bad row(s) in catalog", "bad.csv, row 2, field 'year': expected an integer year, got '[/]'"]),
        (["movielens-100k", "--delimiter", ";"], ["apply to catalog files, not the bundled dataset"]),
    ]
    for args, expected in cases:
        res = _cli(monkeypatch, tmp_path, *args)
        assert res.exit_code == 1, (args, res.output)
        # notes (what was detected) may come first; the error itself starts with "error:" like every recchat error
        notes, sep, error = res.output.partition("error: ")
        assert sep and all(line.startswith("note: ") for line in notes.splitlines()), (args, res.output)
        flat = " ".join(error.split())
        for text in expected:
            assert text in flat, (args, text, res.output)


def test_cli_builds_the_theme_index_and_keeps_it_up_to_date(tmp_path, monkeypatch, embedder):
    """--themes builds '<name>.<theme embedder>'; a later `recchat index` updates it with the catalog
    (MiniLM stands in for the theme embedder here: EmbeddingGemma's 1.15 GB is tested apart)."""
    from agent.app import open_themes
    from retrieval.settings import RetrievalSettings
    from retrieval.store import ChromaStore

    monkeypatch.setenv("RECCHAT_RETRIEVAL_THEME_EMBEDDER", "minilm")
    path = _spreadsheet_csv(tmp_path / "films.csv", FILMS)
    res = _cli(monkeypatch, tmp_path, path, "--name", "films", "--themes")
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "indexed 'films': 3 items" in flat and "indexed 'films.minilm': 3 items" in flat
    _spreadsheet_csv(path, [*FILMS, ("4", "Heat", "1995", "Crime|Thriller")])
    res = _cli(monkeypatch, tmp_path, path, "--name", "films")  # no --themes: the existing theme index follows
    assert res.exit_code == 0 and "indexed 'films.minilm': 4 items, 1 embedded" in " ".join(res.output.split())
    settings = RetrievalSettings(catalog="films", chroma_path=str(tmp_path / "chroma"), theme_embedder="minilm")
    themes = open_themes(settings)
    assert themes is not None and themes.catalog == "films.minilm"
    assert open_themes(settings.model_copy(update={"catalog": "other"})) is None  # never built: the main index serves
    assert not ChromaStore(settings).has_index("other")
