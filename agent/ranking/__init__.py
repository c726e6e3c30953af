"""Ordering candidates: the chat's learned score fusion (:mod:`agent.ranking.fusion`), the LLM
verbalizer ranker and its label tokens (:mod:`agent.ranking.rerank`,
:mod:`agent.ranking.labels`), the fine-tuned cross-encoder (:mod:`agent.ranking.cross_encoder`)
and the exploration slot (:mod:`agent.ranking.exploration`).

May import: :mod:`agent.llm`, :mod:`agent.understanding`, :mod:`agent.settings`,
:mod:`agent.types`, ``retrieval``, ``prompts``.
"""
