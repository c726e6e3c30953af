"""``recchat eval --compare A B``: per-pipeline differences between two reports, with paired tests.

Only reports of the same dataset and protocol are compared (never a sampled number against a
full-ranking one); for the sampled protocol the candidate files must be the same (same sha256),
else the two runs ranked different items. Users are paired by id (the users both evaluated);
``diff = B - A``; p-values of the paired t-test and the Wilcoxon signed-rank test
(:func:`eval.metrics.paired_test`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.metrics import PairedTest, paired_test

DEFAULT_METRICS = ("ndcg@10", "recall@10", "mrr")


class CompareError(ValueError):
    """The two reports cannot be compared (other protocol/dataset/candidates, no shared users)."""


@dataclass(frozen=True)
class Comparison:
    """Tests per (pipeline in A, pipeline in B)."""

    a: str
    b: str
    tests: list[tuple[str, str, PairedTest]]


def load_results(path: str | Path) -> dict[str, Any]:
    """A report folder's (or file's) ``results.json``."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise CompareError(f"no results.json in {path}")
    return json.loads(file.read_text(encoding="utf-8"))


def compare(a_path: str | Path, b_path: str | Path, metrics: tuple[str, ...] = DEFAULT_METRICS,
            pipelines: tuple[str, str] | None = None) -> Comparison:
    """Compare the pipelines both reports hold (or the pair ``pipelines`` = (name in A, name in B))."""
    a, b = load_results(a_path), load_results(b_path)
    for key in ("protocol",):
        if a[key] != b[key]:
            raise CompareError(f"different protocols ({a[key]} vs {b[key]}): sampled and full numbers never compare")
    if a["dataset"]["name"] != b["dataset"]["name"]:
        raise CompareError(f"different datasets ({a['dataset']['name']} vs {b['dataset']['name']})")
    if a["protocol"] == "sampled" and (a.get("candidates") or {}).get("sha256") != (b.get("candidates") or {}).get("sha256"):
        raise CompareError("the two sampled runs used different candidate files (different items were ranked)")
    if a["config"].get("split") != b["config"].get("split"):
        raise CompareError("different splits (test vs validation)")
    if a["protocol"] == "conversation":
        return _compare_conversations(Path(a_path), Path(b_path), a, b)
    if a["protocol"] == "freeform":
        return _compare_freeform(a_path, b_path, a, b)
    pairs = [pipelines] if pipelines else [(p, p) for p in a["per_user"] if p != "users" and p in b["per_user"]]
    if not pairs:
        raise CompareError("the reports share no pipeline; name a pair with --pipelines A_NAME,B_NAME")
    ua, ub = a["per_user"]["users"], b["per_user"]["users"]
    common = [u for u in ua if u in set(ub)]
    if not common:
        raise CompareError("the reports share no user")
    ia, ib = {u: i for i, u in enumerate(ua)}, {u: i for i, u in enumerate(ub)}
    tests = []
    for pa, pb in pairs:
        for pipe, doc in ((pa, a), (pb, b)):
            if pipe not in doc["per_user"]:
                raise CompareError(f"pipeline {pipe!r} is not in the report")
        for m in metrics:
            va = [a["per_user"][pa][m][ia[u]] for u in common]
            vb = [b["per_user"][pb][m][ib[u]] for u in common]
            tests.append((pa, pb, paired_test(m, va, vb)))
    return Comparison(str(a_path), str(b_path), tests)


def _conversation_success(folder: Path, name: str, k: int = 5) -> dict[str, float]:
    """Person -> 1.0 when the target was in the top ``k`` of some turn, from the run's outcome
    cache (``cache/conversation-<pipeline>-<start>.jsonl``, written by the run; not committed)."""
    pipeline, start = name.rsplit(" (", 1)
    file = folder / "cache" / f"conversation-{pipeline}-{start.rstrip(')')}.jsonl"
    if not file.is_file():
        raise CompareError(f"{file} is missing: rerun the report's command (per-person outcomes live in its cache)")
    out: dict[str, float] = {}
    for line in file.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out[row["user_id"]] = float(any(t.get("rank") is not None and t["rank"] <= k for t in row["turns"]))
    return out


def _compare_conversations(a_path: Path, b_path: Path, a: dict[str, Any], b: dict[str, Any]) -> Comparison:
    """success@5 per (pipeline, start) both conversation reports hold, paired by person."""
    tests = []
    for name in (n for n in a["summaries"] if n in b["summaries"]):
        sa, sb = _conversation_success(a_path, name), _conversation_success(b_path, name)
        common = [u for u in sa if u in sb]
        if common:
            tests.append((name, name, paired_test("success@5", [sa[u] for u in common], [sb[u] for u in common])))
    if not tests:
        raise CompareError("the conversation reports share no pipeline and start")
    return Comparison(str(a_path), str(b_path), tests)


FREEFORM_PARTS = {"share": None, "share (plot+mood)": ("plot", "mood")}
"""Free-form metrics: a request's share of shown picks satisfying it, over all requests / the
plot and mood ones (those judged by a relevant set)."""


def _compare_freeform(a_path: str | Path, b_path: str | Path, a: dict[str, Any], b: dict[str, Any]) -> Comparison:
    """Per path both free-form reports hold: each request's share of satisfying picks, paired by
    request id (a request with nothing shown counts 0), over all and over plot + mood."""
    tests = []
    for name in (n for n in a["paths"] if n in b["paths"]):
        ra = {r["id"]: r for r in a["paths"][name]["rows"]}
        rb = {r["id"]: r for r in b["paths"][name]["rows"]}
        for metric, kinds in FREEFORM_PARTS.items():
            common = [i for i in ra if i in rb and (kinds is None or ra[i]["kind"] in kinds)]
            if common:
                tests.append((name, name, paired_test(metric, [ra[i]["share"] or 0.0 for i in common],
                                                      [rb[i]["share"] or 0.0 for i in common])))
    if not tests:
        raise CompareError("the free-form reports share no path")
    return Comparison(str(a_path), str(b_path), tests)


def render(comp: Comparison, alpha: float = 0.05) -> str:
    """A plain-text table of the comparison (``*`` marks p < alpha in both tests)."""
    lines = [f"A = {comp.a}", f"B = {comp.b}", "",
             f"{'pipeline A':<16} {'pipeline B':<16} {'metric':<10} {'n':>5} {'A':>8} {'B':>8} {'B-A':>8} "
             f"{'95% CI':>19} {'p(t)':>8} {'p(W)':>8}"]
    for pa, pb, t in comp.tests:
        mark = " *" if t.significant(alpha) else ""
        lines.append(f"{pa:<16} {pb:<16} {t.metric:<10} {t.n:>5} {t.mean_a:>8.4f} {t.mean_b:>8.4f} {t.diff:>+8.4f} "
                     f"[{t.ci_low:+.4f}, {t.ci_high:+.4f}] {t.p_ttest:>8.4f} {t.p_wilcoxon:>8.4f}{mark}")
    lines.append(f"\n* = significant at {alpha} in both the paired t-test and the Wilcoxon signed-rank test")
    return "\n".join(lines)
