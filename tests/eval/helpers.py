"""Small in-memory datasets and pipelines for the eval tests (no store, no LLM)."""

from __future__ import annotations

import pandas as pd

from eval.data import EvalDataset
from eval.pipelines import EvalContext, Pipeline, PipelineOutput, UserRequest
from retrieval.items import Item


def toy_dataset(users: int = 12, items: int = 60, per_user: int = 8) -> EvalDataset:
    """Deterministic toy data: user n interacts with items n, n+1, ... in time order."""
    catalog = [Item(id=f"m{k:02d}", title=f"Movie {k}", genres=("Drama",)) for k in range(items)]
    rows = [(f"u{n:02d}", f"m{(n * 3 + k) % items:02d}", 4.0, float(1000 * n + k))
            for n in range(users) for k in range(per_user)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    frame["row"] = range(len(frame))
    return EvalDataset(name="toy", items=catalog, interactions=frame, source="tests")


class ReverseIdPipeline(Pipeline):
    """Ranks by item id, descending (candidates or universe minus history); counts its calls;
    raises KeyboardInterrupt on call number ``interrupt_at`` (1-based) to simulate Ctrl-C."""

    name = "reverse"

    def __init__(self, ctx: EvalContext, calls: list[str], interrupt_at: int | None = None) -> None:
        self.ctx, self.calls, self.interrupt_at = ctx, calls, interrupt_at

    def recommend(self, request: UserRequest) -> PipelineOutput:
        self.calls.append(request.case.user_id)
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        pool = request.candidates if request.candidates is not None else [
            i for i in self.ctx.universe if i not in set(request.case.history)]
        return PipelineOutput(sorted(pool, reverse=True)[: self.ctx.settings.list_k], {"rank_s": 0.0})
