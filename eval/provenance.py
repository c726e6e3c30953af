"""What a result was made from, for ``results.json``: the environment variables in force, the
sha256 of the dataset files, and the hashes of the checkpoints and models a run loaded.

- :func:`relevant_env`: ``RECCHAT_*`` and ``VLLM_*`` variables plus a few others that change
  what a run does (threads, devices, offline mode); secrets are redacted, never recorded.
- :func:`dataset_provenance`: sha256 and size of the interactions and item files a dataset was
  read from (:attr:`eval.data.EvalDataset.files`) and the sha256 of the catalog as evaluated
  (items as JSONL, after cleaning and enrichment), so a changed enrichment shows too.
- :func:`checkpoint_provenance`: a folder's digest (sha256 over its files' relative paths and
  sha256s; the completion marker, which holds a timestamp, is left out) or a file's sha256.
- :func:`llm_provenance`: the LLM's name and, for a bundled model, the sha256 of the GGUF it is
  converted from (the recipe's checksum, checked when the model is built); a local folder is
  hashed like a checkpoint; a Hugging Face id or an external server is named only.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.data import EvalDataset

ENV_PREFIXES = ("RECCHAT_", "VLLM_")
"""Environment variables with these prefixes are recorded (all recchat and vLLM knobs)."""
ENV_NAMES = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM",
             "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME")
"""Other variables that change what a run does or which files it reads."""
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]+:)[^@/\s]+@", re.IGNORECASE)
REDACTED = "<redacted>"
_CHUNK = 8 * 1024 * 1024
_SKIP = {".recchat-complete"}  # the completion marker (a timestamp): not part of the content


def relevant_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of :data:`ENV_PREFIXES` / :data:`ENV_NAMES` in ``environ`` (default: this
    process), sorted by name; values of secret-looking names and passwords inside URLs are
    replaced by :data:`REDACTED`."""
    env = os.environ if environ is None else environ
    out = {}
    for name in sorted(env):
        if not (name.startswith(ENV_PREFIXES) or name in ENV_NAMES):
            continue
        value = env[name]
        if _SECRET.search(name):
            value = REDACTED
        else:
            value = _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}@", value)
        out[name] = value
    return out


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Lower-case hex sha256 of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(lines: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
    return digest.hexdigest()


def file_entry(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"path", "sha256", "bytes"}`` of a file (``sha256`` None when it is missing)."""
    p = Path(path)
    if not p.is_file():
        return {"path": str(p), "sha256": None, "bytes": None, "missing": True}
    return {"path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size}


def dataset_provenance(dataset: "EvalDataset") -> dict[str, Any]:
    """sha256 of the files ``dataset`` was read from (role -> entry: ``interactions``,
    ``items``) and ``catalog_jsonl_sha256``: the catalog as evaluated (one
    ``Item.model_dump_json()`` line per item, the format of the catalog cache)."""
    out: dict[str, Any] = {role: file_entry(path) for role, path in sorted(dataset.files.items())}
    out["catalog_jsonl_sha256"] = sha256_text(item.model_dump_json() + "\n" for item in dataset.items)
    return out


def checkpoint_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"path", "sha256", "files", "bytes"}`` of a checkpoint: a file's sha256, or for a folder
    the sha256 of the lines ``<relative path> <sha256 of the file>`` (sorted, marker and
    ``__pycache__`` left out). ``sha256`` is None when the path does not exist."""
    p = Path(path)
    if p.is_file():
        return {"path": str(p), "sha256": sha256_file(p), "files": 1, "bytes": p.stat().st_size}
    if not p.is_dir():
        return {"path": str(p), "sha256": None, "files": 0, "bytes": 0, "missing": True}
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.name not in _SKIP and "__pycache__" not in f.parts)
    lines = [f"{f.relative_to(p).as_posix()} {sha256_file(f)}\n" for f in files]
    return {"path": str(p), "sha256": sha256_text(lines), "files": len(files), "bytes": sum(f.stat().st_size for f in files)}


def llm_provenance(name: str, llm_url: str | None = None) -> dict[str, Any]:
    """The LLM a run used (see module doc)."""
    out: dict[str, Any] = {"name": name}
    if llm_url:
        out.update({"url": llm_url, "note": "served by an already running server; its weights are not hashed"})
        return out
    from agent.llm.assets import BUNDLED

    key = name.strip()
    if key in BUNDLED:
        spec = BUNDLED[key]
        out.update({"source": "bundled", "origin": spec.origin, "gguf_file": spec.gguf_file,
                    "gguf_sha256": spec.sha256, "packages": spec.requirements})
        return out
    path = Path(key).expanduser()
    if path.is_dir():
        out.update({"source": "folder", **checkpoint_provenance(path.resolve())})
        return out
    out.update({"source": "huggingface", "sha256": None,
                "note": "a Hugging Face id (revision not pinned): the weights are not hashed"})
    return out


def embedder_provenance(name: str, model_id: str) -> dict[str, Any]:
    """The embedder: its name and model id, and the digest of its folder when it is a local one
    (bundled MiniLM / mpnet, or a tuned model)."""
    out: dict[str, Any] = {"name": name, "model_id": model_id}
    try:
        from retrieval.embedder import resolve_embedder

        resolved = resolve_embedder(name)
    except Exception as exc:  # a missing package: record why there is no digest
        out["note"] = f"not resolved: {type(exc).__name__}: {exc}"
        return out
    if Path(resolved).is_dir():
        out.update(checkpoint_provenance(resolved))
    else:
        out.update({"sha256": None, "note": "a Hugging Face id (revision not pinned): the weights are not hashed"})
    return out
