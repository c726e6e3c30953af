"""GPU check: rerank throughput, explanation tokens/s and embedding throughput on a randomly
initialised model of a real architecture (built from its config: no weights are downloaded).

Run: ``recchat bench gpu [--arch qwen2.5-7b] [--device cuda] [--vllm/--no-vllm] [--out gpu.json]``.
Speed does not depend on the weights' values, so a random Qwen2.5-7B measures what the trained one
would cost. What is timed, each after an untimed warm-up:

* ``rerank``: the product's :class:`agent.ranking.rerank.VerbalizerRanker` prompts (20 synthetic catalog
  candidates, a 3-turn conversation) scored by the in-process :class:`TransformersEngine`
  (``batch_size`` conversations per forward pass) -> prompts/s;
* ``explain``: greedy decoding of exactly ``--explain-tokens`` tokens after the product's
  :class:`agent.reasons.explain.Explainer` prompt, for 1 and ``--explain-batch`` sequences -> tokens/s;
* ``embed``: a sentence-transformers model of the MiniLM-L6 architecture (random weights, the real
  tokenizer) encoding synthetic item documents -> items/s (the retriever's indexing rate);
* ``vllm`` (optional): the same rerank prompts through a local vLLM server started by the product
  with ``--load-format dummy`` -> prompts/s; skipped with the reason when vLLM is not importable.

Only tokenizers are needed: ``--llm-tokenizer`` (default: the bundled Qwen2.5-Coder-0.5B folder,
which shares Qwen2.5-7B's tokenizer) and ``--embedder-tokenizer`` (default: the bundled MiniLM).
``--arch tiny`` is a 2-layer model of the same family for checking this script on a CPU.
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

# Qwen2.5-7B-Instruct's config.json (the published architecture); "tiny" keeps the family and vocab.
ARCHS: dict[str, dict[str, Any]] = {
    "qwen2.5-7b": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                   "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
                   "max_position_embeddings": 32768, "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6,
                   "tie_word_embeddings": False},
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 4096,
             "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True},
}
# all-MiniLM-L6-v2's config.json
MINILM = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536,
          "vocab_size": 30522, "max_position_embeddings": 512}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "vocab.txt",
                    "special_tokens_map.json", "chat_template.jinja", "generation_config.json")
QUESTIONS = ("a tense crime thriller from the 90s, not horror", "something with a lone gunslinger, please",
             "ok, but newer than 1980 and no war films")


def model_dir(arch: str, tokenizer: Path, target: Path) -> Path:
    """A model folder with ``arch``'s Qwen2 config.json and the tokenizer files of ``tokenizer`` (no weights)."""
    from transformers import Qwen2Config

    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}: one of {sorted(ARCHS)}")
    target.mkdir(parents=True, exist_ok=True)
    Qwen2Config(architectures=["Qwen2ForCausalLM"], torch_dtype="bfloat16", **ARCHS[arch]).save_pretrained(target)
    copied = [shutil.copy(tokenizer / name, target / name) for name in _TOKENIZER_FILES if (tokenizer / name).is_file()]
    if not any(Path(c).name == "tokenizer.json" for c in copied) and not (target / "vocab.json").is_file():
        raise FileNotFoundError(f"{tokenizer} holds no tokenizer.json or vocab.json")
    return target


def _random_engine(folder: Path, device: str, dtype: str, batch_size: int):
    """A TransformersEngine whose model is built from ``folder``'s config with random weights, on ``device``."""
    from agent.llm.transformers_engine import TransformersEngine

    class RandomInitEngine(TransformersEngine):
        def _lm(self) -> Any:
            with self._lock:
                if self._model is None:
                    import torch
                    from transformers import AutoConfig, AutoModelForCausalLM

                    torch.manual_seed(0)
                    with torch.device(self.device):  # initialise in place: a 7B model never visits the host
                        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(self.model_dir),
                                                                 dtype=getattr(torch, self.dtype))
                    self._model = model.eval()
                return self._model

    return RandomInitEngine(folder, model_name=folder.name, dtype=dtype, device=device, batch_size=batch_size)


def _workload(n_prompts: int, count_tokens) -> tuple[list, list]:
    """(contexts, candidate lists): ``n_prompts`` distinct conversations, 20 synthetic candidates each."""
    from agent.understanding.context import build_context
    from agent.types import Turn
    from bench.scale import scale_items
    from retrieval.candidates import Candidate

    items = scale_items(20 * n_prompts, seed=7)
    contexts, pools = [], []
    for i in range(n_prompts):
        turns = [Turn("user", f"{QUESTIONS[0]} (#{i})"), Turn("assistant", "Here are a few picks."),
                 Turn("user", QUESTIONS[1]), Turn("assistant", "Any limits?"), Turn("user", QUESTIONS[2])]
        contexts.append(build_context(turns, count_tokens, 1024))
        pools.append([Candidate(item=it, score=0.5, rank=r) for r, it in enumerate(items[20 * i: 20 * (i + 1)])])
    return contexts, pools


def _time_rerank(engine, ranker, contexts, pools, labels) -> dict[str, Any]:
    convs = [ranker.messages(c, p) for c, p in zip(contexts, pools)]
    engine.score_choices(convs[:2], labels, prefill=ranker.prefill)  # warm-up (and weight init)
    t0 = time.perf_counter()
    engine.score_choices(convs, labels, prefill=ranker.prefill)
    seconds = time.perf_counter() - t0
    return {"prompts": len(convs), "seconds": round(seconds, 3), "prompts_per_s": round(len(convs) / seconds, 2)}


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time_explain(engine, contexts, pools, tokens: int, batch: int, device: str) -> dict[str, Any]:
    """Greedy decoding of exactly ``tokens`` new tokens for 1 and ``batch`` explanation prompts."""
    import torch

    from agent.reasons.explain import Explainer
    from agent.settings import AgentSettings
    from agent.types import ScoredCandidate

    explainer = Explainer(engine, AgentSettings())
    prompts = [engine.encode_chat([m.as_dict() for m in explainer.messages(
        c, [ScoredCandidate(x, 1.0) for x in p[:3]])]) for c, p in zip(contexts, pools)]
    model, tok = engine._lm(), engine.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    out: dict[str, Any] = {"new_tokens": tokens, "prompt_tokens": len(prompts[0])}
    for n in sorted({1, batch}):
        rows = prompts[:n]
        width = max(map(len, rows))
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        kwargs = {"max_new_tokens": tokens, "min_new_tokens": tokens, "do_sample": False, "pad_token_id": pad,
                  "temperature": None, "top_p": None, "top_k": None}
        with torch.inference_mode():
            model.generate(input_ids=ids, attention_mask=mask, **{**kwargs, "max_new_tokens": 4, "min_new_tokens": 4})
            _sync(device)
            t0 = time.perf_counter()
            model.generate(input_ids=ids, attention_mask=mask, **kwargs)
            _sync(device)
        seconds = time.perf_counter() - t0
        out[f"batch_{n}"] = {"seconds": round(seconds, 3), "tokens_per_s": round(n * tokens / seconds, 1),
                             "tokens_per_s_per_sequence": round(tokens / seconds, 1)}
    return out


def _time_embed(tokenizer: Path, device: str, n_items: int, work: Path) -> dict[str, Any]:
    """Items/s of a random-weight MiniLM-L6 sentence-transformers model over synthetic documents."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    from bench.scale import scale_items

    folder = work / "minilm-random"
    torch.manual_seed(0)
    BertModel(BertConfig(**MINILM)).save_pretrained(folder)
    for name in _TOKENIZER_FILES:
        if (tokenizer / name).is_file():
            shutil.copy(tokenizer / name, folder / name)
    body = models.Transformer(str(folder), max_seq_length=256)
    model = SentenceTransformer(modules=[body, models.Pooling(MINILM["hidden_size"], "mean"), models.Normalize()],
                                device=device)
    texts = [it.document() for it in scale_items(n_items, seed=3)]
    model.encode(texts[:256], batch_size=128)
    _sync(device)
    t0 = time.perf_counter()
    vecs = model.encode(texts, batch_size=128)
    _sync(device)
    seconds = time.perf_counter() - t0
    return {"items": n_items, "dim": int(vecs.shape[1]), "seconds": round(seconds, 3),
            "items_per_s": round(n_items / seconds, 1)}


def _time_vllm(folder: Path, contexts, pools, labels) -> dict[str, Any]:
    from agent.llm.engines import make_engine
    from agent.ranking.rerank import VerbalizerRanker
    from agent.settings import AgentSettings

    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        return {"status": "skipped", "reason": f"vllm is not importable here: {exc}"}
    settings = AgentSettings(llm=str(folder), extra_server_args=["--load-format", "dummy"], request_timeout_s=600)
    t0 = time.perf_counter()
    engine = make_engine(settings)
    try:
        start_s = time.perf_counter() - t0
        row = _time_rerank(engine, VerbalizerRanker(engine, settings), contexts, pools, labels)
        return {"status": "ok", "server_start_s": round(start_s, 1), **row}
    finally:
        engine.close()


def run(out: Path, *, arch: str = "qwen2.5-7b", device: str = "cuda", dtype: str = "bfloat16",
        llm_tokenizer: Path | None = None, embedder_tokenizer: Path | None = None, prompts: int = 64,
        batch_size: int = 16, explain_tokens: int = 256, explain_batch: int = 8, embed_items: int = 20_000,
        vllm: bool = True) -> dict[str, Any]:
    """Every measurement above; writes ``out`` (JSON) after each, so a later failure keeps the rest."""
    import torch

    from agent.llm.engines import resolve_model
    from agent.ranking.labels import candidate_labels
    from agent.ranking.rerank import VerbalizerRanker
    from agent.settings import AgentSettings
    from retrieval.embedder import resolve_embedder

    llm_tokenizer = Path(llm_tokenizer or resolve_model(AgentSettings().llm))
    embedder_tokenizer = Path(embedder_tokenizer or resolve_embedder("minilm"))
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    results: dict[str, Any] = {
        "benchmark": "gpu", "arch": arch, "architecture": ARCHS.get(arch), "device": device, "gpu": gpu,
        "dtype": dtype, "torch": torch.__version__, "platform": platform.platform(),
        "config": {"prompts": prompts, "batch_size": batch_size, "candidates": 20, "explain_tokens": explain_tokens,
                   "explain_batch": explain_batch, "embed_items": embed_items}}

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")

    work = Path(tempfile.mkdtemp(prefix="rc-gpu-"))
    try:
        folder = model_dir(arch, llm_tokenizer, work / f"{arch}-random")
        engine = _random_engine(folder, device, dtype, batch_size)
        settings = AgentSettings()
        ranker = VerbalizerRanker(engine, settings)
        labels = candidate_labels(20)
        contexts, pools = _workload(prompts, engine.count_tokens)
        t0 = time.perf_counter()
        engine._lm()
        _sync(device)
        results["model_init_s"] = round(time.perf_counter() - t0, 1)
        results["parameters"] = sum(p.numel() for p in engine._lm().parameters())
        results["rerank_prompt_tokens"] = len(engine.encode_chat([m.as_dict() for m in ranker.messages(contexts[0], pools[0])],
                                                                 prefill=ranker.prefill))
        results["rerank_transformers"] = _time_rerank(engine, ranker, contexts, pools, labels)
        save()
        results["explain_transformers"] = _time_explain(engine, contexts, pools, explain_tokens, explain_batch, device)
        save()
        engine.close()
        del engine
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        results["embed"] = _time_embed(embedder_tokenizer, device, embed_items, work)
        save()
        if vllm:
            results["rerank_vllm"] = _time_vllm(folder, contexts, pools, labels)
            save()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save()
    return results
