"""bench.ui_latency: what counts as "the card has its reason", and the p50/p95 summary. The
benchmark itself drives the real web chat in Chromium (run: recchat bench ui-latency --no-llm)."""

from __future__ import annotations

from bench.ui_latency import _has_reason, _summary, table


def test_a_card_has_its_reason_only_when_a_marked_reason_is_shown():
    assert _has_reason("1. Fargo (1996)\nCrime\n82% of the 1,137 people ... also rated it. from the data\nwhy?")
    assert _has_reason("1. Fargo (1996)\nYou asked for a thriller ... ✓ checked\nwhy?")
    assert not _has_reason("1. Fargo (1996)\nCrime\nwriting the reason…\nwhy?")
    assert not _has_reason("1. Fargo (1996)\nCrime\nwhy?")


def test_summary_ignores_turns_without_a_list():
    rows = [{"list_s": 1.0, "first_reason_s": 2.0, "last_reason_s": 4.0, "total_s": 3.0},
            {"list_s": None, "first_reason_s": None, "last_reason_s": None, "total_s": 0.01},  # a question: no list
            {"list_s": 3.0, "first_reason_s": 4.0, "last_reason_s": 6.0, "total_s": 5.0}]
    s = _summary(rows)
    assert s["list_s"] == {"p50": 2.0, "p95": 2.9, "n": 2} and s["last_reason_s"]["p50"] == 5.0
    assert s["understand_s"] is None and s["total_s"]["n"] == 3
    assert "list_s" in table({"llm": None, "turns": rows, "summary": s})
