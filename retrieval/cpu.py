"""What this CPU can do, read at run time (machines of one kind differ: AVX2 only, or AVX-512 with bf16)."""

from __future__ import annotations

from pathlib import Path

#: /proc/cpuinfo flags of x86 CPUs that compute in bfloat16 natively.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bfloat16 natively (a flag of :data:`NATIVE_BF16_FLAGS` in
    ``cpuinfo``); False where it cannot be read (not Linux: float32 is never slow)."""
    try:
        flags = set(Path(cpuinfo).read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return False
    return bool(flags & NATIVE_BF16_FLAGS)
