"""The agent tests' LLM fixtures (``smollm2_dir``, ``vllm_server``, ``vllm_engine``) live in
``tests/conftest.py`` so that every test directory shares the same single vLLM server.

``from tests.agent.conftest import vllm_engine`` still resolves (module ``__getattr__``), but such
an import re-registers the fixture in the importing conftest and starts a SECOND server there:
rely on the root conftest instead.
"""

from typing import Any

_MOVED = ("smollm2_dir", "vllm_server", "vllm_engine", "SMOLLM2", "SERVED", "DEV_FALLBACK")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from tests import conftest as root

        return getattr(root, name)
    raise AttributeError(name)
