"""make_engine / serve_foreground: backend choice, install hints, port errors (no vLLM start)."""

from __future__ import annotations

import importlib.util
import signal
import socket
import threading
from pathlib import Path

import pytest

from agent.llm import engines, install_hints
from agent.llm.engine import EngineError
from agent.llm.engines import make_engine, serve_foreground
from agent.llm.install_hints import MissingDependencyError, install_hint
from agent.settings import AgentSettings


def test_transformers_backend_is_lazy(tmp_path: Path) -> None:
    from agent.llm.transformers_engine import TransformersEngine

    eng = make_engine(AgentSettings(backend="transformers", llm=str(tmp_path)))
    assert isinstance(eng, TransformersEngine)
    assert eng.model == tmp_path.name and eng._model is None  # nothing loaded yet
    eng.close()


def test_remote_url_backend(tmp_path: Path) -> None:
    from agent.llm.http_engine import HttpEngine

    eng = make_engine(AgentSettings(llm="my-model", llm_url="http://10.0.0.5:9000", request_timeout_s=7, retries=2))
    assert isinstance(eng, HttpEngine)
    assert eng.base_url == "http://10.0.0.5:9000/v1" and eng.root_url == "http://10.0.0.5:9000"
    assert eng.timeout_s == 7 and eng.retries == 2 and eng.server is None
    assert eng.tokenizer is None  # not a local folder: /tokenize is used
    eng.close()
    local = make_engine(AgentSettings(llm=str(tmp_path), llm_url="http://h:1/v1"))
    assert local.tokenizer_path == str(tmp_path)  # type: ignore[attr-defined]
    local.close()


def test_missing_vllm_names_the_install_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    monkeypatch.setattr(install_hints, "has_gpu", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"pip install 'recchat\[cpu\]'") as info:
        make_engine(AgentSettings(llm=str(tmp_path)))
    assert isinstance(info.value, EngineError) and isinstance(info.value, ImportError)
    monkeypatch.setattr(install_hints, "has_gpu", lambda: True)
    assert install_hint() == "pip install 'recchat[gpu]'"


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")
def test_local_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EngineError, match=f"port {port} in use: set RECCHAT_AGENT_LLM_PORT or --llm-url"):
            make_engine(AgentSettings(llm=str(tmp_path), llm_port=port), progress=False)


class _FakeServer:
    served_name, port, start_seconds, log_path = "fake", 8199, 1.0, Path("/dev/null")

    def __init__(self) -> None:
        self.closed = False

    @property
    def running(self) -> bool:
        return not self.closed

    def close(self) -> None:
        self.closed = True


def test_serve_foreground_stops_on_sigterm(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    server = _FakeServer()
    monkeypatch.setattr(engines, "start_server", lambda settings, host, progress=True: server)
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, lambda: signal.raise_signal(signal.SIGTERM))
    # raise_signal from a thread still runs the handler in the main thread
    timer.start()
    assert serve_foreground(AgentSettings(llm="fake")) == 0
    assert server.closed
    assert "http://127.0.0.1:8199/v1" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back


def test_auto_dtype_is_float32_on_a_cpu_without_native_bf16(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from agent.settings import AgentSettings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    avx2, amx = tmp_path / "avx2", tmp_path / "amx"
    avx2.write_text("flags\t\t: fpu sse avx avx2 fma\n")
    amx.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n")
    auto = AgentSettings(backend="transformers")
    assert auto.dtype == "auto"
    assert engines.local_dtype(auto, avx2) == "float32"
    assert engines.local_dtype(auto, amx) == "bfloat16"
    assert engines.local_dtype(auto, tmp_path / "missing") == "float32"  # no cpuinfo: the safe choice
    assert engines.local_dtype(AgentSettings(backend="vllm"), avx2) == "float32"  # emulated bf16 prefill: 3.8x slower
    assert engines.local_dtype(AgentSettings(backend="vllm"), amx) == "bfloat16"
    assert engines.local_dtype(auto.model_copy(update={"dtype": "bfloat16"}), avx2) == "bfloat16"  # asked for
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert engines.local_dtype(auto, avx2) == "bfloat16"
