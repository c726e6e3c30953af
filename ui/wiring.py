"""Composition root helpers: build stores, engines and pipelines from the layer settings."""

from __future__ import annotations

from dataclasses import dataclass

from agent.engine import Engine
from agent.pipeline import RecommendPipeline
from agent.settings import AgentSettings
from retrieval.retriever import Retriever
from retrieval.settings import RetrievalSettings
from retrieval.store import ChromaStore

DATASETS = ("movielens-100k", "movielens-1m")


@dataclass
class Stack:
    """The wired components of one process (shared by its sessions; none holds session state)."""

    store: ChromaStore
    retriever: Retriever
    engine: Engine | None
    pipeline: RecommendPipeline
    llm_error: str | None = None

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit in the main thread, so atexit hooks run and a local vLLM
    server started by this process is stopped too (the default SIGTERM action skips atexit)."""
    import signal
    import sys
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def build_stack(retrieval: RetrievalSettings, agent: AgentSettings, use_llm: bool = True) -> Stack:
    """Store + retriever, and (when ``use_llm``) the engine, verbalizer ranker and explainer.

    If the engine cannot be built (server fails to start, model missing), the stack still works
    with the retrieval order and ``llm_error`` says why."""
    from agent.rerank import RetrievalOrderRanker

    store = ChromaStore(retrieval)
    retriever = Retriever(store, retrieval.catalog)
    store.active(retrieval.catalog)  # fail early with a clear message when the index is missing
    store.embedder.encode(["warm-up"])  # load the model now, so stage timings measure work
    engine: Engine | None = None
    error: str | None = None
    if use_llm:
        from agent.engine import EngineError
        from agent.engines import make_engine

        try:
            _exit_on_sigterm()
            engine = make_engine(agent)
        except (EngineError, OSError) as exc:
            error = f"LLM unavailable ({exc}); showing retrieval order"
    if engine is None:
        pipeline = RecommendPipeline(retriever, RetrievalOrderRanker(), agent)
    else:
        from agent.explain import Explainer
        from agent.rerank import VerbalizerRanker

        pipeline = RecommendPipeline(retriever, VerbalizerRanker(engine, agent), agent,
                                     explainer=Explainer(engine, agent), count_tokens=engine.count_tokens)
    return Stack(store, retriever, engine, pipeline, error)
