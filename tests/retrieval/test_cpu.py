"""retrieval.cpu: the bf16 flag is read from cpuinfo at run time."""

from __future__ import annotations

from retrieval.cpu import native_bf16


def test_native_bf16_follows_the_flags(tmp_path) -> None:
    avx2 = tmp_path / "avx2"
    avx2.write_text("flags\t\t: fpu sse2 avx avx2 fma\n")
    zen4 = tmp_path / "zen4"
    zen4.write_text("flags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n")
    assert not native_bf16(avx2) and native_bf16(zen4)
    assert not native_bf16(tmp_path / "missing")  # not Linux: float32
