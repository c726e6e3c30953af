"""ChromaDB vector store for catalog items.

Layout in Chroma, for a catalog called NAME:

* ``rc-NAME`` - the *head*: an empty collection whose metadata points at the collection in
  service (``active``) and records the embedder that built it (``embedder``, ``dim``).
* ``rc-NAME-<stamp>`` - the items: id = item id, embedding = our own (never Chroma's
  downloading default), document = :meth:`Item.document`, metadata = :meth:`Item.metadata`
  (including a ``content_hash``). Cosine space; distance = 1 - cosine similarity.

Incremental indexing upserts only items whose content hash changed and deletes items no longer
in the catalog. A full rebuild (first index, ``rebuild=True`` or an embedder change with
``rebuild=True``) fills a NEW collection and then switches the head's pointer in one metadata
update, so an interrupted build never leaves a half index in service; leftovers of interrupted
builds are deleted by the next index run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from retrieval.config import recchat_home
from retrieval.items import Item
from retrieval.settings import RetrievalSettings

_GET_PAGE = 5000


class TextEmbedder(Protocol):
    """What the store needs from an embedder (see :class:`retrieval.embedder.Embedder`)."""

    model_id: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray: ...


class IndexMismatchError(RuntimeError):
    """The index was built by another embedder; vectors of two models must never be mixed."""


class IndexMissingError(LookupError):
    """No index exists for the catalog name."""


@dataclass(frozen=True)
class IndexReport:
    """What one :meth:`ChromaStore.index` call did. ``seconds`` is wall-clock."""

    collection: str
    total: int
    embedded: int
    unchanged: int
    deleted: int
    rebuilt: bool
    seconds: float


@dataclass
class MetaMirror:
    """In-memory copy of the filterable metadata of one active collection (vectorised filters).

    ``year`` is float32 with NaN for unknown; ``genre_bits`` has bit ``genre_vocab[g]`` set when the
    item has genre ``g`` (first 64 genres; later ones are looked up in ``metas``). ``key``
    identifies the collection state the mirror was read from.
    """

    key: tuple
    ids: list[str]
    position: dict[str, int]
    year: np.ndarray
    genre_bits: np.ndarray
    genre_vocab: dict[str, int]
    metas: list[dict[str, Any]]
    checked_at: float = 0.0


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", name).strip("-_")
    if not slug:
        raise ValueError(f"catalog name {name!r} has no usable characters")
    return slug[:200]


class ChromaStore:
    """Items of one or more catalogs in Chroma (embedded ``PersistentClient`` or ``HttpClient``)."""

    def __init__(self, settings: RetrievalSettings | None = None, embedder: TextEmbedder | None = None) -> None:
        self.settings = settings or RetrievalSettings()
        self._embedder = embedder
        self._client: Any = None
        self._mirrors: dict[str, MetaMirror] = {}

    # ------------------------------------------------------------------ plumbing
    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            from retrieval.embedder import Embedder

            self._embedder = Embedder(self.settings.embedder, device=self.settings.device)
        return self._embedder

    @property
    def client(self) -> Any:
        """The Chroma client, created on first use."""
        if self._client is None:
            import chromadb
            from chromadb.config import Settings

            chroma_settings = Settings(anonymized_telemetry=False)
            if self.settings.chroma_url:
                from urllib.parse import urlparse

                url = urlparse(self.settings.chroma_url)
                if not url.hostname:
                    raise ValueError(f"bad Chroma URL {self.settings.chroma_url!r}: expected http://host:port")
                self._client = chromadb.HttpClient(
                    host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https", settings=chroma_settings,
                )
            else:
                path = Path(self.settings.chroma_path or recchat_home() / "chroma")
                path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        return self._client

    @staticmethod
    def head_name(catalog: str) -> str:
        return f"rc-{_slug(catalog)}"

    def _head(self, catalog: str) -> Any | None:
        try:
            return self.client.get_collection(self.head_name(catalog), embedding_function=None)
        except Exception:  # chromadb raises NotFoundError / ValueError depending on client
            return None

    def _new_collection(self, name: str, embedder_id: str, dim: int) -> Any:
        s = self.settings
        return self.client.create_collection(
            name,
            embedding_function=None,
            configuration={"hnsw": {
                "space": "cosine", "ef_construction": s.hnsw_ef_construction,
                "ef_search": s.hnsw_ef_search, "max_neighbors": s.hnsw_max_neighbors,
            }},
            metadata={"embedder": embedder_id, "dim": dim, "created": time.time()},
        )

    def active(self, catalog: str) -> Any:
        """The collection in service for ``catalog``; checks it was built by this store's embedder."""
        head = self._head(catalog)
        if head is None or not (head.metadata or {}).get("active"):
            raise IndexMissingError(
                f"no index for catalog {catalog!r} in {self.where()}: run `recchat index {catalog}` first"
            )
        meta = head.metadata
        if meta.get("embedder") != self.embedder.model_id:
            raise IndexMismatchError(
                f"index {catalog!r} was built with embedder {meta.get('embedder')!r}, but the configured "
                f"embedder is {self.embedder.model_id!r}; re-index with `recchat index {catalog} --rebuild` "
                "or configure the same embedder"
            )
        return self.client.get_collection(meta["active"], embedding_function=None)

    def where(self) -> str:
        """Human-readable location of the store (for messages)."""
        return self.settings.chroma_url or str(self.settings.chroma_path or recchat_home() / "chroma")

    def catalogs(self) -> list[str]:
        """Names of indexed catalogs (heads)."""
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(n[3:] for n in names if n.startswith("rc-") and not re.search(r"-\d{13,}$", n))

    # ------------------------------------------------------------------ indexing
    def _existing_hashes(self, collection: Any) -> dict[str, str]:
        hashes: dict[str, str] = {}
        offset = 0
        while True:
            page = collection.get(include=["metadatas"], limit=_GET_PAGE, offset=offset)
            for item_id, meta in zip(page["ids"], page["metadatas"]):
                hashes[item_id] = (meta or {}).get("content_hash", "")
            if len(page["ids"]) < _GET_PAGE:
                return hashes
            offset += _GET_PAGE

    def _upsert(self, collection: Any, items: Sequence[Item], progress: bool, label: str) -> None:
        if not items:
            return
        batch = self.settings.upsert_batch
        bar = tqdm(total=len(items), desc=label, unit="item", disable=not progress)
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            docs = [item.document() for item in chunk]
            vectors = self.embedder.encode(docs, batch_size=self.settings.batch_size)
            collection.upsert(
                ids=[item.id for item in chunk], embeddings=vectors, documents=docs,
                metadatas=[item.metadata() for item in chunk],
            )
            bar.update(len(chunk))
        bar.close()

    def _drop_leftovers(self, catalog: str, keep: str | None) -> None:
        prefix = self.head_name(catalog) + "-"
        for col in self.client.list_collections():
            name = col if isinstance(col, str) else col.name
            if name.startswith(prefix) and re.fullmatch(r"\d{13,}", name[len(prefix):]) and name != keep:
                self.client.delete_collection(name)

    def index(self, catalog: str, items: Sequence[Item], rebuild: bool = False, progress: bool = True) -> IndexReport:
        """Make the index of ``catalog`` hold exactly ``items``; embeds only what changed.

        Raises :class:`IndexMismatchError` when the existing index was built by another embedder
        and ``rebuild`` is False.
        """
        started = time.perf_counter()
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique within a catalog")
        embedder = self.embedder
        head = self._head(catalog)
        meta = (head.metadata or {}) if head is not None else {}
        active_name = meta.get("active")
        if active_name and not rebuild and meta.get("embedder") != embedder.model_id:
            raise IndexMismatchError(
                f"index {catalog!r} was built with {meta.get('embedder')!r}, not {embedder.model_id!r}; "
                "pass rebuild=True (CLI: --rebuild) to rebuild it with the new embedder"
            )
        if active_name and not rebuild:
            collection = self.client.get_collection(active_name, embedding_function=None)
            self._drop_leftovers(catalog, keep=active_name)
            existing = self._existing_hashes(collection)
            wanted = {item.id for item in items}
            stale = [i for i in existing if i not in wanted]
            changed = [item for item in items if existing.get(item.id) != item.content_hash()]
            for start in range(0, len(stale), _GET_PAGE):
                collection.delete(ids=stale[start : start + _GET_PAGE])
            self._upsert(collection, changed, progress, f"index {catalog} (changed)")
            if changed or stale:
                head.modify(metadata={**meta, "updated": time.time()})
            return IndexReport(active_name, len(items), len(changed), len(items) - len(changed), len(stale),
                               False, time.perf_counter() - started)
        # Full build into a fresh collection, then switch the head atomically.
        self._drop_leftovers(catalog, keep=active_name)
        new_name = f"{self.head_name(catalog)}-{time.time_ns() // 1000}"
        collection = self._new_collection(new_name, embedder.model_id, embedder.dim)
        self._upsert(collection, list(items), progress, f"index {catalog}")
        new_meta = {"active": new_name, "embedder": embedder.model_id, "dim": embedder.dim, "updated": time.time()}
        if head is None:
            head = self.client.create_collection(self.head_name(catalog), embedding_function=None, metadata=new_meta)
        else:
            head.modify(metadata=new_meta)
        if active_name:
            self.client.delete_collection(active_name)
        return IndexReport(new_name, len(items), len(items), 0, 0, True, time.perf_counter() - started)

    # ------------------------------------------------------------------ reading
    def count(self, catalog: str) -> int:
        return self.active(catalog).count()

    def get_items(self, catalog: str, ids: Sequence[str]) -> dict[str, Item]:
        """Items by id (unknown ids are absent from the result)."""
        if not ids:
            return {}
        page = self.active(catalog).get(ids=list(ids), include=["metadatas"])
        return {i: Item.from_metadata(i, m) for i, m in zip(page["ids"], page["metadatas"])}

    def get_embeddings(self, catalog: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored (L2-normalised) vectors by id; unknown ids are absent."""
        if not ids:
            return {}
        page = self.active(catalog).get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(page["ids"], page["embeddings"])}

    def iter_items(self, catalog: str) -> Iterator[Item]:
        """Every indexed item, in pages."""
        collection = self.active(catalog)
        offset = 0
        while True:
            page = collection.get(include=["metadatas"], limit=_GET_PAGE, offset=offset)
            for i, m in zip(page["ids"], page["metadatas"]):
                yield Item.from_metadata(i, m)
            if len(page["ids"]) < _GET_PAGE:
                return
            offset += _GET_PAGE

    def mirror(self, catalog: str, max_age_s: float = 2.0) -> MetaMirror:
        """The metadata mirror of ``catalog``, re-read when the index changed (checked at most
        every ``max_age_s`` seconds, so a concurrent re-index is seen within that delay)."""
        cached = self._mirrors.get(catalog)
        now = time.monotonic()
        if cached is not None and now - cached.checked_at < max_age_s:
            return cached
        head = self._head(catalog)
        meta = (head.metadata or {}) if head is not None else {}
        key = (meta.get("active"), meta.get("updated"))
        if cached is not None and cached.key == key:
            cached.checked_at = now
            return cached
        collection = self.active(catalog)
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = collection.get(include=["metadatas"], limit=_GET_PAGE, offset=offset)
            ids += page["ids"]
            metas += [m or {} for m in page["metadatas"]]
            if len(page["ids"]) < _GET_PAGE:
                break
            offset += _GET_PAGE
        vocab: dict[str, int] = {}
        bits = np.zeros(len(ids), dtype=np.uint64)
        for row, m in enumerate(metas):
            for g in m.get("genres") or ():
                if g not in vocab and len(vocab) < 64:
                    vocab[g] = len(vocab)
                if g in vocab:
                    bits[row] |= np.uint64(1 << vocab[g])
        year = np.array([m.get("year", np.nan) if isinstance(m.get("year"), (int, float)) else np.nan for m in metas],
                        dtype=np.float32)
        mirror = MetaMirror(key, ids, {i: r for r, i in enumerate(ids)}, year, bits, vocab, metas, now)
        self._mirrors[catalog] = mirror
        return mirror

    def query(
        self, catalog: str, vector: np.ndarray, n: int, where: dict[str, Any] | None = None,
        with_embeddings: bool = False, with_metadata: bool = True,
    ) -> list[tuple[str, float, dict[str, Any], np.ndarray | None]]:
        """Nearest items to ``vector``: (id, cosine similarity, metadata or {}, embedding or None), best first."""
        collection = self.active(catalog)
        include = ["distances"] + (["metadatas"] if with_metadata else []) + (["embeddings"] if with_embeddings else [])
        n = max(1, min(n, collection.count()))
        res = collection.query(query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=n,
                               where=where or None, include=include)
        embeddings = res.get("embeddings")
        metadatas = res.get("metadatas") if with_metadata else None
        out = []
        for j, (item_id, dist) in enumerate(zip(res["ids"][0], res["distances"][0])):
            emb = np.asarray(embeddings[0][j], dtype=np.float32) if with_embeddings and embeddings is not None else None
            meta = (metadatas[0][j] or {}) if metadatas is not None else {}
            out.append((item_id, 1.0 - float(dist), meta, emb))
        return out
