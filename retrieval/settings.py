"""Settings of the retrieval layer (env ``RECCHAT_RETRIEVAL_*``, toml ``[retrieval]``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from retrieval.config import LayerSettings


class RetrievalSettings(LayerSettings):
    """Embedder, vector store and candidate-retrieval knobs."""

    layer: ClassVar[str] = "retrieval"
    model_config = SettingsConfigDict(env_prefix="RECCHAT_RETRIEVAL_", extra="forbid")

    catalog: str = Field("movielens-1m", description="catalog (index name) searched by default")
    embedder: str = Field("minilm", description="'minilm', 'mpnet', 'gemma', a Hugging Face id or a local directory")
    theme_embedder: str | None = Field("gemma", description="embedder of the catalog's theme index (named '<catalog>.<embedder>', built by `recchat index --themes`): a request that says what the film is about or how it should feel is matched with it when it exists; None = never")
    device: str = Field("cpu", description="torch device for the embedder ('cpu', 'cuda', 'cuda:1')")
    workers: int = Field(1, ge=1, le=64, description="embedding processes while indexing (CPU: N model copies; cuda: one per GPU cuda:0..N-1)")
    batch_size: int = Field(64, ge=1, description="texts per embedding batch")
    chroma_url: str | None = Field(None, description="Chroma server URL (http://host:port); None = embedded")
    chroma_path: str | None = Field(None, description="embedded Chroma directory; default <home>/chroma")
    upsert_batch: int = Field(2048, ge=1, le=5461, description="records per Chroma add call (Chroma max 5461)")
    hnsw_ef_construction: int = Field(200, ge=10, description="HNSW candidate list size while inserting (neighbours); used for collections created by full builds")
    hnsw_ef_search: int = Field(200, ge=10, description="HNSW candidate list size per query (neighbours); set on the collection in service when it is opened")
    hnsw_max_neighbors: int = Field(32, ge=4, description="HNSW links per node (M); used for collections created by full builds")
    overfetch: float = Field(1.5, ge=1.0, description="filtered queries fetch (k / share passing) * overfetch unfiltered, then post-filter")
    max_fetch: int = Field(2000, ge=1, description="most neighbours (items) a post-filtered query asks HNSW for; a larger need goes to Chroma's filtered query")
    history_half_life: float = Field(5.0, gt=0, description="recency half-life of a history query, in history items: the newest weighs 1, the weight halves every this many items back")
    history_weight: float = Field(0.5, ge=0.0, le=1.0, description="share (0..1) of the history vector in a query with both text and history; the text vector gets 1 - this")
    mmr_pool: int = Field(3, ge=1, description="MMR diversifies the top k out of the k * mmr_pool most relevant items (a multiple of k)")
    exact_scan_max: int = Field(20_000, ge=0, description="filters passing at most this many items are answered by an exact scan of their cached vectors (0 = never; the cache costs items x dim x 4 bytes)")
    vector_cache_max_mb: int = Field(1024, ge=0, description="exact scans cache all vectors up to this size (MB); larger catalogs fetch the passing items' vectors per query")
    index_batch: int = Field(2048, ge=1, description="catalog items read, hashed and embedded per indexing step (memory bound)")
    max_field_chars: int = Field(20_000, ge=100, description="catalog text fields longer than this are rejected")


def theme_index_name(catalog: str, embedder: str) -> str:
    """The index of ``catalog``'s theme vectors: ``"<catalog>.<embedder>"`` (a second Chroma
    index of the same items, embedded with ``embedder``)."""
    return f"{catalog}.{embedder}"
