"""Command-line options shared by several recchat commands."""

from __future__ import annotations

from typing import Annotated

import typer

LlmReading = Annotated[bool, typer.Option(
    "--llm-reading", help="the LLM also reads what the rules leave unread (off by default: measured no better, "
                          "~3.5 s a message; docs/results.md#the-llm-where-it-could-act-issue-30)")]
"""``--llm-reading``: sets ``AgentSettings.understand_with_llm`` (``ui``, ``chat``, ``recommend``)."""
