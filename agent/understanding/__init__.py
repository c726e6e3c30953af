"""Reading the person: one message becomes an :class:`agent.understanding.extraction.Extraction`
(rules first, the LLM for what they leave unread), the conversation context block given to
prompts (:mod:`agent.understanding.context`), and the interest profile
(:mod:`agent.understanding.profile`) that extractions update
(:mod:`agent.understanding.profile_update`); questions about shown picks are read by
:mod:`agent.understanding.questions` (answered by :mod:`agent.answers`).

May import: :mod:`agent.llm`, :mod:`agent.settings`, :mod:`agent.types`, ``retrieval``,
``prompts``.
"""
