"""Provenance in results.json: environment (secrets redacted), checkpoint and LLM hashes, and
checkpoint hashes surviving a re-report from the cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

from eval.provenance import checkpoint_provenance, llm_provenance, relevant_env, sha256_file
from eval.runner import run_eval

from .helpers import ReverseIdPipeline, toy_dataset
from .test_runner import registry, settings


def test_relevant_env_keeps_run_knobs_and_redacts_secrets():
    env = {"RECCHAT_AGENT_REQUEST_TIMEOUT_S": "300", "VLLM_CPU_KVCACHE_SPACE": "4", "HOME": "/root",
           "RECCHAT_AGENT_LLM_API_KEY": "k", "HF_TOKEN": "t", "OMP_NUM_THREADS": "2",
           "RECCHAT_AGENT_SESSIONS_URL": "postgresql://u:pw@h/db"}
    assert relevant_env(env) == {"OMP_NUM_THREADS": "2", "RECCHAT_AGENT_LLM_API_KEY": "<redacted>",
                                 "RECCHAT_AGENT_REQUEST_TIMEOUT_S": "300",
                                 "RECCHAT_AGENT_SESSIONS_URL": "postgresql://u:<redacted>@h/db",
                                 "VLLM_CPU_KVCACHE_SPACE": "4"}


def test_checkpoint_digest_covers_every_file_but_the_marker(tmp_path: Path):
    ck = tmp_path / "v1"
    (ck / "sub").mkdir(parents=True)
    (ck / "config.json").write_text("{}")
    (ck / "sub" / "w.bin").write_bytes(b"\x00\x01")
    (ck / ".recchat-complete").write_text('{"at": "now"}')
    lines = "".join(f"{rel} {hashlib.sha256(data).hexdigest()}\n" for rel, data in
                    (("config.json", b"{}"), ("sub/w.bin", b"\x00\x01")))
    got = checkpoint_provenance(ck)
    assert got["sha256"] == hashlib.sha256(lines.encode()).hexdigest() and got["files"] == 2
    (ck / ".recchat-complete").write_text('{"at": "later"}')
    assert checkpoint_provenance(ck)["sha256"] == got["sha256"]  # republishing does not change it
    (ck / "sub" / "w.bin").write_bytes(b"\x00\x02")
    assert checkpoint_provenance(ck)["sha256"] != got["sha256"]
    assert checkpoint_provenance(ck / "config.json")["sha256"] == sha256_file(ck / "config.json")
    assert checkpoint_provenance(tmp_path / "nope")["sha256"] is None


def test_llm_provenance(tmp_path: Path):
    from agent.llm.assets import BUNDLED

    name, spec = next(iter(BUNDLED.items()))
    bundled = llm_provenance(name)
    assert bundled["source"] == "bundled" and bundled["gguf_sha256"] == spec.sha256 and bundled["gguf_file"]
    (tmp_path / "config.json").write_text("{}")
    folder = llm_provenance(str(tmp_path))
    assert folder["source"] == "folder" and folder["sha256"] == checkpoint_provenance(tmp_path)["sha256"]
    hub = llm_provenance("Org/Some-Model")
    assert hub["source"] == "huggingface" and hub["sha256"] is None
    assert "url" in llm_provenance(name, "http://host:8000/v1") and "gguf_sha256" not in llm_provenance(name, "http://h/v1")


class _TrainedPipeline(ReverseIdPipeline):
    """Stands for a pipeline that loaded a trained checkpoint."""

    name = "trained"

    def __init__(self, ctx, calls, folder: Path) -> None:
        super().__init__(ctx, calls)
        self.folder = folder

    def checkpoints(self) -> dict[str, str]:
        return {"ranker": str(self.folder)}


def test_trained_checkpoints_are_hashed_and_kept_for_a_rereport(tmp_path: Path):
    folder = tmp_path / "ranker" / "v1"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    want = checkpoint_provenance(folder)

    def reg(calls):
        r = registry(calls)
        r.register("trained", lambda ctx: _TrainedPipeline(ctx, calls, folder))
        return r

    s = settings(pipelines=["popularity", "trained"])
    out = tmp_path / "r"
    doc = run_eval(s, out, registry=reg([]), dataset=toy_dataset(), home=tmp_path, progress=False, write_plots=False)
    assert doc["checkpoints"] == {"pipelines": {"trained": {"ranker": want}}}
    assert "checkpoints of trained: ranker" in (out / "report.md").read_text()
    (folder / "model.safetensors").write_bytes(b"changed later")  # the cache keeps what the users were computed with
    calls: list[str] = []
    again = run_eval(s, out, registry=reg(calls), dataset=toy_dataset(), home=tmp_path, progress=False,
                     write_plots=False)
    assert calls == [] and again["checkpoints"] == doc["checkpoints"]
