"""Eval test fixtures: re-exports the agent tests' real SmolLM2 vLLM server (same names and
behaviour: one server per session, started on first use, ``@pytest.mark.slow`` users)."""

from __future__ import annotations

from tests.agent.conftest import smollm2_dir, vllm_engine, vllm_server  # noqa: F401  (pytest fixtures)
