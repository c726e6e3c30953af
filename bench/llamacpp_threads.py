"""Decode speed of the llama.cpp engine for one thread count (run once per OpenMP wait policy).

Run: ``OMP_WAIT_POLICY=ACTIVE|PASSIVE python -m bench.llamacpp_threads [MODEL] [THREADS] [TOKENS]``
(default smollm2-135m-instruct, all cores, 48 tokens). Prints the 1-minute load average before and
after (other work on the cores), time to first token (s) and decode tokens/s, plain and with a JSON
grammar. Used for docs/results/llm-speed/README.md's contention figures.
"""

from __future__ import annotations

import os
import sys
import time


def decode(engine: object, prompt: list[int], tokens: int, grammar: object = None) -> tuple[float, float]:
    """(time to first token s, decode tokens/s) of ``tokens`` greedy tokens after ``prompt``, cache reset."""
    llm = engine.llama()  # type: ignore[attr-defined]
    llm.reset()
    t0, times = time.perf_counter(), []
    for _ in llm.generate(prompt, temp=0.0, top_k=1, repeat_penalty=1.0, grammar=grammar):
        times.append(time.perf_counter() - t0)
        if len(times) >= tokens:
            break
    return times[0], (len(times) - 1) / (times[-1] - times[0])


def main(model: str = "smollm2-135m-instruct", threads: str | None = None, tokens: str = "48") -> None:
    from agent.llm.assets import resolve_gguf
    from agent.llm.engine import Message
    from agent.llm.llamacpp_engine import LlamaCppEngine

    engine = LlamaCppEngine(resolve_gguf(model), n_threads=int(threads) if threads else None)
    prompt = engine.encode_chat([Message("user", "Write a long story about a cat, as JSON.")])
    print(f"{model}: threads {engine.n_threads}, OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', '(PASSIVE default)')}, "
          f"load {os.getloadavg()[0]:.1f}")
    grammar = engine._grammar({"type": "object", "properties": {"story": {"type": "string", "maxLength": 400}},
                               "required": ["story"]})
    for label, g in (("plain", None), ("grammar", grammar)):
        ttft, tps = decode(engine, prompt, int(tokens), g)
        print(f"  {label}: TTFT {ttft:.2f} s, decode {tps:.1f} tokens/s")
    print(f"  load after {os.getloadavg()[0]:.1f}")
    engine.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
