"""Why each pick: the evidence computed for it and its data sentence
(:mod:`agent.reasons.evidence`), the LLM explainer (:mod:`agent.reasons.explain`), the grounding
check (:mod:`agent.reasons.grounding`) and the strict check of what is shown
(:mod:`agent.reasons.strict_check`).

May import: :mod:`agent.llm`, :mod:`agent.understanding`, :mod:`agent.ranking`,
:mod:`agent.settings`, :mod:`agent.types`, ``retrieval``, ``prompts``.
"""
