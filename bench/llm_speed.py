"""Raw speed of a local vLLM server on this machine: decode tokens/s (one request, 128 tokens) and
a 1.5k-token prefill, cold and again from the prefix cache.

Run: ``python -m bench.llm_speed [MODEL] [DTYPE]`` (default smollm2-135m-instruct bfloat16). On a
2-core AVX2-only CPU (no AVX-512) it printed decode ~10 tokens/s, prefill 1,531 tokens in 25-45 s cold
and 4 s cached (bfloat16); float32: decode ~6.5 tokens/s, prefill 10.7 s cold.
"""

from __future__ import annotations

import sys
import time


def main(model: str = "smollm2-135m-instruct", dtype: str = "bfloat16") -> None:
    import httpx

    from agent.llm.assets import resolve_llm
    from agent.llm.vllm_server import VllmServer, find_free_port

    server = VllmServer(resolve_llm(model), "m", port=find_free_port(), dtype=dtype, progress=False).start()
    try:
        def ask(content: str, max_tokens: int, **extra: object) -> tuple[dict, float]:
            t0 = time.perf_counter()
            body = {"model": "m", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
                    "temperature": 0, **extra}
            return httpx.post(server.url + "/chat/completions", json=body, timeout=600).json(), time.perf_counter() - t0

        data, s = ask("Write a long story about a cat.", 128, ignore_eos=True)
        print(f"{model} {dtype}: decode {data['usage']['completion_tokens'] / s:.1f} tokens/s")
        prompt = " ".join(["The quick brown fox jumps over the lazy dog."] * 150)
        for label in ("cold", "cached"):
            data, s = ask(prompt, 1)
            print(f"{model} {dtype}: prefill {data['usage']['prompt_tokens']} tokens in {s:.1f} s ({label})")
    finally:
        server.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
