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
update, so an interrupted build never leaves a half index in service. Indexing streams: items
arrive in bounded batches (:meth:`ChromaStore.index_stream`), each batch's stored hashes are
looked up by id, only changed items are embedded, and the ids of the run are kept in an on-disk
:class:`~retrieval.id_ledger.IdLedger` (stale ids are found by paging the collection), so memory
does not grow with the catalog. An interrupted full build is *resumed* by the next full build
with the same embedder and HNSW shape: its staging collection is reused and only items missing
from it (or changed since) are embedded; other leftovers are deleted.

Reading: the collection in service is opened once and re-checked at most every
``max_age_s`` seconds (:meth:`ChromaStore.opened`); queries ask Chroma for ids and distances
only and take item metadata from the in-memory :class:`MetaMirror` when it is loaded. The
mirror can also hold every vector (``n x dim`` float32, e.g. 154 MB at 100k x 384) for exact
scans over the items that pass a selective filter (:meth:`ChromaStore.mirror_vectors`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from retrieval.config import recchat_home
from retrieval.hits import Hit
from retrieval.id_ledger import IdLedger
from retrieval.items import Item
from retrieval.settings import RetrievalSettings

_GET_PAGE = 5000
"""Records per Chroma ``get``/``delete`` call when reading or deleting many (ids or offset pages)."""


class TextEmbedder(Protocol):
    """What the store needs from an embedder (see :class:`retrieval.embedder.Embedder`)."""

    model_id: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False, kind: str = "query") -> np.ndarray: ...


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
    resumed: bool = False


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
    vectors: np.ndarray | None = None
    """Row ``i`` = stored vector of ``ids[i]`` (float32, unit norm); loaded on demand."""
    lexical: Any = None
    """:class:`retrieval.lexical.LexicalIndex` over the same rows; built on demand."""


@dataclass
class OpenCollection:
    """The collection in service for a catalog, as last checked: ``key`` = (active name, updated)."""

    key: tuple
    collection: Any
    count: int
    checked_at: float


def _paged_get(collection: Any, include: Sequence[str], where: dict[str, Any] | None = None,
               page: int = _GET_PAGE) -> Iterator[dict[str, Any]]:
    """Every record of ``collection`` (matching ``where``), as Chroma ``get`` results of at most
    ``page`` records each, read by offset; stops after the first short page. ``include`` as for
    Chroma (``[]`` = ids only)."""
    offset = 0
    while True:
        kwargs: dict[str, Any] = {"include": list(include), "limit": page, "offset": offset}
        if where is not None:
            kwargs["where"] = where
        got = collection.get(**kwargs)
        yield got
        if len(got["ids"]) < page:
            return
        offset += page


def _chunks(ids: Sequence[str], size: int = _GET_PAGE) -> Iterator[list[str]]:
    """``ids`` in consecutive lists of at most ``size`` (for by-id gets and deletes)."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


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
        self._open: dict[str, OpenCollection] = {}

    # ------------------------------------------------------------------ plumbing
    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            from retrieval.embedder import Embedder

            self._embedder = Embedder(self.settings.embedder, device=self.settings.device,
                                      batch_size=self.settings.batch_size, workers=self.settings.workers)
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

    def close(self) -> None:
        """Stop the embedder's worker processes, if it started any (the store stays usable)."""
        close = getattr(self._embedder, "close", None)
        if close is not None:
            close()

    @staticmethod
    def head_name(catalog: str) -> str:
        return f"rc-{_slug(catalog)}"

    def _head(self, catalog: str) -> Any | None:
        try:
            return self.client.get_collection(self.head_name(catalog), embedding_function=None)
        except Exception:  # chromadb raises NotFoundError / ValueError depending on client
            return None

    def _hnsw_shape(self) -> str:
        """The build-time HNSW settings (a staging collection is resumed only with the same)."""
        return f"ef_construction={self.settings.hnsw_ef_construction},max_neighbors={self.settings.hnsw_max_neighbors}"

    def _new_collection(self, name: str, embedder_id: str, dim: int) -> Any:
        s = self.settings
        return self.client.create_collection(
            name,
            embedding_function=None,
            configuration={"hnsw": {
                "space": "cosine", "ef_construction": s.hnsw_ef_construction,
                "ef_search": s.hnsw_ef_search, "max_neighbors": s.hnsw_max_neighbors,
            }},
            metadata={"embedder": embedder_id, "dim": dim, "created": time.time(), "hnsw": self._hnsw_shape()},
        )

    def _sync_ef_search(self, collection: Any) -> None:
        """Make the collection's query-time ``ef_search`` the configured one (a mutable knob)."""
        try:
            current = (collection.configuration or {}).get("hnsw", {}).get("ef_search")
        except Exception:  # noqa: BLE001 - older servers may not expose configuration
            return
        if current is not None and current != self.settings.hnsw_ef_search:
            try:
                collection.modify(configuration={"hnsw": {"ef_search": self.settings.hnsw_ef_search}})
            except Exception:  # noqa: BLE001 - a read-only store keeps the ef_search it was built with
                pass

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

    def opened(self, catalog: str, max_age_s: float = 2.0) -> OpenCollection:
        """The collection in service (see :meth:`active`), opened once and re-checked against the
        head at most every ``max_age_s`` seconds; its ``ef_search`` follows the settings."""
        cached = self._open.get(catalog)
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
        self._sync_ef_search(collection)
        opened = OpenCollection(key, collection, collection.count(), now)
        self._open[catalog] = opened
        return opened

    def _forget(self, catalog: str) -> None:
        self._open.pop(catalog, None)
        self._mirrors.pop(catalog, None)

    def where(self) -> str:
        """Human-readable location of the store (for messages)."""
        return self.settings.chroma_url or str(self.settings.chroma_path or recchat_home() / "chroma")

    def has_index(self, catalog: str) -> bool:
        """Whether ``catalog`` has an index in service (any embedder)."""
        head = self._head(catalog)
        return head is not None and bool((head.metadata or {}).get("active"))

    def catalogs(self) -> list[str]:
        """Names of indexed catalogs (heads)."""
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(n[3:] for n in names if n.startswith("rc-") and not re.search(r"-\d{13,}$", n))

    # ------------------------------------------------------------------ indexing
    def _hashes_of(self, collection: Any, ids: Sequence[str]) -> dict[str, str]:
        """Stored content hashes of those of ``ids`` that are in ``collection``."""
        hashes: dict[str, str] = {}
        for chunk in _chunks(ids):
            page = collection.get(ids=chunk, include=["metadatas"])
            for item_id, meta in zip(page["ids"], page["metadatas"]):
                hashes[item_id] = (meta or {}).get("content_hash", "")
        return hashes

    def _embed_and_upsert(self, collection: Any, items: Sequence[Item]) -> None:
        batch = self.settings.upsert_batch
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            docs = [item.document() for item in chunk]
            vectors = self.embedder.encode(docs, batch_size=self.settings.batch_size, kind="document")
            collection.upsert(
                ids=[item.id for item in chunk], embeddings=vectors, documents=docs,
                metadatas=[item.metadata() for item in chunk],
            )

    def _stale_ids(self, collection: Any, seen: IdLedger) -> list[str]:
        """Ids stored in ``collection`` that this run did not see (paged; only stale ids kept)."""
        stale: list[str] = []
        for page in _paged_get(collection, include=[]):
            stale += seen.missing(page["ids"])
        return stale

    def _leftovers(self, catalog: str, active_name: str | None) -> list[str]:
        """Names of this catalog's item collections other than the one in service, newest first."""
        prefix = self.head_name(catalog) + "-"
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted((n for n in names if n.startswith(prefix) and re.fullmatch(r"\d{13,}", n[len(prefix):])
                       and n != active_name), reverse=True)

    def _drop_leftovers(self, catalog: str, keep: str | None) -> None:
        for name in self._leftovers(catalog, keep):
            self.client.delete_collection(name)

    def _staging(self, catalog: str, active_name: str | None, resume: bool) -> tuple[Any, bool]:
        """The collection a full build fills: the newest leftover of an interrupted build by the
        same embedder and HNSW shape when ``resume`` (returned with True), else a new one. Every
        other leftover is deleted."""
        embedder = self.embedder
        chosen = None
        leftovers = self._leftovers(catalog, active_name)
        if resume:
            for name in leftovers:
                col = self.client.get_collection(name, embedding_function=None)
                meta = col.metadata or {}
                if (meta.get("embedder"), meta.get("dim"), meta.get("hnsw")) == (embedder.model_id, embedder.dim, self._hnsw_shape()):
                    chosen = col
                    break
        for name in leftovers:
            if chosen is None or name != chosen.name:
                self.client.delete_collection(name)
        if chosen is not None:
            return chosen, True
        name = f"{self.head_name(catalog)}-{time.time_ns() // 1000}"
        return self._new_collection(name, embedder.model_id, embedder.dim), False

    def index(self, catalog: str, items: Sequence[Item], rebuild: bool = False, progress: bool = True,
              resume: bool = True) -> IndexReport:
        """Make the index of ``catalog`` hold exactly ``items``; embeds only what changed.

        Raises :class:`IndexMismatchError` when the existing index was built by another embedder
        and ``rebuild`` is False, ValueError when ids repeat. See :meth:`index_stream`.
        """
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique within a catalog")
        step = self.settings.upsert_batch
        batches = (items[start : start + step] for start in range(0, len(items), step))
        return self.index_stream(catalog, batches, rebuild=rebuild, progress=progress, total=len(items), resume=resume)

    def index_stream(
        self, catalog: str, batches: Iterable[Sequence[Item]], rebuild: bool = False, progress: bool = True,
        total: int | None = None, resume: bool = True,
    ) -> IndexReport:
        """Index a stream of item batches; the catalog is exactly the union of the batches.

        Memory is bounded by one batch (plus the on-disk id ledger). Without an index in service,
        or with ``rebuild``, a staging collection is filled (resuming an interrupted one when
        ``resume``) and the head is switched to it only after the last batch; otherwise the
        collection in service is updated in place (changed items re-embedded, stale ones deleted).
        ``total`` (items, if known) gives the progress bar its ETA. Raises ValueError when an id
        repeats across the stream (nothing is switched then), :class:`IndexMismatchError` as
        :meth:`index`.
        """
        started = time.perf_counter()
        embedder = self.embedder
        head = self._head(catalog)
        meta = (head.metadata or {}) if head is not None else {}
        active_name = meta.get("active")
        if active_name and not rebuild and meta.get("embedder") != embedder.model_id:
            raise IndexMismatchError(
                f"index {catalog!r} was built with {meta.get('embedder')!r}, not {embedder.model_id!r}; "
                "pass rebuild=True (CLI: --rebuild) to rebuild it with the new embedder"
            )
        in_place = bool(active_name) and not rebuild
        if in_place:
            collection = self.client.get_collection(active_name, embedding_function=None)
            self._drop_leftovers(catalog, keep=active_name)
            resumed = False
        else:
            collection, resumed = self._staging(catalog, active_name, resume)
        embedded = seen_count = 0
        label = f"index {catalog}" + (" (resumed)" if resumed else "" if not in_place else " (changes)")
        with IdLedger() as seen, tqdm(total=total, desc=label, unit="item", disable=not progress,
                                      dynamic_ncols=True, smoothing=0.05) as bar:
            for batch in batches:
                batch = list(batch)
                if seen.add([(item.id, 0) for item in batch]):
                    raise ValueError("item ids must be unique within a catalog")
                stored = self._hashes_of(collection, [item.id for item in batch])
                changed = [item for item in batch if stored.get(item.id) != item.content_hash()]
                self._embed_and_upsert(collection, changed)
                embedded += len(changed)
                seen_count += len(batch)
                bar.update(len(batch))
            stale = self._stale_ids(collection, seen)
        for chunk in _chunks(stale):
            collection.delete(ids=chunk)
        self._forget(catalog)
        if in_place:
            if embedded or stale:
                head.modify(metadata={**meta, "updated": time.time()})
            return IndexReport(active_name, seen_count, embedded, seen_count - embedded, len(stale), False,
                               time.perf_counter() - started)
        # Every batch is in: switch the head to the staging collection in one metadata update.
        new_meta = {"active": collection.name, "embedder": embedder.model_id, "dim": embedder.dim, "updated": time.time()}
        if head is None:
            head = self.client.create_collection(self.head_name(catalog), embedding_function=None, metadata=new_meta)
        else:
            head.modify(metadata=new_meta)
        if active_name:
            self.client.delete_collection(active_name)
        self._forget(catalog)
        return IndexReport(collection.name, seen_count, embedded, seen_count - embedded, len(stale), True,
                           time.perf_counter() - started, resumed)

    # ------------------------------------------------------------------ reading
    def count(self, catalog: str) -> int:
        return self.active(catalog).count()

    def get_items(self, catalog: str, ids: Sequence[str]) -> dict[str, Item]:
        """Items by id (unknown ids are absent from the result)."""
        if not ids:
            return {}
        page = self.opened(catalog).collection.get(ids=list(ids), include=["metadatas"])
        return {i: Item.from_metadata(i, m) for i, m in zip(page["ids"], page["metadatas"])}

    def get_embeddings(self, catalog: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored (L2-normalised) vectors by id (fetched in pages); unknown ids are absent."""
        found: dict[str, np.ndarray] = {}
        collection = self.opened(catalog).collection if ids else None
        for chunk in _chunks(ids):
            page = collection.get(ids=chunk, include=["embeddings"])
            found.update((i, np.asarray(e, dtype=np.float32)) for i, e in zip(page["ids"], page["embeddings"]))
        return found

    def vector_cache_fits(self, catalog: str) -> bool:
        """Whether every vector of ``catalog`` fits ``settings.vector_cache_max_mb`` (float32)."""
        n = len(self.mirror(catalog).ids)
        return n * self.embedder.dim * 4 <= self.settings.vector_cache_max_mb * 1e6

    def iter_items(self, catalog: str) -> Iterator[Item]:
        """Every indexed item, in pages."""
        for page in _paged_get(self.opened(catalog).collection, include=["metadatas"]):
            for i, m in zip(page["ids"], page["metadatas"]):
                yield Item.from_metadata(i, m)

    def mirror(self, catalog: str, max_age_s: float = 2.0) -> MetaMirror:
        """The metadata mirror of ``catalog``, re-read when the index changed (checked at most
        every ``max_age_s`` seconds, so a concurrent re-index is seen within that delay)."""
        cached = self._mirrors.get(catalog)
        now = time.monotonic()
        if cached is not None and now - cached.checked_at < max_age_s:
            return cached
        opened = self.opened(catalog, max_age_s)
        if cached is not None and cached.key == opened.key:
            cached.checked_at = now
            return cached
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        for page in _paged_get(opened.collection, include=["metadatas"]):
            ids += page["ids"]
            metas += [m or {} for m in page["metadatas"]]
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
        mirror = MetaMirror(opened.key, ids, {i: r for r, i in enumerate(ids)}, year, bits, vocab, metas, now)
        self._mirrors[catalog] = mirror
        return mirror

    def mirror_lexical(self, catalog: str) -> tuple[MetaMirror, Any]:
        """The mirror with its BM25 index (:class:`retrieval.lexical.LexicalIndex`, rows aligned
        with ``mirror.ids``) over each item's document without its title (a theme word in a
        title is not the theme: "con artists" is not Con Air); built once per mirror (so rebuilt
        when the index changes)."""
        mirror = self.mirror(catalog)
        if mirror.lexical is None:
            from retrieval.lexical import LexicalIndex

            items = [Item.from_metadata(i, m) for i, m in zip(mirror.ids, mirror.metas)]
            docs = [it.document()[len(it.label):] for it in items]
            mirror.lexical = LexicalIndex.build(mirror.ids, docs, mirror.key)
        return mirror, mirror.lexical

    def mirror_vectors(self, catalog: str) -> tuple[MetaMirror, np.ndarray]:
        """The mirror with every stored vector loaded (``len(ids) x dim`` float32, aligned with
        ``mirror.ids``; cached with the mirror, so dropped when the index changes)."""
        for _ in range(3):
            mirror = self.mirror(catalog)
            if mirror.vectors is not None:
                return mirror, mirror.vectors
            out: np.ndarray | None = None
            filled = np.zeros(len(mirror.ids), dtype=bool)
            consistent = True
            for page in _paged_get(self.opened(catalog).collection, include=["embeddings"]):
                rows = [mirror.position.get(i, -1) for i in page["ids"]]
                if -1 in rows:
                    consistent = False
                    break
                if len(rows):
                    emb = np.asarray(page["embeddings"], dtype=np.float32)
                    if out is None:
                        out = np.empty((len(mirror.ids), emb.shape[1]), dtype=np.float32)
                    out[rows] = emb
                    filled[rows] = True
            if consistent and filled.all():
                mirror.vectors = out if out is not None else np.zeros((0, 0), dtype=np.float32)
                return mirror, mirror.vectors
            self._forget(catalog)  # the index changed while reading: start over
        raise RuntimeError(f"catalog {catalog!r} kept changing while its vectors were read")

    def query(
        self, catalog: str, vector: np.ndarray, n: int, where: dict[str, Any] | None = None,
        with_embeddings: bool = False, with_metadata: bool = True,
    ) -> list[Hit]:
        """Nearest items to ``vector``, best first, as :class:`~retrieval.hits.Hit` records: cosine
        similarity, metadata (``{}`` without ``with_metadata``), embedding (only ``with_embeddings``).

        Chroma is asked for ids and distances (and embeddings if wanted); metadata comes from the
        mirror when it is loaded and current, else from Chroma in the same call.
        """
        opened = self.opened(catalog)
        mirror = self._mirrors.get(catalog)
        from_mirror = with_metadata and mirror is not None and mirror.key == opened.key
        include = (["distances"] + (["metadatas"] if with_metadata and not from_mirror else [])
                   + (["embeddings"] if with_embeddings else []))
        n = max(1, min(n, opened.count))
        res = opened.collection.query(query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=n,
                                      where=where or None, include=include)
        ids, dists = res["ids"][0], res["distances"][0]
        embeddings = res.get("embeddings") if with_embeddings else None
        if from_mirror:
            rows = [mirror.position.get(i) for i in ids]
            missing = [i for i, r in zip(ids, rows) if r is None]
            extra = self._metas_of(opened.collection, missing) if missing else {}
            metas = [mirror.metas[r] if r is not None else extra.get(i, {}) for i, r in zip(ids, rows)]
        elif with_metadata:
            metas = [m or {} for m in res["metadatas"][0]]
        else:
            metas = [{} for _ in ids]
        return [Hit(item_id, 1.0 - float(dist), meta,
                    np.asarray(embeddings[0][j], dtype=np.float32) if embeddings is not None else None)
                for j, (item_id, dist, meta) in enumerate(zip(ids, dists, metas))]

    @staticmethod
    def _metas_of(collection: Any, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        page = collection.get(ids=list(ids), include=["metadatas"])
        return {i: m or {} for i, m in zip(page["ids"], page["metadatas"])}
