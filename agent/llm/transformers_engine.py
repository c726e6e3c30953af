"""``TransformersEngine``: the in-process fallback engine (transformers + torch, no server).

Same semantics as :class:`agent.llm.http_engine.HttpEngine`:

- ``score_choices``: each conversation is rendered with the model's chat template exactly as an
  OpenAI-compatible server does (assistant ``prefill`` continued, else a generation prompt),
  then ONE forward pass per conversation, batched ``batch_size`` at a time with LEFT padding
  (explicit ``position_ids`` so padded rows see the same positions as unpadded ones), only the
  last position's logits kept. The label ids are derived in the prompt context (see
  :func:`agent.llm._common.label_ids_in_context`); the result is ``log_softmax`` over the full
  vocabulary gathered at the label ids, renormalised over the labels (== a softmax over the
  label logits).
- ``generate_json``: greedy generation constrained by the JSON schema with ``xgrammar`` (the
  grammar engine vLLM uses; installed with vllm) when importable, so the output always parses
  and conforms; without xgrammar, unconstrained greedy generation with the schema in the
  prompt, validated with ``jsonschema``, retried once with sampling, else :class:`EngineError`.

All model work is serialised by a lock (the engine is thread-safe; torch uses the cores).

``adapter``: a LoRA adapter folder (``peft`` ``save_pretrained``, e.g. ``recchat train
llm-ranker``) loaded on top of the base weights (unmerged, so the label probabilities are the
ones the training computed); needs ``peft`` (``pip install 'recchat[train]'``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from agent.llm._common import (
    CallLog,
    as_dicts,
    cached_label_ids,
    parse_json,
    render_chat,
    renormalise,
    scoring_prompts,
)
from agent.llm.engine import Engine, EngineError, EngineTimeout, LLMCall, Message

log = logging.getLogger(__name__)


class TransformersEngine(Engine):
    """An HF causal LM in this process. ``model_dir`` is a local folder (or an HF id available
    offline); ``dtype`` a torch dtype name; ``batch_size`` the conversations per forward pass;
    ``device`` a torch device string; ``adapter`` an optional LoRA adapter folder (see the module
    doc). Weights load lazily on first use."""

    backend = "transformers"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        model_name: str | None = None,
        dtype: str = "bfloat16",
        device: str = "cpu",
        batch_size: int = 4,
        adapter: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.model_dir = str(model_dir)
        self.adapter = str(adapter) if adapter is not None else None
        self.model = model_name or Path(self.model_dir).name
        self.dtype = dtype
        self.device = device
        self.batch_size = max(1, batch_size)
        self._log = CallLog(self.calls)
        self._lock = threading.RLock()
        self._tokenizer: Any = None
        self._model: Any = None
        self._grammar_compiler: Any = None
        self._label_ids: dict[tuple[tuple[str, ...], str], list[int]] = {}
        self._closed = False

    # ------------------------------------------------------------------ loading
    @property
    def tokenizer(self) -> Any:
        """The model's HF tokenizer (lazily loaded)."""
        with self._lock:
            if self._tokenizer is None:
                self._check_open()
                from transformers import AutoTokenizer

                try:
                    self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
                except Exception as exc:  # noqa: BLE001
                    raise EngineError(f"cannot load the tokenizer from {self.model_dir}: {exc}") from exc
            return self._tokenizer

    def _lm(self) -> Any:
        with self._lock:
            if self._model is None:
                self._check_open()
                import torch
                from transformers import AutoModelForCausalLM

                try:
                    dtype = getattr(torch, self.dtype)
                    model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype)
                except Exception as exc:  # noqa: BLE001
                    raise EngineError(f"cannot load the model from {self.model_dir}: {exc}") from exc
                if self.adapter is not None:
                    model = with_adapter(model, self.adapter)
                self._model = model.to(self.device).eval()
            return self._model

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError("engine is closed")

    # ------------------------------------------------------------------ tokens
    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Token ids of ``text``."""
        return list(self.tokenizer.encode(text, add_special_tokens=add_special_tokens))

    def encode_chat(self, messages: list[Message] | list[dict[str, str]], prefill: str = "") -> list[int]:
        """Prompt ids of a chat (+ assistant ``prefill``), as an OpenAI-compatible server builds them."""
        tok = self.tokenizer
        return list(tok.encode(render_chat(tok, as_dicts(messages), prefill), add_special_tokens=False))

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` (no special tokens added)."""
        return len(self.encode(text))

    def label_token_ids(
        self, labels: list[str], messages: list[Message] | list[dict[str, str]] | None = None, prefill: str = ""
    ) -> list[int]:
        """Token id of each label as the next token after ``messages`` + ``prefill``; cached per
        ``(labels, prefill)``; :class:`EngineError` when a label is not one token there."""
        return cached_label_ids(self._label_ids, self.encode_chat, labels, messages, prefill)

    # ------------------------------------------------------------------ operations
    def score_choices(
        self, conversations: list[list[Message]], labels: list[str], prefill: str = ""
    ) -> list[dict[str, float]]:
        """See :meth:`Engine.score_choices`. Audit ``latency_s`` is the wall time of the batch
        the conversation was in."""
        if not conversations:
            return []
        ids, prompts = scoring_prompts(self, conversations, labels, prefill)
        results: list[dict[str, float]] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            convs = conversations[start : start + self.batch_size]
            t0 = time.perf_counter()
            error: str | None = None
            rows: list[list[float]] = []
            try:
                rows = self._label_logprobs(chunk, ids)
            except Exception as exc:  # noqa: BLE001 - a backend failure is an EngineError
                error = f"{type(exc).__name__}: {exc}"
            latency = time.perf_counter() - t0
            for i, (conv, prompt) in enumerate(zip(convs, chunk)):
                msgs = as_dicts(conv) + ([{"role": "assistant", "content": prefill}] if prefill else [])
                call = LLMCall(kind="score_choices", backend=self.backend, model=self.model, messages=msgs,
                               prompt_tokens=len(prompt), latency_s=latency, error=error)
                if error is None:
                    values, mass = renormalise(rows[i])
                    result = dict(zip(labels, values))
                    call.output = {"logprobs": result, "label_mass": mass, "top": max(result, key=result.__getitem__)}
                    results.append(result)
                self._log.add(call)
            if error is not None:
                raise EngineError(f"in-process scoring failed: {error}")
        return results

    def _label_logprobs(self, prompts: list[list[int]], ids: list[int]) -> list[list[float]]:
        """Full-vocabulary logprobs of ``ids`` at the position after each prompt (one batch)."""
        import torch

        with self._lock:
            model = self._lm()
            tok = self.tokenizer
            pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
            width = max(len(p) for p in prompts)
            input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
            mask = torch.zeros((len(prompts), width), dtype=torch.long)
            for row, p in enumerate(prompts):  # left padding: the last position is the prompt's end
                input_ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
                mask[row, width - len(p) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                out = model(
                    input_ids=input_ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    position_ids=positions.to(self.device),
                    logits_to_keep=1,
                    use_cache=False,
                )
            logprobs = out.logits[:, -1, :].float().log_softmax(-1)
            return logprobs[:, torch.tensor(ids, device=logprobs.device)].cpu().tolist()

    def generate_json(
        self, messages: list[Message], schema: dict[str, Any], max_tokens: int = 512, timeout_s: float | None = None
    ) -> Any:
        """See :meth:`Engine.generate_json`. Grammar-constrained greedy decoding (xgrammar);
        ``timeout_s`` stops decoding (transformers' ``max_time``) and raises :class:`EngineTimeout`."""
        msgs = as_dicts(messages)
        call = LLMCall(kind="generate_json", backend=self.backend, model=self.model, messages=msgs)
        t0 = time.perf_counter()
        try:
            constrained = self._xgrammar_processor(schema)
            if constrained is not None:
                text = self._generate(msgs, max_tokens, [constrained], call, sample=False, max_time=timeout_s)
                value = self._finish_json(text, schema, call, max_tokens)
            else:  # fallback: schema in the prompt, validate, one sampled retry
                hinted = [{"role": "system", "content": "Reply with JSON only, matching this JSON schema:\n"
                           + json.dumps(schema)}, *msgs]
                try:
                    text = self._generate(hinted, max_tokens, [], call, sample=False, max_time=timeout_s)
                    value = self._finish_json(text, schema, call, max_tokens)
                except EngineError as first:
                    log.info("unconstrained JSON failed (%s); retrying once", first)
                    text = self._generate(hinted, max_tokens, [], call, sample=True, max_time=timeout_s)
                    value = self._finish_json(text, schema, call, max_tokens)
            call.output = value
            return value
        except EngineError as exc:
            if timeout_s is not None and time.perf_counter() - t0 >= timeout_s:  # max_time cut the JSON short
                exc = EngineTimeout(f"generation stopped at its {timeout_s:g} s limit ({exc})")
            call.error = str(exc)
            raise exc
        except Exception as exc:  # noqa: BLE001
            call.error = f"{type(exc).__name__}: {exc}"
            raise EngineError(f"in-process generation failed: {call.error}") from exc
        finally:
            call.latency_s = time.perf_counter() - t0
            self._log.add(call)

    def _finish_json(self, text: str, schema: dict[str, Any], call: LLMCall, max_tokens: int) -> Any:
        call.output = text
        try:
            return parse_json(text, schema)
        except EngineError as exc:
            if call.completion_tokens >= max_tokens:
                raise EngineError(f"JSON output truncated at max_tokens={max_tokens}: {text[:200]!r}") from exc
            raise

    def _generate(
        self, msgs: list[dict[str, str]], max_tokens: int, processors: list[Any], call: LLMCall, sample: bool,
        max_time: float | None = None,
    ) -> str:
        import torch
        from transformers import LogitsProcessorList

        with self._lock:
            model = self._lm()
            tok = self.tokenizer
            prompt = torch.tensor([self.encode_chat(msgs)], dtype=torch.long, device=self.device)
            kwargs: dict[str, Any] = {"do_sample": True, "temperature": 0.7, "top_p": 0.95} if sample else {
                "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
            if max_time is not None:
                kwargs["max_time"] = max_time
            with torch.inference_mode():
                out = model.generate(
                    input_ids=prompt,
                    attention_mask=torch.ones_like(prompt),
                    max_new_tokens=max_tokens,
                    logits_processor=LogitsProcessorList(processors),
                    pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                    **kwargs,
                )
            new = out[0, prompt.shape[1] :].tolist()
        call.prompt_tokens = prompt.shape[1]
        call.completion_tokens = len(new)

        return tok.decode(new, skip_special_tokens=True)

    def _xgrammar_processor(self, schema: dict[str, Any]) -> Any:
        """A fresh xgrammar logits processor for ``schema``, or None when xgrammar is missing."""
        try:
            import xgrammar as xgr
            import xgrammar.contrib.hf as xgr_hf
        except ImportError:
            return None
        with self._lock:
            if self._grammar_compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self._lm().config.vocab_size)
                self._grammar_compiler = xgr.GrammarCompiler(info)
            try:
                grammar = self._grammar_compiler.compile_json_schema(json.dumps(schema))
            except Exception as exc:  # noqa: BLE001
                raise EngineError(f"cannot compile the JSON schema: {exc}") from exc
        return xgr_hf.LogitsProcessor(grammar)

    def close(self) -> None:
        """Drop the weights. Idempotent; later calls raise :class:`EngineError`."""
        with self._lock:
            self._closed = True
            self._model = None
            self._grammar_compiler = None


def with_adapter(model: Any, adapter: str) -> Any:
    """``model`` wrapped by the LoRA adapter saved in folder ``adapter`` (peft, unmerged).
    :class:`MissingDependencyError` without peft; :class:`EngineError` for a bad folder."""
    from agent.llm.install_hints import MissingDependencyError

    try:
        from peft import PeftModel
    except ImportError as exc:
        raise MissingDependencyError("a LoRA adapter needs peft: pip install 'recchat[train]' "
                                     "(or: pip install peft==0.21.0)") from exc
    if not (Path(adapter) / "adapter_config.json").is_file():
        raise EngineError(f"{adapter} holds no LoRA adapter (no adapter_config.json); train one with "
                          "recchat train llm-ranker")
    try:
        return PeftModel.from_pretrained(model, adapter)
    except Exception as exc:  # noqa: BLE001
        raise EngineError(f"cannot load the LoRA adapter from {adapter}: {type(exc).__name__}: {exc}") from exc
