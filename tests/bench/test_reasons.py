"""`recchat bench reasons` figures from cards (no app): what counts, and what fails."""

from __future__ import annotations

from types import SimpleNamespace

from bench.reasons import Card, _below_base, report_md, sample_md, summarise
from retrieval.liking import Liking


def _card(**kw) -> Card:
    base = dict(suite="s", request="r", pick="P (1990)", reason="It is a 1990 drama, as you asked.", exploration=False,
                valid=True, flags=[], claims=2, grounded=2, states_wish=True, states_theme=False,
                met=["it is a 1990 drama"], names_wish=True)
    return Card(**{**base, **kw})


def test_figures_count_what_they_say() -> None:
    cards = [_card(), _card(names_wish=False, valid=False, flags=["truncated"], grounded=1), _card(exploration=True)]
    out = summarise(cards, [2, 3], [0.5, 1.5])
    assert out["valid_share"] == round(2 / 3, 4) and out["truncated"] == 1 and out["claim_precision"] == round(5 / 6, 4)
    assert out["names_wish_share"] == 0.5 and out["names_wish_cards"] == 2  # the exploration card is not counted
    assert out["max_shared_pattern"] == 3 and out["lists_over_2"] == 1 and out["turn_p50_s"] == 1.0
    assert "| 0.5 | >= 0.90 |" in report_md({**out, "catalog": "c", "requests": 2, "seconds": 1, "command": "recchat x"})
    sample = sample_md(cards, 2, "recchat x")
    assert sample.startswith("# 2 reasons") and sample.count("\n| ") == 4  # header, rule, 2 rows


def test_a_statistic_below_the_base_rate_is_caught() -> None:
    liking = Liking.build([("u1", "a", 5), ("u1", "b", 4), ("u2", "b", 5), ("u3", "c", 4)])
    app = SimpleNamespace(liking=liking, behaviour=None)
    assert not _below_base("People who loved A (1990) were 2 times as likely as others to love it.", "b", app, {"A (1990)": "a"})
    assert _below_base("People who loved A (1990) were 0.5 times as likely as others to love it.", "b", app, {})
    assert _below_base("10% of the 50 people who loved A (1990) loved it too, against 30% of everyone else.", "b", app, {})
