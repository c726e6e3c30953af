"""What a run produces per user and per pipeline: :class:`EvalRecord` (one line of the JSONL
cache ``OUT/cache/<pipeline>.jsonl``) and :class:`PipelineRun` (one pipeline's records).

The on-disk line is a JSON object; :meth:`EvalRecord.to_json` writes exactly the keys the
earlier dict records had (optional ones only when set), and :meth:`EvalRecord.from_json` reads
any line written before, so old caches still resume. Keys this version does not know are kept
in ``extra`` and written back unchanged.

This module imports nothing else of ``eval`` (the runner, the report and the metrics all use it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_KNOWN = ("user", "target", "ranked", "rank", "timings", "recommended", "hallucinated", "history_len",
          "retrieved_rank", "info", "explain", "error")


@dataclass
class EvalRecord:
    """One user's result for one pipeline.

    ``ranked``: item ids best first; ``rank``: 1-based rank of ``target`` in it (None = absent);
    ``timings``: seconds per stage (``total_s`` always); ``recommended`` / ``hallucinated``: ids
    returned / ids outside the allowed candidates, the catalog, or in the history.
    ``has_retrieval_stage``: the pipeline had a retrieval stage (full protocol); then
    ``retrieved_rank`` is the target's 1-based rank in the retriever's top ``rerank_k`` (None =
    not retrieved). ``info``: rerank details (degraded, permutations, context tokens, error);
    ``explain``: the explanation block of LLM pipelines; ``error``: the exception of a failed user."""

    user: str
    target: str
    ranked: list[str]
    rank: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    recommended: int = 0
    hallucinated: int = 0
    history_len: int = 0
    has_retrieval_stage: bool = False
    retrieved_rank: int | None = None
    info: dict[str, Any] | None = None
    explain: dict[str, Any] | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the cache line (same keys and order as the format has always had)."""
        out: dict[str, Any] = {"user": self.user, "target": self.target, "ranked": list(self.ranked), "rank": self.rank,
                               "timings": dict(self.timings), "recommended": self.recommended,
                               "hallucinated": self.hallucinated, "history_len": self.history_len}
        if self.has_retrieval_stage:
            out["retrieved_rank"] = self.retrieved_rank
        if self.info is not None:
            out["info"] = self.info
        if self.explain is not None:
            out["explain"] = self.explain
        if self.error:
            out["error"] = self.error
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out

    def to_line(self) -> str:
        """One JSONL line (with the newline)."""
        return json.dumps(self.to_json(), ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "EvalRecord":
        """Read a cache line's object (any version). Raises KeyError/TypeError for a line that
        is not a record (no ``user``)."""
        ranked = [str(i) for i in doc.get("ranked") or []]
        target = str(doc.get("target", ""))
        rank = doc.get("rank")
        if "rank" not in doc:
            rank = ranked.index(target) + 1 if target in ranked else None
        return cls(user=str(doc["user"]), target=target, ranked=ranked, rank=rank,
                   timings={str(k): float(v) for k, v in (doc.get("timings") or {}).items()},
                   recommended=int(doc.get("recommended", len(ranked))), hallucinated=int(doc.get("hallucinated", 0)),
                   history_len=int(doc.get("history_len", 0)), has_retrieval_stage="retrieved_rank" in doc,
                   retrieved_rank=doc.get("retrieved_rank"), info=doc.get("info"), explain=doc.get("explain"),
                   error=doc.get("error") or None, extra={k: v for k, v in doc.items() if k not in _KNOWN})

    @classmethod
    def from_line(cls, line: str) -> "EvalRecord | None":
        """A record from one JSONL line, or None for a torn / unparsable / non-record line."""
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(doc, dict) or "user" not in doc:
            return None
        try:
            return cls.from_json(doc)
        except (KeyError, TypeError, ValueError):
            return None


def read_records(path: Path) -> dict[str, EvalRecord]:
    """Records of a cache file by user id (a later line for the same user wins); a torn
    (unparsable) line is skipped, so it is redone on resume."""
    out: dict[str, EvalRecord] = {}
    if not path.is_file():
        return out
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = EvalRecord.from_line(line)
            if rec is not None:
                out[rec.user] = rec
    return out


@dataclass
class PipelineRun:
    """What one pipeline produced: records in user order, and how many were computed now.
    ``models``: model ids behind the pipeline; ``checkpoints``: role -> provenance (path and
    sha256) of the trained checkpoints it loaded (see :mod:`eval.provenance`)."""

    name: str
    records: list[EvalRecord]
    computed: int
    reused: int
    models: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    checkpoints: dict[str, Any] = field(default_factory=dict)
