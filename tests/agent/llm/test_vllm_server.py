"""VllmServer: port check, start-up failures, health wait, process-group shutdown.

Fast tests run a tiny fake server (a subclass with another command); the slow ones start vLLM.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from agent.llm.engine import EngineError, Message
from agent.llm.vllm_server import ServerError, VllmServer, cpu_bind_env, find_free_port, port_is_free

FAKE = textwrap.dedent(
    """
    import http.server, json, subprocess, sys, time
    mode, port, child_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(child_file, "w").write(str(child.pid))
    print("fake server starting", flush=True)
    if mode == "crash":
        print("RuntimeError: fake out of memory while allocating the KV cache", flush=True)
        sys.exit(3)
    if mode == "hang":
        time.sleep(600)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers()
        def do_POST(self):
            self.send_response(503); self.end_headers(); self.wfile.write(b"busy")
        def log_message(self, *a):
            pass
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
    """
)


class FakeServer(VllmServer):
    """A VllmServer whose process is the FAKE script (no vLLM needed)."""

    def __init__(self, mode: str, tmp_path: Path, **kw: object) -> None:
        super().__init__(tmp_path, "fake", port=find_free_port(), log_dir=tmp_path, progress=False, **kw)  # type: ignore[arg-type]
        self.mode = mode
        self.child_file = tmp_path / "child.pid"

    def preflight(self) -> None:
        pass

    def command(self) -> list[str]:
        return [sys.executable, "-c", FAKE, self.mode, str(self.port), str(self.child_file)]

    def child_pid(self) -> int:
        for _ in range(50):
            if self.child_file.exists() and self.child_file.read_text():
                return int(self.child_file.read_text())
            time.sleep(0.1)
        raise AssertionError("fake child never started")


def _alive(pid: int, wait_s: float = 3.0) -> bool:
    """True when ``pid`` is still a live process ``wait_s`` seconds from now (polled)."""
    deadline = time.monotonic() + wait_s
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return False


def test_port_in_use_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free(port)
        server = FakeServer("ok", tmp_path)
        server.port = port
        with pytest.raises(ServerError, match=f"port {port} in use: set RECCHAT_AGENT_LLM_PORT or --llm-url"):
            server.start()
        assert server.pid is None


def test_command_and_env(tmp_path: Path) -> None:
    server = VllmServer(tmp_path, "m", port=8123, max_model_len=2048, max_logprobs=40, kv_cache_gib=1.5,
                        extra_args=["--tensor-parallel-size", "2"], log_dir=tmp_path)
    cmd = server.command()
    assert cmd[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    for flag in ("--enforce-eager", "--enable-prefix-caching"):
        assert flag in cmd
    assert cmd[cmd.index("--max-logprobs") + 1] == "40"
    assert cmd[cmd.index("--port") + 1] == "8123"
    assert cmd[-2:] == ["--tensor-parallel-size", "2"]
    assert server.env()["VLLM_CPU_KVCACHE_SPACE"] == "1.5"
    assert server.url == "http://127.0.0.1:8123/v1"
    assert server.log_path.parent == tmp_path


def test_cpu_binding_uses_every_core_unless_the_person_set_one(tmp_path: Path, monkeypatch) -> None:
    assert cpu_bind_env("all", cores={1, 0}) == {"VLLM_CPU_OMP_THREADS_BIND": "0,1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    assert cpu_bind_env("2-3")["VLLM_CPU_OMP_THREADS_BIND"] == "2-3" and cpu_bind_env("auto") == {}
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    monkeypatch.delenv("VLLM_CPU_NUM_OF_RESERVED_CPU", raising=False)
    env = VllmServer(tmp_path, "m", log_dir=tmp_path).env()
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == ",".join(map(str, sorted(os.sched_getaffinity(0))))
    assert "VLLM_CPU_OMP_THREADS_BIND" not in VllmServer(tmp_path, "m", log_dir=tmp_path, cpu_bind="auto").env()
    monkeypatch.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", "1")  # the person's own setting wins
    assert "VLLM_CPU_OMP_THREADS_BIND" not in VllmServer(tmp_path, "m", log_dir=tmp_path).env()


def test_start_and_close_kill_the_process_group(tmp_path: Path) -> None:
    with FakeServer("ok", tmp_path) as server:
        assert server.running
        assert httpx.get(f"{server.root_url}/health").status_code == 200
        child = server.child_pid()
        pid = server.pid
        assert pid is not None and _running(child)
    assert not server.running and server.pid is None
    assert not _alive(pid) and not _alive(child)
    server.close()  # idempotent
    assert server.log_path.read_text().startswith("$ ")


def test_process_exit_during_start_fails_fast_with_log_tail(tmp_path: Path) -> None:
    server = FakeServer("crash", tmp_path, start_timeout_s=60)
    t0 = time.monotonic()
    with pytest.raises(ServerError, match="exited with code 3") as info:
        server.start()
    assert time.monotonic() - t0 < 20
    assert "fake out of memory" in str(info.value)
    assert not _alive(server.child_pid())


def test_start_timeout_stops_the_process(tmp_path: Path) -> None:
    server = FakeServer("hang", tmp_path, start_timeout_s=1.5)
    t0 = time.monotonic()
    with pytest.raises(ServerError, match="not healthy after"):
        server.start()
    assert time.monotonic() - t0 < 20
    assert server.pid is None and not _alive(server.child_pid())


def test_engine_on_a_killed_server_raises_engine_error(tmp_path: Path) -> None:
    from agent.llm.http_engine import HttpEngine

    server = FakeServer("ok", tmp_path).start()
    engine = HttpEngine(server.url, model="fake", timeout_s=5, retries=2, server=server)
    with pytest.raises(EngineError, match="HTTP 503"):  # 5xx: retried, then an EngineError
        engine.generate_json([Message("user", "hi")], {"type": "object"})
    os.killpg(server.pid, signal.SIGKILL)  # type: ignore[arg-type]
    time.sleep(0.3)
    t0 = time.monotonic()
    with pytest.raises(EngineError, match="exited"):
        engine.generate_json([Message("user", "hi")], {"type": "object"})
    assert time.monotonic() - t0 < 5
    assert [c.error is not None for c in engine.calls] == [True, True]
    engine.close()
    assert server.pid is None


@pytest.mark.slow
def test_real_server_with_missing_model_fails_fast(tmp_path: Path) -> None:
    server = VllmServer(tmp_path / "no-such-model", "missing", port=find_free_port(), start_timeout_s=180,
                        log_dir=tmp_path, progress=False)
    t0 = time.monotonic()
    with pytest.raises(ServerError, match="exited with code"):
        server.start()
    assert time.monotonic() - t0 < 120
    assert server.pid is None


@pytest.mark.slow
def test_real_server_is_healthy(vllm_server: VllmServer) -> None:
    assert vllm_server.running
    assert httpx.get(f"{vllm_server.root_url}/health", timeout=10).status_code == 200
    models = httpx.get(f"{vllm_server.url}/models", timeout=10).json()
    assert models["data"][0]["id"] == "smollm2"
    assert vllm_server.start_seconds is not None
