"""The arithmetic of ``recchat bench llm-speed``'s physical estimate (no model, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.llm_physics import cpu_info, estimate, fp32_flops_per_cycle, peak_gflops
from bench.llm_speed import Row, table_lines


def test_flops_per_cycle_follows_the_widest_vector_flag() -> None:
    assert fp32_flops_per_cycle({"avx512f": True, "avx2": True, "fma": True}) == 32
    assert fp32_flops_per_cycle({"avx512f": False, "avx2": True, "fma": True}) == 16
    assert fp32_flops_per_cycle({"avx2": True}) == 8  # AVX2 without FMA: no fused multiply-add
    assert fp32_flops_per_cycle({"sse4_2", "avx"}) == 8


def test_peak_and_ceilings() -> None:
    peak = peak_gflops(2, 2.5, 32)
    assert peak == 160.0  # 2 cores x 2.5 GHz x 32 FLOP/cycle
    # 100 MB of weights at 20 GB/s: 200 tokens/s; 135 M params: 270 MFLOP/token -> 160e9 / 270e6
    est = estimate(weight_bytes=100e6, params=135e6, bandwidth_gbs=20.0, peak=peak, decode_tps=50.0,
                   prefill_tps=296.3)
    assert est["decode_ceiling_tps"] == pytest.approx(200.0)
    assert est["flops_per_token"] == 270e6
    assert est["prefill_ceiling_tps"] == pytest.approx(160e9 / 270e6)
    assert est["decode_share"] == pytest.approx(0.25)
    assert est["prefill_share"] == pytest.approx(296.3 / (160e9 / 270e6))
    none = estimate(weight_bytes=0, params=0, bandwidth_gbs=20.0, peak=peak)
    assert none["decode_ceiling_tps"] is None and none["decode_share"] is None


def test_cpu_info_reads_flags_and_clock(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: Test CPU\ncpu MHz\t\t: 2600.000\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f "
                       "avx512_bf16\n\nmodel name\t: Test CPU\n")
    info = cpu_info(cpuinfo)
    assert info["model"] == "Test CPU" and info["cores"] >= 1
    assert info["flags"]["avx512f"] and info["flags"]["avx512_bf16"] and not info["flags"]["amx_bf16"]
    assert info["ghz"] is not None and info["ghz"] > 0


def test_table_marks_failed_calls_and_errors() -> None:
    ok = Row("llamacpp", "smollm2-135m", "Q4_1", load_s=0.5, prompt_tokens=600, ttft_s=1.0, prefill_tps=600.0,
             decode_tokens=128, decode_tps=50.0, reading_s=2.0, reading_ok=False, reason_s=1.0, reason_ok=True,
             physics=estimate(96e6, 135e6, 20.0, 160.0, 50.0, 600.0))
    bad = Row("vllm", "qwen2.5-coder-0.5b", "bfloat16", error="EngineError: no server")
    lines = table_lines([ok, bad])
    assert "2.00!" in lines[2] and "600" in lines[2] and " 96 " in lines[2]
    assert "error: EngineError" in lines[3]
