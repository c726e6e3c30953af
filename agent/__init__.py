"""The agent layer: one chat turn, from a message to explained picks.

Rooms (sub-packages), lowest first; a room imports only the rooms before it, the layer's floor
(:mod:`agent.types`, :mod:`agent.settings`) and the layers below (``retrieval``, ``prompts``):

1. :mod:`agent.llm` - the LLM engine interface, its backends (vLLM over HTTP, transformers in
   process), the local vLLM server's lifecycle, model assets, install hints.
2. :mod:`agent.understanding` - reading a message (rules, then the LLM for what they leave
   unread), the conversation context given to prompts, the interest profile and its updates.
3. :mod:`agent.ranking` - ordering candidates: the learned fusion, the LLM verbalizer, the
   cross-encoder, the exploration slot.
4. :mod:`agent.reasons` - why each pick: evidence, data sentences, LLM phrasing, strict checks.
5. :mod:`agent.sessions` - a conversation's saved state and its stores (SQLite, SQLAlchemy).

The turn's assembly sits on top: :mod:`agent.pipeline` (retrieve -> rank -> explain),
:mod:`agent.app` (wires the parts from settings), :mod:`agent.conversation` (``ChatAgent``: one
turn of the chat) and :mod:`agent.one_shot` (``recchat recommend``). The rule is test-enforced
(tests/test_layers.py); docs/architecture.md draws it.
"""
