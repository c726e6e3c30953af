"""The composition root: every front end (web chat, terminal chat, CLI), the benchmarks and the
tests build their components here, with :func:`open_app` (from settings) or :func:`assemble`
(from parts they already hold).

An :class:`App` holds the process-wide, session-free components: the Chroma store, the
retriever, the LLM engine (or None), the turn pipeline and the session store. Per-person state
lives in :class:`agent.sessions.session.Session` objects, never here.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.llm.engine import Engine, EngineError
from agent.ranking.fusion import CandidateSources, FusionModel, load_weights
from agent.pipeline import RecommendPipeline
from agent.sessions.store import SessionStore
from agent.settings import AgentSettings
from retrieval.behaviour import Behaviour, load_behaviour
from retrieval.ease import ItemScorer
from retrieval.liking import Liking, load_liking
from retrieval.retriever import Retriever
from retrieval.settings import RetrievalSettings, theme_index_name
from retrieval.store import ChromaStore


@dataclass
class App:
    """The wired components of one process (shared by its sessions; none holds session state).

    ``engine`` is None when the LLM is off or could not start; then ``pipeline`` ranks in
    retrieval order and ``llm_error`` says why (shown to the person once per session)."""

    settings: AgentSettings
    store: ChromaStore
    retriever: Retriever
    pipeline: RecommendPipeline
    sessions: SessionStore
    engine: Engine | None = None
    llm_error: str | None = None
    behaviour: Behaviour | None = None
    liking: Liking | None = None  # who loved what (ratings 4+), for the reasons' lift statistic

    @property
    def catalog(self) -> str:
        """Name of the catalog this app serves."""
        return self.retriever.catalog

    @property
    def has_llm(self) -> bool:
        return self.engine is not None

    def close(self) -> None:
        """Stop the engine (and a local vLLM server it owns) and close the session store."""
        if self.engine is not None:
            self.engine.close()
        self.sessions.close()


def assemble(store: ChromaStore, retriever: Retriever, engine: Engine | None, settings: AgentSettings,
             sessions: SessionStore | None = None, llm_error: str | None = None, behaviour: Behaviour | None = None,
             weights: FusionModel | None = None, sequence: ItemScorer | None = None,
             liking: Liking | None = None, themes: Retriever | None = None) -> App:
    """Wire a pipeline over ready parts: the verbalizer ranker when ``engine`` and
    ``settings.llm_rerank`` (else the candidates' own order; the chat writes its reasons itself,
    :mod:`agent.reasons.evidence`); with ``behaviour`` (the catalog's interaction data) the
    candidates are text + behaviour + popularity fused by ``weights`` (default: the trained ones
    of the catalog, :func:`agent.ranking.fusion.load_weights`), plus ``sequence`` (a trained SASRec,
    :func:`load_sequence_model`) when given, else text retrieval alone; ``themes`` (the catalog's
    theme index, :func:`open_themes`) matches the text-led requests. ``sessions`` defaults to
    ``SessionStore(settings.sessions_url)``."""
    from agent.ranking.rerank import RetrievalOrderRanker

    sources = None
    if behaviour is not None and settings.fusion:
        sources = CandidateSources(retriever, behaviour, weights or load_weights(retriever.catalog),
                                   sequence=sequence, lexical_weight=settings.lexical_weight, themes=themes)
    if engine is not None and settings.llm_rerank:
        from agent.ranking.rerank import VerbalizerRanker

        pipeline = RecommendPipeline(retriever, VerbalizerRanker(engine, settings), settings,
                                     count_tokens=engine.count_tokens, sources=sources)
    else:
        pipeline = RecommendPipeline(retriever, RetrievalOrderRanker(), settings, sources=sources)
    return App(settings, store, retriever, pipeline, sessions if sessions is not None else SessionStore(settings.sessions_url),
               engine, llm_error, behaviour, liking)


def open_app(retrieval: RetrievalSettings, settings: AgentSettings, use_llm: bool = True,
              sessions: SessionStore | None = None) -> App:
    """Open the index for ``retrieval.catalog`` (IndexMissingError with the ``recchat index``
    command when there is none), load the embedder, and build the engine when ``use_llm`` and a
    stage asks for it (:attr:`AgentSettings.uses_llm`; by default none does).

    If the engine cannot be built (server fails to start, model missing), the app still works
    in retrieval order and ``llm_error`` says why."""
    store = ChromaStore(retrieval)
    retriever = Retriever(store, retrieval.catalog)
    store.active(retrieval.catalog)  # fail early with a clear message when the index is missing
    store.embedder.encode(["warm-up"])  # load the model now, so stage timings measure work
    engine: Engine | None = None
    error: str | None = None
    if use_llm and settings.uses_llm:
        from agent.llm.engines import make_engine
        from agent.llm.signals import exit_on_sigterm

        exit_on_sigterm()  # so a local vLLM server this process starts is stopped on SIGTERM too
        try:
            engine = make_engine(settings)
        except (EngineError, OSError) as exc:
            error = f"LLM unavailable ({exc}); showing retrieval order"
    behaviour = load_behaviour(retrieval.catalog)
    sequence = load_sequence_model(settings.sequence_model, retrieval.catalog) if behaviour is not None else None
    liking = load_liking(retrieval.catalog) if behaviour is not None else None
    app = assemble(store, retriever, engine, settings, sessions, error, behaviour=behaviour, sequence=sequence,
                   liking=liking, themes=open_themes(retrieval) if behaviour is not None else None)
    if app.pipeline.sources is not None and settings.lexical_weight > 0:
        store.mirror_lexical(retrieval.catalog)  # the BM25 index (~2 s for ML-1M), built now, not on the first theme
    return app


def open_themes(retrieval: RetrievalSettings) -> Retriever | None:
    """The retriever of ``retrieval.catalog``'s theme index (:func:`retrieval.settings.theme_index_name`,
    embedder ``retrieval.theme_embedder``; model and index loaded now), or None when it is off or was not built
    (the main index then matches every request)."""
    if not retrieval.theme_embedder:
        return None
    name = theme_index_name(retrieval.catalog, retrieval.theme_embedder)
    store = ChromaStore(retrieval.model_copy(update={"embedder": retrieval.theme_embedder}))
    if not store.has_index(name):
        return None
    retriever = Retriever(store, name)
    retriever.retrieve("warm-up", k=1)  # load the model, the index and its metadata now, not on the first theme
    if store.vector_cache_fits(name):
        store.mirror_vectors(name)  # the vectors of a filtered theme request's exact scan
    return retriever


def load_sequence_model(setting: str | None, catalog: str) -> ItemScorer | None:
    """The trained SASRec ``setting`` names for ``catalog`` (see
    :func:`retrieval.sasrec.find_sequence_model`; "auto" finds none on a machine that did not
    train one), or None."""
    from retrieval.sasrec import SASRec, find_sequence_model

    folder = find_sequence_model(setting, catalog)
    return SASRec.load(folder) if folder is not None else None
