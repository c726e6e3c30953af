"""Bad input: chat messages (empty, huge, binary, odd unicode) through ChatAgent.respond and the
UI handler; catalogs with bad encodings, BOMs, formula-like cells, huge fields; interactions
files with unknown items. Each gets a clear error or a documented, counted skip."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from agent.conversation import MAX_MESSAGE_CHARS, clean_message
from retrieval.catalog import CatalogError, load_catalog_file

ODD = [
    "",
    "   \n\t  ",
    "\x00\x01\x02 binary \xff\xfe",
    "lone surrogate \ud800 and \udfff here",
    "RTL \u202egnp.exe\u202c and zero width \u200b\u200d joiners",
    "emoji 🎬🍿👩‍👩‍👧 and combining e\u0301\u0301\u0301",
    "𝕬 𝖋𝖚𝖓𝖓𝖞 𝖒𝖔𝖛𝖎𝖊 (math letters)",
    "a thriller" + "\u0000" * 50,
    "<script>alert(1)</script> a comedy",
    "\ufeff\ufffe\uffff",
]


# ------------------------------------------------------------------ messages
def test_clean_message_limits_and_replaces() -> None:
    text, notice = clean_message("x" * (MAX_MESSAGE_CHARS * 50))
    assert len(text) == MAX_MESSAGE_CHARS and notice and f"{MAX_MESSAGE_CHARS:,}" in notice
    text, notice = clean_message("a\ud800b\x00c\nd")
    assert notice is None and text == "a\ufffdb c\nd"
    text.encode("utf-8")  # always encodable
    assert clean_message(b"caf\xe9 bytes")[0] == "caf\ufffd bytes"
    assert clean_message(None) == ("", None)


@pytest.mark.parametrize("message", ODD, ids=range(len(ODD)))
def test_respond_survives_odd_messages_and_session_round_trips(make_agent, message: str) -> None:
    agent = make_agent()
    session = agent.new_session()
    reply = agent.respond(session, message)
    assert isinstance(reply.text, str) and reply.text
    reply.text.encode("utf-8")
    stored = agent.load_session(session.id)
    assert [t.text for t in stored.turns] == [t.text for t in session.turns]
    assert len(stored.turns) == 2
    for rec in reply.recommendations:  # catalog items only
        assert agent.store.get_items(agent.catalog, [rec.item.id])


def test_respond_cuts_huge_message_with_notice(make_agent) -> None:
    agent = make_agent()
    session = agent.new_session()
    reply = agent.respond(session, "a funny animated movie for kids " + "blah " * 200_000)
    assert any("characters; I read the first" in n for n in reply.notices)
    assert len(session.turns[0].text) == MAX_MESSAGE_CHARS
    assert reply.recommendations, "the cut message is still answered"


def test_ui_send_handles_huge_and_binary(make_agent) -> None:
    from ui.web import ChatUI

    ui = ChatUI(make_agent())
    state = ui.open()
    steps = list(ui.send(state, "\x00\ud800" + "x" * (MAX_MESSAGE_CHARS * 10)))
    assert steps and not state.busy
    assert len(state.chat[0]["content"]) <= MAX_MESSAGE_CHARS * 6  # escaped, but bounded
    assert "\ud800" not in json.dumps(state.chat, ensure_ascii=False).encode("utf-8", "replace").decode()
    assert state.chat[-1]["role"] == "assistant"
    assert list(ui.send(state, "\x00 \x01")) == []  # only control characters: nothing to send


# ------------------------------------------------------------------ catalogs
def test_8bit_catalog_is_read_with_a_note_naming_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"id,title\n1,Amelie\n2,Caf\xe9 society\n3,Heat\n")
    loaded = load_catalog_file(path)
    assert [i.title for i in loaded.items] == ["Amelie", "Café society", "Heat"]
    assert loaded.format.notes == ("latin1.csv: not UTF-8; read as cp1252 (detected; --encoding overrides), "
                                   "e.g. row 3: Café",)
    jsonl = tmp_path / "win.jsonl"
    jsonl.write_bytes(b'{"id": "1", "title": "ok"}\n{"id": "2", "title": "Na\xefve \x93quotes\x94"}\n')
    assert load_catalog_file(jsonl).items[1].title == "Naïve \u201cquotes\u201d"


def test_unreadable_catalog_names_file_and_row(tmp_path: Path) -> None:
    """What really cannot be read as text still gets a clear error: the file, the row, what to do."""
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"id,title\n1,Amelie\n2,Caf\xe9 society\n3,Heat\n")
    with pytest.raises(CatalogError) as err:  # told it is UTF-8
        load_catalog_file(path, encoding="utf-8")
    assert f"{path}, row 3" in str(err.value) and "not valid utf-8" in str(err.value) and "0xe9" in str(err.value)
    workbook = tmp_path / "films.csv"  # an .xlsx renamed: a ZIP archive
    workbook.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb1\xd3\x9e\xe1")
    with pytest.raises(CatalogError, match=r"films.csv, row 1.*ZIP archive"):
        load_catalog_file(workbook)
    utf16 = tmp_path / "u16.csv"  # UTF-16 without a byte order mark
    utf16.write_bytes("id,title\n1,Amélie\n".encode("utf-16-le"))
    with pytest.raises(CatalogError) as err:
        load_catalog_file(utf16)
    assert f"{utf16}, row 1" in str(err.value) and "--encoding utf-16-le" in str(err.value)
    assert [i.title for i in load_catalog_file(utf16, encoding="utf-16-le").items] == ["Amélie"]


def test_utf8_bom_header_is_not_part_of_id(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffid,title\n1,Heat\n".encode())
    assert [i.id for i in load_catalog_file(path).items] == ["1"]


def test_formula_like_cells_stay_plain_text(tmp_path: Path) -> None:
    formulas = ["=CMD()", "+SUM(A1:A9)", "-2+3", "@import", '=HYPERLINK("http://x","y")', "\t=1+1"]
    path = tmp_path / "f.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title", "text", "director"])
        for i, f in enumerate(formulas):
            w.writerow([str(i), f, f, f])
    items = load_catalog_file(path).items
    formulas = [f.strip() for f in formulas]  # titles are stripped; the text stays text
    assert [i.title for i in items] == formulas
    assert [i.text.strip() for i in items] == formulas
    assert [str(i.extra["director"]).strip() for i in items] == formulas


def test_huge_csv_cell_is_a_row_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("id,title,text\n1,A," + "x" * 200_000 + "\n2,B,ok\n3,C," + "y" * 30_000 + "\n", encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load_catalog_file(path)
    text = str(err.value)
    assert f"{path}, row 2" in text and "field limit" in text  # csv's own 131,072 limit
    assert f"{path}, row 4, field 'text'" in text and "limit is 20000" in text
    loaded = load_catalog_file(path, on_error="skip")
    assert [i.id for i in loaded.items] == ["2"] and len(loaded.skipped) == 2


def test_missing_duplicate_wrong_type_rows_counted(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    rows = [{"id": "1", "title": "A"}, {"id": "1", "title": "dup"}, {"title": "no id"},
            {"id": "3", "title": "C", "year": "soon"}, {"id": "4", "title": "D", "genres": 7}, "not an object"]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    loaded = load_catalog_file(path, on_error="skip")
    assert [i.id for i in loaded.items] == ["1"]
    assert sorted(e.row for e in loaded.skipped) == [2, 3, 4, 5, 6]


# ------------------------------------------------------------------ eval interactions
def test_interactions_with_unknown_items_rejected_or_counted(tmp_path: Path) -> None:
    from eval.data import InteractionsError, read_interactions_file

    path = tmp_path / "i.csv"
    path.write_text("user_id,item_id,timestamp\nu1,1,1\nu1,999,2\nghost,404,3\nu2,2,4\n", encoding="utf-8")
    with pytest.raises(InteractionsError, match=r"row 3, field 'item_id': item '999' is not in the catalog"):
        read_interactions_file(path, {"1", "2"})
    frame = read_interactions_file(path, {"1", "2"}, unknown_items="skip")
    assert frame["item_id"].tolist() == ["1", "2"]
    assert frame.attrs["skipped_unknown_items"] == 2
    assert frame["row"].tolist() == [0, 1]
