"""The prepared inputs of one run (:class:`Prepared`), built by :func:`eval.runner.prepare` and
read by :mod:`eval.report`. A module of its own so that the runner depends on the report and
never the other way round."""

from __future__ import annotations

from dataclasses import dataclass

from eval.data import EvalDataset
from eval.pipelines import EvalContext, UserRequest
from eval.protocols import CandidateFile
from eval.settings import EvalSettings
from eval.splits import SplitResult, UserCase


@dataclass
class Prepared:
    """Everything a run needs, built once: data, split, the user sample, candidates, resources."""

    settings: EvalSettings
    dataset: EvalDataset
    split: SplitResult
    sample: list[UserCase]  # the whole seeded sample (what the candidate file covers)
    cases: list[UserCase]  # the users evaluated now (``limit_users`` prefix of ``sample``)
    ctx: EvalContext
    candidates: CandidateFile | None = None
    prepare_s: float = 0.0

    def requests(self) -> list[UserRequest]:
        cands = self.candidates.candidates if self.candidates is not None else None
        return [UserRequest(c, list(cands[c.user_id]) if cands is not None else None, n)
                for n, c in enumerate(self.cases)]
