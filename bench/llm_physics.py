"""What the hardware allows an LLM on this CPU: memory bandwidth, peak FLOP/s, and the speed
ceilings they set (the physical estimate printed beside ``recchat bench llm-speed``'s figures).

- Decode reads every weight once per generated token (batch 1), so it is bandwidth-bound:
  ceiling tokens/s = bandwidth (bytes/s) / weight bytes.
- Prefill is compute-bound: a forward pass costs ~2 FLOPs per parameter per token (one
  multiply-add), so ceiling tokens/s = peak FLOP/s / (2 x params). Attention's own FLOPs are
  ignored (small at <= 1k tokens for these models).
- Peak FLOP/s = cores x GHz x fp32 FLOPs/cycle. ASSUMPTION: one fused multiply-add issued
  per core per cycle at the widest vector width the flags announce (avx512f: 16 lanes x 2 =
  32; avx2+fma: 8 x 2 = 16; else 4 x 2 = 8 with SSE). CPUs with two FMA ports reach 2x that,
  so a measured figure above 100 % of this "peak" is possible; it is a yardstick, not a bound.
  Quantized kernels (Q4 dot products in int8) and bf16 (avx512_bf16 / AMX) change the
  arithmetic too; the yardstick stays fp32.
- Bandwidth is measured with one numpy copy of a 1 GiB array (one thread; counts read +
  write, i.e. 2 GiB moved per copy; best of ``repeats``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

#: /proc/cpuinfo flags recorded with every result (vector width, bf16, AMX).
RECORDED_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                  "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_info(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """Model name, usable cores, clock (GHz: cpufreq max when present, else /proc/cpuinfo's
    current MHz) and the :data:`RECORDED_FLAGS` present (``{flag: bool}``)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    ghz = None
    try:
        ghz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1e6
    except (OSError, ValueError):
        try:
            ghz = float(fields.get("cpu MHz", "")) / 1000
        except ValueError:
            ghz = None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return {"model": fields.get("model name", "unknown"), "cores": cores, "ghz": ghz,
            "flags": {f: f in flags for f in RECORDED_FLAGS}}


def fp32_flops_per_cycle(flags: dict[str, bool] | set[str]) -> int:
    """fp32 FLOPs per core per cycle under the module's assumption (one FMA per cycle)."""
    has = (lambda f: bool(flags.get(f))) if isinstance(flags, dict) else (lambda f: f in flags)
    if has("avx512f"):
        return 32
    if has("avx2") and has("fma"):
        return 16
    return 8


def peak_gflops(cores: int, ghz: float, flops_per_cycle: int) -> float:
    """cores x GHz x FLOPs/cycle, in GFLOP/s."""
    return cores * ghz * flops_per_cycle


def measure_bandwidth_gbs(gib: float = 1.0, repeats: int = 3) -> float:
    """Memory bandwidth in GB/s (1e9 bytes/s): bytes read + written by ``numpy.copyto`` of a
    ``gib`` GiB float32 array, best of ``repeats``. Allocates 2 x ``gib`` GiB."""
    import numpy as np

    n = int(gib * 2**30) // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def estimate(weight_bytes: float, params: float, bandwidth_gbs: float, peak: float,
             decode_tps: float | None = None, prefill_tps: float | None = None) -> dict[str, float | None]:
    """Ceilings and how close the measurements come.

    ``weight_bytes`` read per decoded token; ``params`` the parameter count; ``bandwidth_gbs``
    GB/s; ``peak`` GFLOP/s. Returns ``decode_ceiling_tps`` = bandwidth / weight bytes,
    ``prefill_ceiling_tps`` = peak / (2 x params), ``flops_per_token`` = 2 x params, and the
    measured share of each ceiling (``*_share``, 0..1+; None without a measurement).
    """
    decode_ceiling = bandwidth_gbs * 1e9 / weight_bytes if weight_bytes > 0 else None
    prefill_ceiling = peak * 1e9 / (2 * params) if params > 0 else None

    def share(measured: float | None, ceiling: float | None) -> float | None:
        return measured / ceiling if measured is not None and ceiling else None

    return {"weight_bytes": weight_bytes, "params": params, "flops_per_token": 2 * params,
            "decode_ceiling_tps": decode_ceiling, "prefill_ceiling_tps": prefill_ceiling,
            "decode_share": share(decode_tps, decode_ceiling), "prefill_share": share(prefill_tps, prefill_ceiling)}
