"""Runs pipelines over the users of one protocol, caching every user's result.

Layout of an output folder ``OUT``::

    OUT/cache/run.json              settings fingerprint of the run (a different run is refused)
    OUT/cache/<pipeline>.jsonl      one JSON record per finished user (:class:`eval.records.EvalRecord`),
                                    appended and flushed
    OUT/cache/<pipeline>.models.json, .checkpoints.json   its model ids and checkpoint hashes
    OUT/results.json, report.md, *.png   written by :mod:`eval.report` at the end

A user is written as soon as it is done, so an interrupted run (Ctrl-C, SIGTERM, crash, lost
server) resumes where it stopped: finished users are read back, never recomputed; a torn last
line is ignored and redone. Ctrl-C and SIGTERM also stop the vLLM server the run started
(:func:`agent.llm.signals.sigterm_raises`, :meth:`eval.pipelines.EvalContext.close`). ``limit_users``
only takes a prefix of the same seeded sample, so a quick
run can later be extended to the whole sample in the same folder. LLM pipelines run
``concurrency`` users at a time (each sends its permutations together), so the vLLM server
always has a batch to work on.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm.signals import sigterm_raises
from eval.data import EvalDataset, load_dataset
from eval.pipelines import EvalContext, Pipeline, PipelineRegistry, UserRequest, default_registry, popularity_counts
from eval.prepared import Prepared
from eval.protocols import candidate_path, freeze_candidates
from eval.provenance import checkpoint_provenance
from eval.records import EvalRecord, PipelineRun, read_records
from eval.report import write_report
from eval.settings import EvalSettings
from eval.splits import leave_one_out, sample_users

if TYPE_CHECKING:
    from agent.llm.engine import Engine
    from retrieval.store import ChromaStore

CACHE_FORMAT = 1


class RunMismatchError(ValueError):
    """The output folder holds cached results of a run with other settings."""


def prepare(settings: EvalSettings, *, dataset: EvalDataset | None = None, store: "ChromaStore | None" = None,
            engine_factory: "Callable[[], Engine] | None" = None, home: Path | None = None,
            candidates_file: Path | None = None, progress: bool = True) -> Prepared:
    """Load data, split, sample users, freeze/load candidates, index the catalog if needed.

    ``store``: an existing :class:`retrieval.store.ChromaStore` with the catalog indexed as
    ``settings.index_name`` (tests pass one); otherwise, when a pipeline first needs it, one is
    opened from the retrieval settings and the catalog is (incrementally) indexed. ``engine_factory`` builds the LLM engine on first use (default:
    :func:`agent.llm.engines.make_engine` from the eval settings)."""
    t0 = time.perf_counter()
    dataset = dataset or load_dataset(settings.dataset)
    split = leave_one_out(dataset.interactions, settings.split, settings.seed, settings.min_rating)
    if not split.cases:
        raise ValueError(f"no user of {dataset.name} has >= 3 interactions; nothing to evaluate")
    sample = sample_users(split.cases, settings.users, settings.seed)
    cases = sample[: settings.limit_users] if settings.limit_users else sample
    catalog_ids = {i.id for i in dataset.items}
    universe = sorted(set(dataset.interactions["item_id"].unique()) & catalog_ids)
    ctx = EvalContext(settings=settings, items=dataset.item_map, universe=universe,
                      popularity=popularity_counts(split.cases), n_users=len(split.cases))
    candidates = None
    if settings.protocol == "sampled":
        wanted = {c.user_id for c in sample}
        frame = dataset.interactions
        seen = {u: set(g) for u, g in frame[frame["user_id"].isin(wanted)].groupby("user_id")["item_id"]}
        path = candidates_file or candidate_path(dataset.name, settings.seed, settings.users, split=settings.split,
                                                 negatives=settings.negatives, min_rating=settings.min_rating, home=home)
        meta = {"dataset": dataset.name, "seed": settings.seed, "users": len(sample), "split": settings.split,
                "negatives": settings.negatives, "min_rating": settings.min_rating}
        candidates = freeze_candidates(sample, universe, path, meta, seen)
    def store_factory() -> "ChromaStore":
        if store is not None:
            return store
        from retrieval.settings import RetrievalSettings
        from retrieval.store import ChromaStore

        opened = ChromaStore(RetrievalSettings())
        opened.index(settings.index_name, dataset.items, progress=progress)
        return opened

    ctx.store_factory = store_factory
    if engine_factory is None:
        def engine_factory() -> "Engine":
            from agent.llm.engines import make_engine

            return make_engine(ctx.agent_settings(), progress=progress)
    ctx.engine_factory = engine_factory
    return Prepared(settings, dataset, split, sample, cases, ctx, candidates, time.perf_counter() - t0)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def check_run_folder(out: Path, settings: EvalSettings, fresh: bool = False) -> Path:
    """Create ``out/cache`` and record the settings fingerprint; refuse a folder made by a run
    with other settings (unless ``fresh``, which deletes its cache)."""
    cache = out / "cache"
    marker = cache / "run.json"
    mine = {"format": CACHE_FORMAT, "settings": settings.fingerprint()}
    if fresh and cache.exists():
        shutil.rmtree(cache)
    if marker.is_file():
        theirs = json.loads(marker.read_text(encoding="utf-8"))
        if theirs != json.loads(json.dumps(mine)):
            diff = sorted(k for k in set(mine["settings"]) | set(theirs.get("settings", {}))
                          if json.loads(json.dumps(mine["settings"])).get(k) != theirs.get("settings", {}).get(k))
            raise RunMismatchError(f"{out} holds results of a run with other settings (differs in: {', '.join(diff)}); "
                                   "use another --out, or --fresh to discard them")
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(mine, indent=1), encoding="utf-8")
    return cache


def _record(pipeline: Pipeline, request: UserRequest, ctx: EvalContext) -> EvalRecord:
    case = request.case
    t0 = time.perf_counter()
    try:
        out = pipeline.recommend(request)
        error = None
    except Exception as exc:  # a failed user is recorded (and counted), never dropped
        out, error = None, f"{type(exc).__name__}: {exc}"
    ranked = list(dict.fromkeys(out.ranked)) if out is not None else []
    allowed = set(request.candidates) if request.candidates is not None else set(ctx.items)
    history = set(case.history)
    rec = EvalRecord(
        user=case.user_id, target=case.target, ranked=ranked,
        rank=ranked.index(case.target) + 1 if case.target in ranked else None,
        timings={**(out.timings if out is not None else {}), "total_s": time.perf_counter() - t0},
        recommended=len(ranked),
        hallucinated=sum(1 for i in ranked if i not in allowed or i not in ctx.items or i in history),
        history_len=len(case.history), error=error)
    if out is not None and out.has_retrieval_stage:
        rec.has_retrieval_stage, rec.retrieved_rank = True, out.retrieved_rank
    if out is not None and out.info:
        rec.info = {k: v for k, v in out.info.items() if k != "explain"}
        if "explain" in out.info:
            rec.explain = out.info["explain"]
    return rec


def run_pipeline(pipeline: Pipeline, prepared: Prepared, cache: Path, progress: bool = True) -> PipelineRun:
    """Run ``pipeline`` over the prepared users, reusing cached records (see module doc)."""
    from tqdm.auto import tqdm

    path = cache / f"{_safe(pipeline.name)}.jsonl"
    done = read_records(path)
    requests = prepared.requests()
    todo = [r for r in requests if r.case.user_id not in done]
    t0 = time.perf_counter()
    if todo:
        # rewrite the file without a torn tail before appending
        with path.open("w", encoding="utf-8") as fh:
            fh.writelines(r.to_line() for r in done.values())
    bar = tqdm(total=len(requests), initial=len(requests) - len(todo), desc=f"{pipeline.name:>14}", unit="user",
               disable=not progress, dynamic_ncols=True)
    workers = prepared.settings.concurrency if pipeline.uses_llm else 1
    with path.open("a", encoding="utf-8") as fh:
        def write(rec: EvalRecord) -> None:
            fh.write(rec.to_line())
            fh.flush()
            os.fsync(fh.fileno())
            done[rec.user] = rec
            bar.update(1)

        if workers == 1:
            for request in todo:
                write(_record(pipeline, request, prepared.ctx))
        else:
            pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"eval-{pipeline.name}")
            stopped = False
            try:
                futures = [pool.submit(_record, pipeline, r, prepared.ctx) for r in todo]
                for fut in cf.as_completed(futures):
                    write(fut.result())
            except BaseException:
                stopped = True  # Ctrl-C / SIGTERM: users in flight are dropped (redone on resume), not awaited
                raise
            finally:
                pool.shutdown(wait=not stopped, cancel_futures=True)
    bar.close()
    records = [done[r.case.user_id] for r in requests]
    models = pipeline.model_ids()
    checkpoints = (pipeline.cached_checkpoints() if isinstance(pipeline, _CachedOnly)
                   else {role: checkpoint_provenance(p) for role, p in sorted(pipeline.checkpoints().items())})
    if todo:
        (cache / f"{_safe(pipeline.name)}.models.json").write_text(json.dumps(models), encoding="utf-8")
        (cache / f"{_safe(pipeline.name)}.checkpoints.json").write_text(json.dumps(checkpoints, indent=1),
                                                                        encoding="utf-8")
    return PipelineRun(pipeline.name, records, len(todo), len(requests) - len(todo), models, time.perf_counter() - t0,
                       checkpoints)


def run_eval(settings: EvalSettings, out: Path, *, registry: PipelineRegistry | None = None,
             dataset: EvalDataset | None = None, store: "ChromaStore | None" = None,
             engine_factory: "Callable[[], Engine] | None" = None, home: Path | None = None,
             candidates_file: Path | None = None, fresh: bool = False, progress: bool = True,
             command: str | None = None, write_plots: bool = True) -> dict[str, Any]:
    """Run every pipeline of ``settings`` on the same users and write the report into ``out``.
    Returns the results document (also written to ``out/results.json``)."""
    registry = registry or default_registry()
    for name in settings.pipelines:  # fail before any work on a typo
        if name not in registry.names:
            raise ValueError(f"unknown pipeline {name!r}; known: {', '.join(registry.names)}")
    out = Path(out)
    cache = check_run_folder(out, settings, fresh)
    prepared = prepare(settings, dataset=dataset, store=store, engine_factory=engine_factory, home=home,
                       candidates_file=candidates_file, progress=progress)
    runs: list[PipelineRun] = []
    try:
        with sigterm_raises():  # a terminated run stops as after Ctrl-C: finished users stay cached
            for name in settings.pipelines:
                # a pipeline whose users are all cached is not built (no LLM server start to re-report)
                pipeline = registry.build(name, prepared.ctx) if _needs(prepared, cache, name) else _CachedOnly(name, cache)
                runs.append(run_pipeline(pipeline, prepared, cache, progress))
    finally:
        prepared.ctx.close()  # stops the vLLM server this run started, also after Ctrl-C / SIGTERM
    return write_report(out, prepared, runs, command=command, write_plots=write_plots)


def _needs(prepared: Prepared, cache: Path, name: str) -> bool:
    """True when some user of ``name`` is not cached yet (so its engine must be started)."""
    done = read_records(cache / f"{_safe(name)}.jsonl")
    return any(c.user_id not in done for c in prepared.cases)


class _CachedOnly(Pipeline):
    """Stands in for a pipeline whose users are all cached (no engine start for a re-report)."""

    def __init__(self, name: str, cache: Path) -> None:
        self.name = name
        self.cache = cache

    def model_ids(self) -> dict[str, str]:
        path = self.cache / f"{_safe(self.name)}.models.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def cached_checkpoints(self) -> dict[str, Any]:
        """The checkpoint provenance recorded when the users were computed ({} for caches
        written before it was recorded)."""
        path = self.cache / f"{_safe(self.name)}.checkpoints.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def recommend(self, request: UserRequest) -> Any:  # pragma: no cover - never called
        raise RuntimeError("every user should be cached")
