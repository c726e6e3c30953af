"""Runner: per-user cache, resume after an interruption, refusing a different run's folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.settings import AgentSettings
from eval.pipelines import PipelineOutput, default_registry
from eval.records import EvalRecord
from eval.runner import RunMismatchError, read_records, run_eval
from eval.settings import DEFAULT_INSTRUCTION, EvalSettings

from .helpers import ReverseIdPipeline, toy_dataset


def settings(**kw) -> EvalSettings:
    base = dict(dataset="toy", protocol="sampled", pipelines=["popularity", "reverse"], users=10, seed=0, negatives=9)
    return EvalSettings(**(base | kw))


def registry(calls: list[str], interrupt_at: int | None = None):
    reg = default_registry()
    reg.register("reverse", lambda ctx: ReverseIdPipeline(ctx, calls, interrupt_at))
    return reg


def test_interrupted_run_resumes_without_recomputing(tmp_path: Path):
    out, data = tmp_path / "report", toy_dataset()
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_eval(settings(), out, registry=registry(calls, interrupt_at=5), dataset=data, home=tmp_path,
                 progress=False, write_plots=False)
    cached = read_records(out / "cache" / "reverse.jsonl")
    assert len(cached) == 4 and not (out / "results.json").exists()
    # a torn last line (crash mid-write) is ignored and redone
    with (out / "cache" / "reverse.jsonl").open("a") as fh:
        fh.write('{"user": "u0')
    calls2: list[str] = []
    doc = run_eval(settings(), out, registry=registry(calls2), dataset=data, home=tmp_path, progress=False,
                   write_plots=False)
    assert len(calls2) == 6 and not set(calls2) & set(cached)  # only the missing users ran
    assert doc["pipelines"]["reverse"]["computed_now"] == 6 and doc["pipelines"]["reverse"]["reused_from_cache"] == 4
    assert doc["pipelines"]["popularity"]["n"] == 10
    # a third run computes nothing and gives the same numbers
    calls3: list[str] = []
    again = run_eval(settings(), out, registry=registry(calls3), dataset=data, home=tmp_path, progress=False,
                     write_plots=False)
    assert calls3 == [] and again["per_user"] == doc["per_user"]


def test_record_round_trips_the_cache_line_format():
    old = {"user": "u1", "target": "m3", "ranked": ["m9", "m3"], "rank": 2, "timings": {"rank_s": 0.5, "total_s": 0.75},
           "recommended": 2, "hallucinated": 0, "history_len": 7, "retrieved_rank": None,
           "info": {"degraded": False, "error": None, "permutations": 2, "context_tokens": 300, "dropped_history": 0},
           "explain": {"picks": 1, "reasons": []}, "error": "EngineError: x", "from_a_later_version": [1]}
    rec = EvalRecord.from_json(old)
    assert rec.has_retrieval_stage and rec.retrieved_rank is None and rec.failed and rec.rank == 2
    assert rec.to_json() == old and list(rec.to_json()) == list(old)  # same keys, same order
    bare = {k: old[k] for k in ("user", "target", "ranked", "rank", "timings", "recommended", "hallucinated", "history_len")}
    again = EvalRecord.from_json(bare)
    assert not again.has_retrieval_stage and again.info is None and again.to_json() == bare
    assert EvalRecord.from_line('{"user": "u0') is None and EvalRecord.from_line('{"no_user": 1}') is None


def test_cache_of_the_previous_version_resumes(tmp_path: Path):
    """A folder written before the agent fields moved to ``EvalSettings.agent`` and records became
    :class:`EvalRecord`: its run.json (flat fingerprint) is accepted and its users are reused."""
    out, data = tmp_path / "r", toy_dataset()
    first = run_eval(settings(), out, registry=registry([]), dataset=data, home=tmp_path, progress=False,
                     write_plots=False)
    agent = AgentSettings()
    old_fingerprint = {  # EvalSettings.model_dump(exclude={"limit_users", "concurrency", "llm_url"}) of that version
        "dataset": "toy", "protocol": "sampled", "pipelines": ["popularity", "reverse"], "users": 10, "seed": 0,
        "min_rating": None, "split": "test", "negatives": 9, "cutoffs": [5, 10, 20], "list_k": 100, "rerank_k": 20,
        "history_window": 50, "context_token_budget": 1500, "instruction": DEFAULT_INSTRUCTION, "llm": agent.llm,
        "permutations": agent.permutations, "explain": True, "explain_users": None, "beyond_k": 10, "catalog_name": None}
    (out / "cache" / "run.json").write_text(json.dumps({"format": 1, "settings": old_fingerprint}, indent=1))
    lines = (out / "cache" / "reverse.jsonl").read_text().splitlines()
    old_lines = [json.dumps({k: v for k, v in json.loads(line).items()}) for line in lines]  # plain dicts, as written then
    (out / "cache" / "reverse.jsonl").write_text("\n".join(old_lines) + "\n")
    calls: list[str] = []
    again = run_eval(settings(), out, registry=registry(calls), dataset=data, home=tmp_path, progress=False,
                     write_plots=False)
    assert calls == [] and again["pipelines"]["reverse"]["reused_from_cache"] == 10
    assert again["per_user"] == first["per_user"]
    with pytest.raises(RunMismatchError, match="permutations"):
        run_eval(settings(agent=AgentSettings(permutations=agent.permutations + 1)), out, registry=registry([]),
                 dataset=data, home=tmp_path, progress=False, write_plots=False)


def test_limit_users_prefix_then_extend(tmp_path: Path):
    out, data = tmp_path / "r", toy_dataset()
    calls: list[str] = []
    quick = run_eval(settings(limit_users=3), out, registry=registry(calls), dataset=data, home=tmp_path,
                     progress=False, write_plots=False)
    assert quick["users"] == {"sample": 10, "evaluated": 3}
    more: list[str] = []
    full = run_eval(settings(), out, registry=registry(more), dataset=data, home=tmp_path, progress=False,
                    write_plots=False)
    assert len(more) == 7 and full["per_user"]["users"][:3] == quick["per_user"]["users"]


def test_other_settings_refused_unless_fresh(tmp_path: Path):
    out, data = tmp_path / "r", toy_dataset()
    run_eval(settings(), out, registry=registry([]), dataset=data, home=tmp_path, progress=False, write_plots=False)
    with pytest.raises(RunMismatchError, match="seed"):
        run_eval(settings(seed=1), out, registry=registry([]), dataset=data, home=tmp_path, progress=False,
                 write_plots=False)
    calls: list[str] = []
    run_eval(settings(seed=1), out, registry=registry(calls), dataset=data, home=tmp_path, fresh=True,
             progress=False, write_plots=False)
    assert len(calls) == 10
    assert json.loads((out / "cache" / "run.json").read_text())["settings"]["seed"] == 1


def test_unknown_pipeline_fails_before_work(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown pipeline 'nope'"):
        run_eval(settings(pipelines=["popularity", "nope"]), tmp_path / "r", dataset=toy_dataset(), home=tmp_path,
                 progress=False)


class _ClosingEngine:
    """Records whether the run closed it (stands for the vLLM server the run started)."""

    closed = False

    def close(self) -> None:
        self.closed = True


class _SlowLLMPipeline(ReverseIdPipeline):
    """An LLM-like pipeline (several users in flight) that sends this process SIGTERM at call
    ``interrupt_at``; every user takes ``delay`` seconds."""

    name = "slow"
    uses_llm = True

    def __init__(self, ctx, calls, interrupt_at=None, delay=0.05):
        super().__init__(ctx, calls, None)
        self.sigterm_at, self.delay = interrupt_at, delay
        ctx.engine()  # start the 'server'

    def recommend(self, request):
        import os
        import signal
        import time

        self.calls.append(request.case.user_id)
        if self.sigterm_at is not None and len(self.calls) == self.sigterm_at:
            os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(self.delay)
        pool = request.candidates
        return PipelineOutput(sorted(pool, reverse=True), {"rank_s": self.delay})


def test_sigterm_stops_the_engine_and_resume_loses_nothing(tmp_path: Path):
    import signal

    data = toy_dataset()
    s = settings(pipelines=["popularity", "slow"], concurrency=2)

    def reg(calls, interrupt_at=None):
        r = default_registry()
        r.register("slow", lambda ctx: _SlowLLMPipeline(ctx, calls, interrupt_at))
        return r

    engine = _ClosingEngine()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        run_eval(s, tmp_path / "a", registry=reg([], interrupt_at=6), dataset=data, home=tmp_path, progress=False,
                 write_plots=False, engine_factory=lambda: engine)
    assert engine.closed and signal.getsignal(signal.SIGTERM) == before  # server stopped, handler restored
    finished = read_records(tmp_path / "a" / "cache" / "slow.jsonl")
    assert 1 <= len(finished) < 10 and not (tmp_path / "a" / "results.json").exists()
    calls: list[str] = []
    resumed = run_eval(s, tmp_path / "a", registry=reg(calls), dataset=data, home=tmp_path, progress=False,
                       write_plots=False, engine_factory=_ClosingEngine)
    assert sorted(calls) == sorted(set(calls)) and not set(calls) & set(finished)  # finished users never redone
    assert len(calls) == 10 - len(finished)
    straight = run_eval(s, tmp_path / "b", registry=reg([]), dataset=data, home=tmp_path, progress=False,
                        write_plots=False, engine_factory=_ClosingEngine)
    assert resumed["per_user"] == straight["per_user"]  # same numbers as a run never interrupted
