"""The engine factory: ``make_engine(settings)`` and ``serve_foreground(settings)``.

``settings.backend``:

- ``"vllm"`` with ``settings.llm_url`` set: an :class:`agent.llm.http_engine.HttpEngine` on that
  OpenAI-compatible URL (one server, or replicas behind a load balancer). The tokenizer is the
  local folder when ``settings.llm`` is one, else the server's ``/tokenize``.
- ``"vllm"`` without a URL: the model is resolved (``agent.llm.assets.resolve_llm``: bundled
  name -> converted folder in the cache; a folder or HF id passes through), a local
  :class:`agent.llm.vllm_server.VllmServer` is started on ``settings.llm_port`` and the returned
  engine owns it (``engine.close()`` stops it), has sent one warm-up scoring request and
  has loaded its tokenizer.
- ``"transformers"``: an in-process :class:`agent.llm.transformers_engine.TransformersEngine`.
- ``"llamacpp"``: an in-process :class:`agent.llm.llamacpp_engine.LlamaCppEngine` on the GGUF
  file itself (``agent.llm.assets.resolve_gguf``: bundled name, .gguf file or a folder with
  one), quantized as shipped (``settings.dtype`` does not apply); context ``max_model_len``,
  ``request_timeout_s`` as its generation limit. No LoRA adapters.

``make_lora_engine(settings, adapter, name, base=...)`` is the same with a LoRA adapter on the
base LLM ``base``: in process (``TransformersEngine(adapter=...)``), on a local vLLM server
started with the adapter as LoRA module ``name`` (on a free port from ``llm_port + 1``, so it
never takes the port of the plain server), or on ``llm_url``, a server that already serves
``name`` (``--enable-lora --lora-modules name=ADAPTER_DIR``).

Backends are imported lazily; a missing optional dependency raises
:class:`agent.llm.install_hints.MissingDependencyError` (an :class:`EngineError` and an :class:`ImportError`) naming
the exact ``pip install`` line.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.llm.engine import Engine, EngineError
from agent.llm.install_hints import require_vllm
from agent.llm.signals import sigterm_raises
from agent.settings import EngineSettings
from retrieval.cpu import native_bf16

if TYPE_CHECKING:
    from agent.llm.vllm_server import VllmServer

log = logging.getLogger(__name__)


def resolve_model(name: str) -> Path | str:
    """A local model folder for ``name`` (bundled name, folder or HF id) via
    ``agent.llm.assets.resolve_llm``; an existing folder passes through unchanged."""
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    try:
        from agent.llm.assets import resolve_llm
    except ImportError:  # pragma: no cover - llm_assets ships with recchat
        return name
    return resolve_llm(name)


def served_name(name: str) -> str:
    """The name the local server serves ``settings.llm`` as (a folder's name for a path)."""
    path = Path(name).expanduser()
    return path.name if path.is_dir() else name


def local_dtype(settings: EngineSettings, cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The weights dtype of a local engine: ``settings.dtype`` unless it is ``auto``; then
    bfloat16 on a GPU or a CPU with native bf16 (avx512_bf16 or AMX), float32 otherwise, for both
    backends. Without native bf16 the CPU emulates it: vLLM-CPU's bf16 prefill measured 28.6
    tokens/s against 108.5 in float32 (AVX2, one core; its decode is ~2x faster in bf16, but the
    verbalizer's one-token answers and short JSON readings are prefill-bound), and the
    transformers engine scored a ranking prompt 3x slower."""
    if settings.dtype != "auto":
        return settings.dtype
    import torch

    if torch.cuda.is_available():
        return "bfloat16"
    return "bfloat16" if native_bf16(cpuinfo) else "float32"


def start_server(settings: EngineSettings, *, host: str = "127.0.0.1", progress: bool = True) -> VllmServer:
    """Resolve ``settings.llm`` and start a local vLLM server for it (blocks until healthy)."""
    require_vllm()
    from agent.llm.vllm_server import VllmServer

    model = resolve_model(settings.llm)
    server = VllmServer(
        model,
        served_name(settings.llm),
        port=settings.llm_port,
        host=host,
        dtype=local_dtype(settings),
        max_model_len=settings.max_model_len,
        max_logprobs=settings.max_logprobs,
        kv_cache_gib=settings.kv_cache_gib,
        start_timeout_s=settings.server_start_timeout_s,
        extra_args=settings.extra_server_args,
        progress=progress,
        cpu_bind=settings.cpu_bind,
    )
    return server.start()


def make_engine(settings: EngineSettings, *, progress: bool = True) -> Engine:
    """The engine ``settings`` asks for (see the module docstring). Raises
    :class:`EngineError` (or :class:`MissingDependencyError`) when it cannot be built."""
    if settings.backend == "transformers":
        from agent.llm.transformers_engine import TransformersEngine

        return TransformersEngine(resolve_model(settings.llm), model_name=served_name(settings.llm),
                                  dtype=local_dtype(settings))
    if settings.backend == "llamacpp":
        return make_llamacpp_engine(settings)

    from agent.llm.http_engine import HttpEngine

    if settings.llm_url:
        local = Path(settings.llm).expanduser()
        return HttpEngine(
            settings.llm_url,
            api_key=settings.llm_api_key,
            timeout_s=settings.request_timeout_s,
            retries=settings.retries,
            tokenizer_path=local if local.is_dir() else None,
            max_concurrency=settings.max_concurrency,
            prefer_model=served_name(settings.llm),
        )

    server = start_server(settings, progress=progress)
    try:
        engine = HttpEngine(
            server.url,
            model=server.served_name,
            timeout_s=settings.request_timeout_s,
            retries=settings.retries,
            tokenizer_path=server.model_dir if Path(server.model_dir).is_dir() else None,
            max_concurrency=settings.max_concurrency,
            server=server,
        )
        try:
            engine.warmup()
            _ = engine.tokenizer  # importing transformers + loading it costs ~5 s: pay it now
        except EngineError as exc:  # the engine still works; the first real request pays
            log.warning("warm-up failed: %s", exc)
        return engine
    except BaseException:
        server.close()
        raise


def make_llamacpp_engine(settings: EngineSettings) -> Engine:
    """The in-process llama.cpp engine for ``settings.llm`` (GGUF resolved now, weights on first use).
    :class:`MissingDependencyError` when llama-cpp-python is missing; :class:`EngineError` when
    the GGUF cannot be resolved."""
    from agent.llm.assets import resolve_gguf
    from agent.llm.install_hints import require_llama_cpp
    from agent.llm.llamacpp_engine import LlamaCppEngine
    from retrieval.assets import AssetError

    require_llama_cpp()
    try:
        path = resolve_gguf(settings.llm)
    except AssetError as exc:
        raise EngineError(str(exc)) from exc
    return LlamaCppEngine(path, model_name=served_name(settings.llm), n_ctx=settings.max_model_len,
                          timeout_s=settings.request_timeout_s)


#: LoRA ranks a vLLM 0.32 server accepts as ``--max-lora-rank`` (vllm/config/lora.py: MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def make_lora_engine(settings: EngineSettings, adapter: str | Path, name: str, *, base: str, max_lora_rank: int = 8,
                     progress: bool = True) -> Engine:
    """An engine that scores with the LoRA ``adapter`` (a peft folder) on the base LLM ``base``
    (bundled name, folder or HF id); ``name`` is the LoRA module's served name. See the module doc.
    The HTTP engines' ``model`` is ``name``; the tokenizer is the base model's."""
    adapter = Path(adapter)
    if settings.backend == "llamacpp":
        raise EngineError("LoRA adapters need the transformers or vllm backend, not llamacpp")
    if settings.backend == "transformers":
        from agent.llm.transformers_engine import TransformersEngine

        return TransformersEngine(resolve_model(base), model_name=name, dtype=local_dtype(settings),
                                  adapter=adapter)

    from agent.llm.http_engine import HttpEngine

    model = resolve_model(base)
    local = Path(model) if Path(model).is_dir() else None
    if settings.llm_url:
        return HttpEngine(settings.llm_url, model=name, api_key=settings.llm_api_key,
                          timeout_s=settings.request_timeout_s, retries=settings.retries, tokenizer_path=local,
                          max_concurrency=settings.max_concurrency)
    require_vllm()
    from agent.llm.vllm_server import VllmServer, find_free_port

    rank = next((r for r in VLLM_LORA_RANKS if r >= max_lora_rank), max_lora_rank)
    server = VllmServer(model, served_name(base), port=find_free_port(start=settings.llm_port + 1,
                                                                      stop=settings.llm_port + 100),
                        dtype=local_dtype(settings), max_model_len=settings.max_model_len,
                        max_logprobs=settings.max_logprobs,
                        kv_cache_gib=settings.kv_cache_gib, start_timeout_s=settings.server_start_timeout_s,
                        extra_args=settings.extra_server_args, progress=progress, lora_modules={name: adapter},
                        max_lora_rank=rank, cpu_bind=settings.cpu_bind).start()
    try:
        engine = HttpEngine(server.url, model=name, timeout_s=settings.request_timeout_s, retries=settings.retries,
                            tokenizer_path=local, max_concurrency=settings.max_concurrency, server=server)
        try:
            engine.warmup()
        except EngineError as exc:
            log.warning("warm-up failed: %s", exc)
        return engine
    except BaseException:
        server.close()
        raise


def serve_foreground(settings: EngineSettings, host: str = "127.0.0.1") -> int:
    """``recchat llm serve``: start the local server, print its URL, block until Ctrl-C/SIGTERM,
    stop it. Returns the exit code (0 on a clean stop, 1 when the server dies)."""
    server = start_server(settings, host=host)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{server.port}/v1"
    print(f"vLLM serving {server.served_name!r} at {url} (ready in {server.start_seconds or 0:.0f} s)")
    print(f"  log: {server.log_path}")
    print(f"  use it: RECCHAT_AGENT_LLM_URL={url} recchat ...   (Ctrl-C stops the server)")
    sys.stdout.flush()
    try:
        with sigterm_raises():
            while server.running:
                time.sleep(1.0)
        print(f"vLLM server exited unexpectedly; see {server.log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the vLLM server ...", file=sys.stderr)
        return 0
    finally:
        server.close()


__all__ = [
    "make_engine",
    "make_llamacpp_engine",
    "make_lora_engine",
    "resolve_model",
    "serve_foreground",
    "served_name",
    "start_server",
]
