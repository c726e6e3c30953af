"""What the person sees when the catalog index cannot serve: built by another embedder, or missing.

One message for the web UI, ``recchat ui`` and ``recchat chat``: which embedder built the index,
which one is configured, and the exact command that rebuilds it (or the setting that would use it
as it is). The facts come from the retrieval layer's own exception text, so nothing is guessed.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from retrieval.movielens import DATASETS

_BUILT_WITH = re.compile(r"built with (?:embedder )?'([^']*)'")
_CONFIGURED = re.compile(r"(?:configured embedder is|, not) '([^']*)'")


def rebuild_command(catalog: str, settings: Any) -> str:
    """``recchat index ... --rebuild`` for ``catalog`` with the configured embedder and Chroma.
    A bundled dataset is rebuilt by name; any other catalog from its file (the index does not
    record the file, so the command says where it goes)."""
    source = catalog if catalog in DATASETS else f"<your catalog file> --name {shlex.quote(catalog)}"
    parts = ["recchat", "index", source, "--rebuild", "--embedder", shlex.quote(str(settings.embedder))]
    if getattr(settings, "chroma_url", None):
        parts += ["--chroma-url", shlex.quote(settings.chroma_url)]
    return " ".join(parts)


def index_error_message(exc: BaseException, settings: Any, catalog: str | None = None) -> str:
    """A clear message for an :class:`~retrieval.store.IndexMismatchError` (``settings``: the
    configured :class:`~retrieval.settings.RetrievalSettings`; ``catalog`` defaults to its
    ``catalog``); other errors keep their own text."""
    from retrieval.store import IndexMismatchError

    if not isinstance(exc, IndexMismatchError):
        return str(exc)
    text = str(exc)
    built = _BUILT_WITH.search(text)
    configured = _CONFIGURED.search(text)
    index_embedder = built.group(1) if built else "another embedder"
    catalog = catalog or settings.catalog
    configured_id = configured.group(1) if configured else str(settings.embedder)
    configured_desc = repr(configured_id)
    if str(settings.embedder) != configured_id:
        configured_desc += f" (embedder = {settings.embedder!r})"
    return (
        f"The index of catalog {catalog!r} was built with embedder {index_embedder!r}, but recchat "
        f"is configured with {configured_desc}; vectors of two models cannot be mixed, so nothing can be "
        f"searched. Rebuild the index with the configured embedder:\n"
        f"    {rebuild_command(catalog, settings)}\n"
        f"or configure the embedder the index was built with "
        f"(RECCHAT_RETRIEVAL_EMBEDDER={shlex.quote(index_embedder)} or `embedder` in [retrieval] of recchat.toml)."
    )
