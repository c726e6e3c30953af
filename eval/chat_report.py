"""``report.md`` of the chat protocols (conversation, requests, explanations), rendered from the
results document alone, so a committed report can be checked against its ``results.json``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_chat_report(doc: Mapping[str, Any]) -> str:
    """``report.md`` of a chat protocol, from its results document alone."""
    lines = [f"# Evaluation: {doc['dataset']['name']}, {doc['protocol']} protocol", "",
             f"- command: `{doc['command']}`", f"- git: {doc['git'].get('commit', '?')}"
             + (" (dirty)" if doc["git"].get("dirty") else ""),
             f"- people sampled: {doc['users']['evaluated']} (seed {doc['config']['seed']}); wall {doc['wall_s']} s", ""]
    if doc["protocol"] == "conversation":
        lines += ["Simulated person with a hidden target (the user's held-out film); success = the target among the "
                  f"picks shown (top 5; top 10) within {doc['config']['turns']} turns. Violations: shown top-5 picks "
                  "breaking a constraint the person had stated. Popularity: median percentile of the shown picks "
                  "(100 = most rated).", "",
                  *([f"Sequence model in the chat's fusion: {doc['sequence_model'] or 'none'}.", ""]
                    if "sequence_model" in doc else []),  # runs before the sequence model have no such key
                  *_theme_index_lines(doc),
                  "| pipeline (start) | people | success@5 | success@10 | first-turn hit@10 [95% CI] | avg turns | MRR | "
                  "violations | median popularity pct | turn s (median total) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, s in doc["summaries"].items():
            if not s.get("people"):
                continue
            ft = s["first_turn_hit@10"]
            stages = s["stage_median_s"]
            total = stages.get("total_s") or sum(stages.values())
            lines.append(f"| {name} | {s['people']} | {_f(s['success@5'])} | {_f(s['success@10'])} | "
                         f"{_f(ft['mean'])} [{_f(ft['ci_low'])}, {_f(ft['ci_high'])}] | {_f(s['avg_turns@5'], 2)} | "
                         f"{_f(s['mrr'])} | {_f(s['violation_share'])} | {_f(s['median_popularity_pct'], 1)} | {_f(total, 2)} |")
        lines += ["", "## Success by turn (hit@5, cumulative)", "", "| pipeline (start) | " +
                  " | ".join(f"turn {t}" for t in range(1, doc["config"]["turns"] + 1)) + " |",
                  "|---|" + "---:|" * doc["config"]["turns"]]
        for name, s in doc["summaries"].items():
            if s.get("people"):
                lines.append(f"| {name} | " + " | ".join(_f(v) for v in s["by_turn"]["hit@5"]) + " |")
        lines += ["", "## Paired tests of success@5 (same people)", "",
                  "| comparison | pipeline | mean A | mean B | diff [95% CI] | p (paired t) | p (Wilcoxon) |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for label, tests in doc["paired_tests"].items():
            for name, t in tests.items():
                lines.append(f"| {label} | {name} | {_f(t['mean_a'])} | {_f(t['mean_b'])} | {_f(t['diff'])} "
                             f"[{_f(t['ci_low'])}, {_f(t['ci_high'])}] | {_f(t['p_ttest'], 4)} | {_f(t['p_wilcoxon'], 4)} |")
        lines += ["", f"Leaks (a simulated message naming its target): {doc['leaked']}.", "",
                  "Plots: `success_by_turn.png` (k=5), `success_by_turn_k10.png`."]
    elif doc["protocol"] == "requests":
        lines += [f"{doc['requests']} single requests with machine-checkable constraints ({doc['hand_written']} "
                  f"hand-written, {doc['held_out']} of them held out of every tuning); each through a fresh session.", "",
                  "| path | part | requests | shown picks keeping every constraint | requests fully satisfied | "
                  "parse accuracy | median popularity pct | empty lists | median s |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in doc["paths"].items():
            for part, g in [("all", r["overall"]), *sorted(r["by_split"].items())]:
                lines.append(f"| {name} | {part} | {g['requests']} | {_f(g['pick_satisfaction'])} | "
                             f"{_f(g['requests_fully_satisfied'])} | {_f(g['parse_accuracy'])} | "
                             f"{_f(g['median_popularity_percentile'], 1)} | {g['empty_lists']} | {_f(g['median_seconds'], 2)} |")
        lines += ["", "## Shown picks keeping every constraint, by request kind", "",
                  "| kind | " + " | ".join(doc["paths"]) + " |", "|---|" + "---:|" * len(doc["paths"])]
        kinds = sorted({k for r in doc["paths"].values() for k in r["by_kind"]})
        for kind in kinds:
            lines.append(f"| {kind} | " + " | ".join(_f(r["by_kind"].get(kind, {}).get("pick_satisfaction"))
                                                       for r in doc["paths"].values()) + " |")
        lines += ["", "## Violations (examples)", ""]
        for name, r in doc["paths"].items():
            lines += [f"- {name}: {e}" for e in r["examples"][:8]]
        lines += ["", "Plot: `satisfaction_by_kind.png`."]
    elif doc["protocol"] == "freeform":
        lines += _freeform_lines(doc)
    else:
        s = doc["strict"]
        who = {"chat-rules": "without the LLM (every reason is the sentence built from the pick's facts)",
               "explainer-llm": (f"as before the per-pick reasons (rules picks; the LLM explains the first "
                                 f"{doc['explain_top_k']} in one request per turn from their metadata; a dropped "
                                 "or missing reason shows none; one call per turn, invalid when it failed or left "
                                 "a top pick without a reason)")}.get(
            doc.get("pipeline", "chat-llm"), f"with the LLM (it writes the first {doc['explain_top_k']} reasons, each "
            "shown only if it passes the strict check, else the data sentence)")
        lines += [f"The chat {who} answered {doc['requests']} requests of the suite; the reason of every shown pick "
                  "was checked strictly: claims only against the pick's own structured metadata and the evidence it "
                  "may cite (the request, the films the person named, the pick's computed facts); missing, claim-free, "
                  "truncated, third-person or recited reasons are not valid.", "",
                  "| picks | with a reason | valid reasons | claim precision | truncated | written by the LLM | "
                  "invalid LLM calls |", "|---:|---:|---:|---:|---:|---:|---:|",
                  f"| {s['picks']} | {_f(s.get('with_reason_share'))} | {_f(s['valid_share'])} | "
                  f"{_f(s['claim_precision'])} | {_f(s['truncation_rate'])} | {_f(s.get('llm_share'))} | "
                  f"{_f(s['invalid_call_rate'])} ({s['invalid_calls']}/{s['calls']}) |", "",
                  "Flags: " + ", ".join(f"{k} {v}" for k, v in s["flag_counts"].items()), "",
                  "## Examples", ""]
        lines += [f"- {e['pick']} ({e.get('source') or 'none'}): {e['reason']!r} -> {', '.join(e['flags']) or 'valid'}"
                  for e in doc["examples"][:20]]
    return "\n".join(lines) + "\n"


#: request kinds whose every part is checkable on the facts (issue 31's "checkable wishes")
CHECKABLE_KINDS = ("person", "length", "certificate", "awards", "acclaim", "origin")
#: request kinds judged against hand-made relevant sets (issue 31's "theme, plot and mood")
TEXT_KINDS = ("plot", "mood")


def _theme_index_lines(doc: Mapping[str, Any]) -> list[str]:
    """Which index matched the text-led requests (runs before the theme index have no such key)."""
    if "theme_index" not in doc:
        return []
    return [f"Theme index for text-led requests (a theme, a plot, a mood): {doc['theme_index'] or 'none (the main index)'}.",
            ""]


def _freeform_target_lines(doc: Mapping[str, Any]) -> list[str]:
    """Issue 31's targets from the per-request rows: checkable wishes (share of shown picks over
    :data:`CHECKABLE_KINDS`, requests with >= 4 of 5) and theme/plot/mood (mean per-request share
    over :data:`TEXT_KINDS`), all / tuning / held out; and each further path against the first,
    paired over the plot and mood requests."""
    from eval.metrics import paired_test

    def part(rows: list[Mapping[str, Any]], held: bool | None) -> list[Mapping[str, Any]]:
        return [r for r in rows if held is None or bool(r["held_out"]) == held]

    lines = ["", "## Checkable wishes and theme, plot, mood (issue 31's targets)", "",
             "| path | checkable: shown picks satisfying (all / tuning / held out) | checkable: requests >= 4 of 5 | "
             "plot + mood: share of picks in the relevant set (all / tuning / held out) |", "|---|---|---:|---|"]
    shares: dict[str, dict[str, float]] = {}
    for name, r in doc["paths"].items():
        rows = [x for x in r.get("rows", []) if x.get("checked", True)]
        check = [x for x in rows if x["kind"] in CHECKABLE_KINDS]
        text = [x for x in rows if x["kind"] in TEXT_KINDS and x.get("share") is not None]
        pick_share = [_ratio(sum(x["n_satisfied"] for x in g), sum(x["n_shown"] for x in g))
                      for g in (part(check, h) for h in (None, False, True))]
        text_share = [_mean([x["share"] for x in part(text, h)]) for h in (None, False, True)]
        four = sum(x["n_satisfied"] >= 4 for x in check)
        lines.append(f"| {name} | {' / '.join(_f(v) for v in pick_share)} | {four} of {len(check)} | "
                     f"{' / '.join(_f(v) for v in text_share)} |")
        shares[name] = {x["id"]: x["share"] for x in text}
    names = list(shares)
    for other in names[1:]:
        ids = [i for i in shares[names[0]] if i in shares[other]]
        t = paired_test("plot + mood", [shares[names[0]][i] for i in ids], [shares[other][i] for i in ids])
        better = sum(shares[other][i] > shares[names[0]][i] for i in ids)
        worse = sum(shares[other][i] < shares[names[0]][i] for i in ids)
        lines += ["", f"{other} vs {names[0]}, paired over {t.n} plot and mood requests: {_f(t.mean_b)} vs "
                      f"{_f(t.mean_a)} (better on {better}, worse on {worse}; paired t p = {_f(t.p_ttest, 4)}, "
                      f"Wilcoxon p = {_f(t.p_wilcoxon, 4)})."]
    return lines


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _freeform_lines(doc: Mapping[str, Any]) -> list[str]:
    """The free-form suite's part of report.md."""
    lines = [f"{doc['requests']} free-form requests (of the suite's {doc['suite_requests']}; {doc['held_out']} held out of "
             "every tuning), each through a fresh session, 5 picks shown. A pick satisfies a request when every "
             "checkable part holds on its facts (people, runtime, certificate, Oscars, acclaim rule, language/country, "
             "genres/years) or it is in the request's hand-made relevant set; a pick lacking a fact a part needs is "
             "not checkable (and counts as not satisfying). Requests needing a fact the whole catalog lacks are skipped.",
             "", "Facts available: " + (", ".join(doc["facts_available"]) or "none") + ".", "",
             *_theme_index_lines(doc),
             "| path | part | requests | checked | shown picks satisfying | among checkable picks | not checkable | "
             "requests >= 3 of 5 | median popularity pct | empty lists | median s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in doc["paths"].items():
        for part, g in [("all", r["overall"]), *sorted(r["by_split"].items())]:
            lines.append(f"| {name} | {part} | {g['requests']} | {g['checked_requests']} | {_f(g['pick_satisfaction'])} | "
                         f"{_f(g['pick_satisfaction_checkable'])} | {g['picks_not_checkable']} | "
                         f"{g['requests_3_of_5']} ({_f(g['requests_3_of_5_share'])}) | "
                         f"{_f(g['median_popularity_percentile'], 1)} | {g['empty_lists']} | {_f(g['median_seconds'], 2)} |")
    lines += ["", "## By request kind", "",
              "| path | kind | requests | checked | shown picks satisfying | among checkable | requests >= 3 of 5 | "
              "median popularity pct |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in doc["paths"].items():
        for kind, g in r["by_kind"].items():
            lines.append(f"| {name} | {kind} | {g['requests']} | {g['checked_requests']} | {_f(g['pick_satisfaction'])} | "
                         f"{_f(g['pick_satisfaction_checkable'])} | {g['requests_3_of_5']} | "
                         f"{_f(g['median_popularity_percentile'], 1)} |")
    lines += _freeform_target_lines(doc)
    for name, r in doc["paths"].items():
        if r["skipped"]:
            lines += ["", f"Skipped as not checkable ({name}): " + "; ".join(
                f"{k} (no {', '.join(v)})" for k, v in r["skipped"].items())]
        lines += ["", f"## Worst requests ({name})", ""]
        for row in r["worst"]:
            picks = "; ".join(f"{p['pick']} [{p['status'].replace('_', ' ')}"
                              + (f": {', '.join(p['failed'] or p['missing'])}" if p["failed"] or p["missing"] else "") + "]"
                              for p in row["picks"]) or "(nothing shown)"
            lines.append(f"- {row['id']} {row['text']!r}: {row['n_satisfied']}/{row['n_shown']} - {picks}")
    if doc.get("relevant_missing_in_catalog"):
        lines += ["", f"Relevant-set films this catalog lacks (dropped): {len(doc['relevant_missing_in_catalog'])}."]
    lines += ["", "Rules (as in `eval/freeform_suite.json`):", ""]
    lines += [f"- {k}: {v}" for k, v in doc["rules"].items()]
    lines += ["", "Plot: `freeform_by_kind.png`."]
    return lines
