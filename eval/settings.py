"""Settings of the evaluation layer (env ``RECCHAT_EVAL_*``, toml ``[eval]``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from agent.settings import AgentSettings
from retrieval.config import LayerSettings

Protocol = Literal["full", "sampled", "conversation", "requests", "explanations", "freeform"]
#: Protocols that talk to the chat (eval.chat_protocols) rather than rank a history.
CHAT_PROTOCOLS = ("conversation", "requests", "explanations", "freeform")
SplitName = Literal["test", "validation"]

#: The fixed instruction turn every LLM pipeline sees in place of a chat message (offline
#: evaluation has no conversation: the user's history is the only evidence).
DEFAULT_INSTRUCTION = "Based on my history, which movie will I watch next?"


class EvalSettings(LayerSettings):
    """Everything that defines one evaluation run. Two runs with equal settings (and data) give
    equal numbers, except LLM latency. Cut-offs are list positions (1-based); times are seconds."""

    layer: ClassVar[str] = "eval"
    model_config = SettingsConfigDict(env_prefix="RECCHAT_EVAL_", extra="forbid")

    dataset: str = Field("movielens-1m", description="movielens-100k, movielens-1m, or a name for a bring-your-own file")
    protocol: Protocol = Field("sampled", description="'full' (rank every item), 'sampled' (1 target + negatives), "
                               "'conversation' (simulated person, hidden target), 'requests' (constraint suite), "
                               "'explanations' (strict check of the chat's reasons) or 'freeform' (free-form "
                               "request suite)")
    pipelines: list[str] = Field(default_factory=lambda: ["popularity", "retrieval"], description="pipelines, same users")
    users: int | None = Field(200, ge=1, description="seeded user sample size; None = every eligible user")
    limit_users: int | None = Field(None, ge=1, description="evaluate only the first N users of the sample (quick runs)")
    seed: int = Field(0, description="seed of the user sample, negatives, random hold-out")
    min_rating: float | None = Field(None, description="keep only interactions rated >= this (implicit feedback otherwise)")
    split: SplitName = Field("test", description="held-out item scored: last (test) or second-to-last (validation)")
    negatives: int = Field(19, ge=1, description="sampled protocol: random unseen items per user besides the target")
    cutoffs: list[int] = Field(default_factory=lambda: [5, 10, 20], description="K of NDCG@K and Recall@K")
    list_k: int = Field(100, ge=20, description="full protocol: length of the ranked list kept (MRR is MRR@list_k)")
    history_window: int = Field(50, ge=1, description="newest history items shown to the LLM (the context trims further)")
    instruction: str = Field(DEFAULT_INSTRUCTION, description="the user turn LLM pipelines receive")
    explain: bool = Field(True, description="LLM pipelines also explain their top picks (explanation metrics)")
    explain_users: int | None = Field(None, ge=0, description="explain only for the first N users of the sample "
                                      "(ranking metrics still cover every user); None = every user")
    concurrency: int = Field(4, ge=1, le=64, description="users in flight for LLM pipelines (the server batches them)")
    beyond_k: int = Field(10, ge=1, description="list length for coverage, intra-list diversity and novelty")
    turns: int = Field(5, ge=1, le=20, description="conversation protocol: most turns per simulated person")
    starts: list[Literal["known", "new"]] = Field(default_factory=lambda: ["known", "new"],
                                                  description="conversation protocol: session starts (history known, or new person)")
    explain_sample: int = Field(0, ge=0, description="requests/explanations protocols: reasons written to "
                                "reasons_sample.md for a person to judge")
    catalog_name: str | None = Field(None, description="Chroma index name (default: the dataset name)")
    agent: AgentSettings = Field(default_factory=AgentSettings,
                                 description="the agent settings the LLM / rerank stages run with (its LLM, llm_url, "
                                 "permutations, context_token_budget, max_candidates = rerank_k, timeouts, ...); "
                                 "env RECCHAT_AGENT_*, toml [agent]. Pass an AgentSettings object")

    @field_validator("pipelines", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if isinstance(value, list):
            value = [v for v in value if v]
            if not value:
                raise ValueError("at least one pipeline is needed")
            if len(set(value)) != len(value):
                raise ValueError(f"pipelines repeat a name: {value}")
        return value

    @field_validator("starts", mode="before")
    @classmethod
    def _split_starts(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("cutoffs")
    @classmethod
    def _cutoffs(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value):
            raise ValueError("cut-offs must be positive")
        return sorted(set(value))

    @property
    def index_name(self) -> str:
        """The Chroma catalog name the retriever searches."""
        return self.catalog_name or self.dataset

    @property
    def rerank_k(self) -> int:
        """Retriever candidates handed to a reranker (its recall@K is reported): the agent's
        ``max_candidates`` (declared there only)."""
        return self.agent.max_candidates

    def agent_view(self) -> dict[str, object]:
        """The agent fields that define an evaluation run, under the names results.json and the
        cache fingerprint have always used (``rerank_k`` = ``agent.max_candidates``)."""
        a = self.agent
        return {"rerank_k": a.max_candidates, "context_token_budget": a.context_token_budget, "llm": a.llm,
                "llm_url": a.llm_url, "permutations": a.permutations}

    def config(self) -> dict[str, object]:
        """The flat configuration recorded in results.json (``config``): this object's fields
        and :meth:`agent_view` (the whole agent object is recorded as ``agent_config``)."""
        return self.model_dump(mode="json", exclude={"agent"}) | self.agent_view()

    def effective_agent(self) -> AgentSettings:
        """The agent settings the LLM stages of this run use: :attr:`agent` with the permutation
        seed following ``seed`` and room for ``concurrency`` users' permutations in flight."""
        a = self.agent
        return a.model_copy(update={"seed": self.seed,
                                    "max_concurrency": max(a.max_concurrency, self.concurrency * a.permutations)})

    def fingerprint(self) -> dict[str, object]:
        """The settings that change per-user results (used to refuse resuming a different run).
        Concurrency, the user limit and the server URL are left out: they do not change any
        user's result. Same keys as before the agent fields moved to :attr:`agent`, so caches
        written then still resume."""
        out = self.config()
        for key in ("limit_users", "concurrency", "llm_url", "explain_sample"):
            out.pop(key, None)
        if self.protocol not in CHAT_PROTOCOLS:
            out.pop("turns", None), out.pop("starts", None)
        return out
