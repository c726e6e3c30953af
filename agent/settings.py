"""Settings of the agent layer (env ``RECCHAT_AGENT_*``, toml ``[agent]``).

One object, :class:`AgentSettings`, made of one part per concern. Each component takes the part
it reads (``make_engine(EngineSettings)``, ``VerbalizerRanker(..., RerankSettings)``,
``Explainer(..., ExplainSettings)``, ``ChatAgent`` the chat part), so a field belongs to exactly
one concern; the environment variables and the ``[agent]`` table stay flat
(``RECCHAT_AGENT_REQUEST_TIMEOUT_S``, ...).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from retrieval.config import LayerSettings


class EngineSettings(BaseModel):
    """Which LLM, on which backend and server, with which request limits."""

    llm: str = Field(
        "qwen2.5-coder-0.5b-instruct",
        description="bundled model name, a Hugging Face id or a local HF model directory",
    )
    backend: Literal["vllm", "transformers", "llamacpp"] = Field(
        "vllm", description="engine backend: vllm (a server), transformers or llamacpp (in process; llamacpp loads "
        "the bundled GGUF, quantized, with llama-cpp-python)")
    llm_url: str | None = Field(None, description="OpenAI-compatible base URL (http://host:port/v1); None = start a local vLLM server")
    llm_port: int = Field(8001, ge=1, le=65535, description="port of the local vLLM server recchat starts")
    llm_api_key: str | None = Field(None, description="bearer token for llm_url, if the server needs one")
    request_timeout_s: float = Field(60.0, gt=0, description="per-request timeout (seconds)")
    retries: int = Field(1, ge=0, le=5, description="retries after a failed request (connection errors, 5xx)")
    server_start_timeout_s: float = Field(300.0, gt=0, description="how long to wait for a local server's health check")
    max_model_len: int = Field(4096, ge=512, description="context window of the local server (tokens)")
    kv_cache_gib: float = Field(2.0, gt=0, description="VLLM_CPU_KVCACHE_SPACE for a local CPU server (GiB)")
    dtype: str = Field("auto", description="weights dtype for local engines (vLLM server and transformers); auto = "
                       "bfloat16 on a GPU or a CPU with native bf16 (AVX-512 BF16, AMX), float32 otherwise (bf16 is "
                       "emulated there: prefill 3-4x slower, measured; agent.llm.engines.local_dtype)")
    cpu_bind: str = Field("all", description="cores of a local vLLM-CPU model: 'all' = every core this process may "
                          "use, none reserved for vLLM's server process (2-core prefill 434 vs 207 tokens/s, "
                          "measured), 'auto' = vLLM's default (one core reserved), or a list such as '0-1'; "
                          "VLLM_CPU_OMP_THREADS_BIND / VLLM_CPU_NUM_OF_RESERVED_CPU in the environment win")
    extra_server_args: list[str] = Field(default_factory=list, description="extra vLLM server flags, e.g. ['--tensor-parallel-size', '2']")
    max_logprobs: int = Field(32, ge=1, le=1024, description="--max-logprobs of the local server (>= labels for servers without logprob_token_ids)")
    max_concurrency: int = Field(16, ge=1, le=256, description="requests in flight from one engine call (vLLM batches them)")


class RerankSettings(BaseModel):
    """The verbalizer reranker: candidates per prompt, permutations, context budget."""

    max_candidates: int = Field(20, ge=2, le=26, description="candidates labelled (A)..; at most 26 letters")
    permutations: int = Field(
        1, ge=1, le=10,
        description="candidate orders scored and averaged (position-bias mitigation); 1 by measurement: on "
        "100 ML-1M validation users Qwen2.5-0.5B scored NDCG@10 0.384 / 0.373 with P = 1 / 2 (docs/results.md)",
    )
    rerank_layout: Literal["inline", "split", "titles"] = Field(
        "inline",
        description="inline: full item lines in every permutation; split: item details once in the shared "
        "prefix, each permutation only relabels titles (cheaper P>1 with prefix caching); titles: LlamaRec's "
        "compact prompt, history as 'Title (Year)' lines and candidates as 'Title (Year) - genres' (~3x fewer "
        "tokens; what `recchat train llm-ranker` trains by default)",
    )
    prime_prefix: bool = Field(
        False,
        description="score the first permutation alone, then the others together, so they reuse its "
        "cached prefix (concurrent requests may each compute the shared prefix)",
    )
    llm_rerank: bool = Field(
        False,
        description="the LLM reorders the chat's candidates (verbalizer). Off by default, by measurement: "
        "zero-shot it lowers offline ranking (ML-1M sampled NDCG@10 0.404 vs 0.415 without) and on 2 CPU "
        "cores one 20-candidate prompt costs 15-50 s; the learned fusion ranks instead (docs/results.md)",
    )
    fusion: bool = Field(True, description="when the catalog has interaction data: candidates from text + behaviour + "
                         "popularity, fused by learned weights (False = text retrieval alone)")
    lexical_weight: float = Field(2.0, ge=0.0, description="for requests whose words describe the film: logit added "
                                  "per unit of BM25 score / the best BM25 score of the turn (agent.ranking.fusion; "
                                  "0 = no lexical source); 2.0 chosen on the free-form suite's tuning part "
                                  "(docs/freeform-suite.md#lexical-weight)")
    sequence_model: str | None = Field(
        "auto", description="trained SASRec (recchat train sasrec) scoring the fusion's 'sequence' feature: a name "
        "or folder; 'auto' = sasrec-<catalog> when trained on this machine; None or '' = off")
    context_token_budget: int = Field(1500, ge=128, description="tokens for conversation + history before candidates")
    seed: int = Field(0, description="seed of the permutation order")


class ExplainSettings(BaseModel):
    """Reasons written for the shown picks."""

    explain_top_k: int = Field(3, ge=0, le=10, description="picks explained per turn (offline explanations; in the "
                               "chat: picks whose reason the LLM phrases when llm_reasons is on)")
    llm_reasons: bool = Field(
        False,
        description="the LLM phrases the chat's reasons from the facts (checked; the data sentence otherwise). Off by "
        "default, by measurement (docs/results.md): on 2 CPU cores Qwen2.5-0.5B took 1,507 s for 20 turns of 3 reasons and 59 of 60 of its "
        "reasons failed the strict check, while the data sentences are 100% valid and instant",
    )
    explain_max_tokens: int = Field(400, ge=32, description="generation budget of the explanation request")
    reason_max_tokens: int = Field(96, ge=32, description="generation budget of one chat pick's reason (JSON, <= 240 "
                                   "characters; a cut-off reason is replaced by the data sentence, never shown cut)")


class ChatSettings(BaseModel):
    """The conversation: list size, exploration, message understanding, session storage."""

    chat_k: int = Field(5, ge=1, le=20, description="picks shown per chat turn (exploration slots included)")
    exploration_slots: int = Field(1, ge=0, le=3, description="'to explore' picks per list; 0 turns exploration off")
    exploration_rate: float = Field(1.0, ge=0.0, le=1.0, description="base chance of offering exploration; scaled by its reception")
    understand_with_llm: bool = Field(False, description="the LLM also reads each message the rules leave words of "
                                      "unread (validated); off by default because, measured on the free-form suite, "
                                      "it does not lift the picks (Qwen-0.5B: plot 0.600 -> 0.453, mood 0.267 -> "
                                      "0.244; 1.5B level) and costs a reading of ~3.5 s; docs/results.md#the-llm-where-it-could-act-issue-30")
    understand_max_tokens: int = Field(200, ge=32, description="generation budget of the extraction request")
    llm_reading: Literal["wish", "full"] = Field("wish", description="what the LLM reads: 'wish' = the mood, occasion or "
                                                 "theme the rules left unread, as genre and text preferences "
                                                 "(agent.understanding.wish); 'full' = the whole extraction schema")
    understand_budget_s: float | None = Field(3.0, gt=0, description="seconds the LLM reading of a message may take; "
                                              "past it the request is cancelled and the rules' reading answers "
                                              "(None = the engine's request timeout)")
    sessions_url: str | None = Field(None, description="session database: None = sqlite under RECCHAT_HOME/sessions.db, sqlite:///PATH, or a SQLAlchemy URL (postgresql://user:pw@host/db; extra 'server') shared by UI replicas")


class AgentSettings(LayerSettings, EngineSettings, RerankSettings, ExplainSettings, ChatSettings):
    """All agent settings (kwargs > env ``RECCHAT_AGENT_*`` > ``[agent]`` of recchat.toml > defaults)."""

    layer: ClassVar[str] = "agent"
    model_config = SettingsConfigDict(env_prefix="RECCHAT_AGENT_", extra="forbid")

    @property
    def uses_llm(self) -> bool:
        """Whether any stage asks for the LLM (its reading, the rerank or the reasons); without one
        no engine is built (no server is started)."""
        return self.understand_with_llm or self.llm_rerank or self.llm_reasons
