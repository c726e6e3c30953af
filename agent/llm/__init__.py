"""LLM engines: the :class:`agent.llm.engine.Engine` interface every backend implements, the
factory (:mod:`agent.llm.engines`), the OpenAI-compatible HTTP backend for vLLM servers
(:mod:`agent.llm.http_engine`), the in-process transformers backend, the local vLLM server's
lifecycle (:mod:`agent.llm.vllm_server`), packaged model assets (:mod:`agent.llm.assets`),
install hints for optional backends, and the SIGTERM policy that stops a local server.

May import: :mod:`agent.settings`, :mod:`agent.types`, ``retrieval``, ``prompts``; no other agent
room.
"""
