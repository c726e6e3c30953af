"""``LlamaCppEngine``: the quantized in-process CPU engine (llama.cpp through llama-cpp-python).

Loads a GGUF file directly (the bundled ones: :func:`agent.llm.assets.resolve_gguf`; no
Hugging Face conversion, weights stay quantized: Q4_1 / Q4_K_M / ...). Same semantics as
:class:`agent.llm.http_engine.HttpEngine` and :class:`agent.llm.transformers_engine.TransformersEngine`:

- prompts: the chat template stored in the GGUF (``tokenizer.chat_template``) rendered with
  jinja2 the way Hugging Face's ``apply_chat_template`` does (sandboxed, ``trim_blocks``,
  ``lstrip_blocks``); a non-empty assistant ``prefill`` is continued (the render is cut after
  the prefill, as ``continue_final_message`` does), else a generation prompt is added. Tokens
  come from llama.cpp's own tokenizer (special tokens parsed; BOS added only when the GGUF
  asks for it and the template did not write it).
- ``score_choices``: one forward pass per conversation (sequential: one llama.cpp context),
  the last position's logits read, ``log_softmax`` over the full vocabulary gathered at the
  label ids (derived in the prompt context, :func:`agent.llm._common.label_ids_in_context`),
  renormalised over the labels. The KV cache keeps the previous prompt: a common token prefix
  (the verbalizer's instructions, a conversation's earlier turns) is not recomputed.
- ``generate_json``: greedy decoding constrained by a GBNF grammar made from the JSON schema
  by llama.cpp's ``LlamaGrammar.from_json_schema`` (integer ``minimum``/``maximum`` ranges,
  which that converter ignores, are turned into an ``enum`` first); the text is then parsed
  and validated with ``jsonschema``. ``timeout_s`` is checked between generated tokens (a
  prefill in progress is not interrupted): past it :class:`EngineTimeout`.

Threads: ``n_threads`` (default: every core this process may use) for both prefill and decode
(llama-cpp-python's own default is half the cores for decode). ``OMP_WAIT_POLICY`` defaults to
PASSIVE (set for the import of llama_cpp only, :func:`agent.llm.install_hints.require_llama_cpp`):
with spinning OpenMP threads a busy neighbour process on one of 2 cores cut Qwen-0.5B decode
to 0.4-3 tokens/s; passive threads kept 16-22 (40 on a quiet machine). All model work is
serialised by a lock (the engine is thread-safe; concurrent callers queue).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.llm._common import (
    CHAT_TEMPLATE_KWARGS,
    CallLog,
    as_dicts,
    cached_label_ids,
    parse_json,
    renormalise,
    scoring_prompts,
    with_prefill,
)
from agent.llm.engine import Engine, EngineError, EngineTimeout, LLMCall, Message
from agent.llm.install_hints import require_llama_cpp

_ENUM_MAX = 256  # integer ranges up to this many values become an enum in the grammar
_GRAMMAR_CACHE = 32  # compiled grammars kept per engine (schemas repeat across turns)


def default_threads() -> int:
    """Cores this process may run on (``sched_getaffinity``; ``os.cpu_count()`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def grammar_schema(schema: Any) -> Any:
    """``schema`` with every bounded integer range (``minimum``..``maximum``, at most
    :data:`_ENUM_MAX` values) also written as an ``enum``, which llama.cpp's schema-to-grammar
    converter honours (it ignores ``minimum``/``maximum``). Other keys pass through unchanged."""
    if isinstance(schema, list):
        return [grammar_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: grammar_schema(v) for k, v in schema.items()}
    lo, hi = out.get("minimum"), out.get("maximum")
    if (out.get("type") == "integer" and "enum" not in out and isinstance(lo, int) and isinstance(hi, int)
            and 0 <= hi - lo < _ENUM_MAX):
        out["enum"] = list(range(lo, hi + 1))
    return out


def label_logprobs(logits: Any, ids: list[int]) -> list[float]:
    """Full-vocabulary ``log_softmax(logits)`` at ``ids`` (natural log; float64 sums)."""
    import numpy as np

    row = np.asarray(logits, dtype=np.float64)
    top = float(row.max())
    log_z = top + math.log(float(np.exp(row - top).sum()))
    return [float(row[i]) - log_z for i in ids]


def chat_template_env() -> Any:
    """The jinja2 environment Hugging Face renders chat templates in (sandboxed)."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise EngineError(f"chat template error: {message}")

    def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


class LlamaCppEngine(Engine):
    """A GGUF model in this process via llama.cpp. ``gguf_path`` is the .gguf file; ``n_ctx`` the
    context window (tokens); ``n_threads`` the cores used (None = all); ``n_batch`` the prompt
    tokens per decode call; ``timeout_s`` the default ``generate_json`` limit (seconds, None =
    none). Weights load lazily (mmap) on first use."""

    backend = "llamacpp"

    def __init__(
        self,
        gguf_path: str | Path,
        *,
        model_name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        timeout_s: float | None = None,
    ) -> None:
        super().__init__()
        self.gguf_path = str(gguf_path)
        self.model = model_name or Path(self.gguf_path).stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.n_batch = n_batch
        self.timeout_s = timeout_s
        self._log = CallLog(self.calls)
        self._lock = threading.RLock()
        self._llm: Any = None
        self._template: Any = None
        self._special: dict[str, str] = {}
        self._grammars: OrderedDict[str, Any] = OrderedDict()
        self._label_ids: dict[tuple[tuple[str, ...], str], list[int]] = {}
        self._closed = False

    # ------------------------------------------------------------------ loading
    def llama(self) -> Any:
        """The ``llama_cpp.Llama`` object (loaded on first use)."""
        with self._lock:
            if self._closed:
                raise EngineError("engine is closed")
            if self._llm is None:
                llama_cpp = require_llama_cpp()
                if not Path(self.gguf_path).is_file():
                    raise EngineError(f"GGUF file not found: {self.gguf_path}")
                try:
                    llm = llama_cpp.Llama(  # type: ignore[attr-defined]
                        model_path=self.gguf_path, n_ctx=self.n_ctx, n_batch=self.n_batch, n_ubatch=self.n_batch,
                        n_threads=self.n_threads, n_threads_batch=self.n_threads, logits_all=False, seed=0,
                        verbose=False,
                    )
                except Exception as exc:  # noqa: BLE001
                    raise EngineError(f"llama.cpp cannot load {self.gguf_path}: {type(exc).__name__}: {exc}") from exc
                source = llm.metadata.get("tokenizer.chat_template")
                if not source:
                    raise EngineError(f"{self.gguf_path} carries no chat template (tokenizer.chat_template)")
                self._template = chat_template_env().from_string(source)
                self._special = {name: self._token_text(llm, tid) for name, tid in
                                 (("bos_token", llm.token_bos()), ("eos_token", llm.token_eos()))}
                self._llm = llm
            return self._llm

    @staticmethod
    def _token_text(llm: Any, token: int) -> str:
        if token is None or token < 0:
            return ""
        return llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ tokens
    def render(self, messages: list[Message] | list[dict[str, str]], prefill: str = "") -> str:
        """The prompt text: the GGUF's chat template, generation prompt or the continued ``prefill``."""
        self.llama()
        msgs, continue_final = with_prefill(as_dicts(messages), prefill)
        text = self._template.render(messages=msgs, add_generation_prompt=not continue_final,
                                     **self._special, **CHAT_TEMPLATE_KWARGS)
        if continue_final:  # as transformers' continue_final_message: cut after the prefill
            final = prefill.strip()
            if final not in text:
                raise EngineError("the chat template dropped the assistant prefill")
            text = text[: text.rindex(final) + len(final)]
        return text

    def encode(self, text: str, special: bool = False) -> list[int]:
        """llama.cpp token ids of ``text`` (no BOS; ``special``: parse special-token text)."""
        return list(self.llama().tokenize(text.encode("utf-8"), add_bos=False, special=special))

    def encode_chat(self, messages: list[Message] | list[dict[str, str]], prefill: str = "") -> list[int]:
        """Prompt ids of a chat (+ assistant ``prefill``); BOS prepended when the GGUF wants one
        and the template did not write it."""
        llm = self.llama()
        ids = self.encode(self.render(messages, prefill), special=True)
        bos = llm.token_bos()
        if llm._model.add_bos_token() and bos >= 0 and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        return ids

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` (no special tokens added)."""
        return len(self.encode(text))

    def label_token_ids(
        self, labels: list[str], messages: list[Message] | list[dict[str, str]] | None = None, prefill: str = ""
    ) -> list[int]:
        """Token id of each label as the next token after ``messages`` + ``prefill`` (cached)."""
        return cached_label_ids(self._label_ids, self.encode_chat, labels, messages, prefill)

    # ------------------------------------------------------------------ model work
    def _check_fits(self, n_prompt: int, extra: int = 0) -> None:
        if n_prompt + extra > self.n_ctx:
            raise EngineError(f"prompt of {n_prompt} tokens (+{extra} to generate) exceeds the context n_ctx={self.n_ctx}")

    def last_logits(self, tokens: list[int]) -> Any:
        """Logits (numpy float32, vocabulary-sized) at the position after ``tokens``; a prefix
        shared with the previous prompt is taken from the KV cache."""
        import numpy as np

        with self._lock:
            llm = self.llama()
            self._check_fits(len(tokens))
            prev = llm.input_ids[: llm.n_tokens]
            n = min(len(prev), len(tokens))
            mismatch = np.flatnonzero(prev[:n] != np.asarray(tokens[:n], dtype=prev.dtype))
            reuse = min(int(mismatch[0]) if mismatch.size else n, len(tokens) - 1)
            if reuse > 0 and llm._ctx.kv_cache_seq_rm(-1, reuse, -1):
                llm.n_tokens = reuse
            else:
                llm.reset()
                reuse = 0
            llm.eval(tokens[reuse:])
            ptr = llm._ctx.get_logits_ith(-1)
            return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()

    def score_choices(
        self, conversations: list[list[Message]], labels: list[str], prefill: str = ""
    ) -> list[dict[str, float]]:
        """See :meth:`Engine.score_choices`. Audit ``latency_s`` is each conversation's own
        forward pass (seconds)."""
        if not conversations:
            return []
        ids, prompts = scoring_prompts(self, conversations, labels, prefill)
        results: list[dict[str, float]] = []
        for conv, prompt in zip(conversations, prompts):
            msgs = as_dicts(conv) + ([{"role": "assistant", "content": prefill}] if prefill else [])
            call = LLMCall(kind="score_choices", backend=self.backend, model=self.model, messages=msgs,
                           prompt_tokens=len(prompt))
            t0 = time.perf_counter()
            try:
                values, mass = renormalise(label_logprobs(self.last_logits(prompt), ids))
                result = dict(zip(labels, values))
                call.output = {"logprobs": result, "label_mass": mass, "top": max(result, key=result.__getitem__)}
                results.append(result)
            except EngineError as exc:
                call.error = str(exc)
                raise
            except Exception as exc:  # noqa: BLE001 - a backend failure is an EngineError
                call.error = f"{type(exc).__name__}: {exc}"
                raise EngineError(f"llama.cpp scoring failed: {call.error}") from exc
            finally:
                call.latency_s = time.perf_counter() - t0
                self._log.add(call)
        return results

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            grammar = self._grammars.get(key)
            if grammar is None:
                llama_cpp = require_llama_cpp()
                try:
                    grammar = llama_cpp.LlamaGrammar.from_json_schema(  # type: ignore[attr-defined]
                        json.dumps(grammar_schema(schema)), verbose=False)
                except Exception as exc:  # noqa: BLE001
                    raise EngineError(f"cannot turn the JSON schema into a grammar: {type(exc).__name__}: {exc}") from exc
                self._grammars[key] = grammar
                while len(self._grammars) > _GRAMMAR_CACHE:
                    self._grammars.popitem(last=False)
            else:
                self._grammars.move_to_end(key)
            return grammar

    def generate_json(
        self, messages: list[Message], schema: dict[str, Any], max_tokens: int = 512, timeout_s: float | None = None
    ) -> Any:
        """See :meth:`Engine.generate_json`. Grammar-constrained greedy decoding; ``timeout_s``
        (default: the engine's ``timeout_s``) is checked after each token."""
        msgs = as_dicts(messages)
        limit = timeout_s if timeout_s is not None else self.timeout_s
        call = LLMCall(kind="generate_json", backend=self.backend, model=self.model, messages=msgs)
        t0 = time.perf_counter()
        try:
            text = self._generate(msgs, schema, max_tokens, call, t0, limit)
            call.output = text
            try:
                value = parse_json(text, schema)
            except EngineError as exc:
                if call.completion_tokens >= max_tokens:
                    raise EngineError(f"JSON output truncated at max_tokens={max_tokens}: {text[:200]!r}") from exc
                raise
            call.output = value
            return value
        except EngineError as exc:
            call.error = str(exc)
            raise
        except Exception as exc:  # noqa: BLE001
            call.error = f"{type(exc).__name__}: {exc}"
            raise EngineError(f"llama.cpp generation failed: {call.error}") from exc
        finally:
            call.latency_s = time.perf_counter() - t0
            self._log.add(call)

    def _generate(self, msgs: list[dict[str, str]], schema: dict[str, Any], max_tokens: int, call: LLMCall,
                  t0: float, limit: float | None) -> str:
        grammar = self._grammar(schema)
        with self._lock:
            llm = self.llama()
            prompt = self.encode_chat(msgs)
            self._check_fits(len(prompt), 1)
            budget = min(max_tokens, self.n_ctx - len(prompt))
            call.prompt_tokens = len(prompt)
            out: list[int] = []
            eos, vocab, is_eog = llm.token_eos(), llm._model.vocab, require_llama_cpp().llama_vocab_is_eog  # type: ignore[attr-defined]
            for token in llm.generate(prompt, temp=0.0, top_k=1, repeat_penalty=1.0, grammar=grammar):
                if token == eos or is_eog(vocab, token):
                    break
                out.append(token)
                call.completion_tokens = len(out)
                if limit is not None and time.perf_counter() - t0 >= limit:
                    call.output = llm.detokenize(out).decode("utf-8", errors="replace")
                    raise EngineTimeout(f"generation stopped at its {limit:g} s limit after {len(out)} tokens")
                if len(out) >= budget:
                    break
            return llm.detokenize(out).decode("utf-8", errors="replace")

    def weight_bytes(self) -> int:
        """Bytes of the model's tensors in the GGUF (what one decoded token reads), per llama.cpp."""
        return int(self.llama()._model.size())

    def n_params(self) -> int:
        """Parameters of the model, per llama.cpp."""
        return int(self.llama()._model.n_params())

    def close(self) -> None:
        """Free the model. Idempotent; later calls raise :class:`EngineError`."""
        with self._lock:
            self._closed = True
            llm, self._llm = self._llm, None
            self._grammars.clear()
        if llm is not None:
            try:
                llm.close()
            except Exception:  # noqa: BLE001 - freeing must not fail a shutdown
                pass
