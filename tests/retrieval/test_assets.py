"""retrieval.assets: checksums, part concatenation, atomic publishing, on-demand pip installs."""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

import pytest

from retrieval.assets import (
    MARKER,
    AssetError,
    atomic_dir,
    concat_parts,
    ensure_distributions,
    ensure_published,
    is_published,
    missing_distributions,
    read_marker,
    sha256_file,
)


def _leftovers(target: Path) -> list[Path]:
    return list(target.parent.glob(f".{target.name}.tmp-*"))


@pytest.fixture
def parts(tmp_path: Path) -> list[Path]:
    paths = []
    for i, payload in enumerate([b"alpha-" * 1000, b"beta-" * 777, b"gamma"]):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(payload)
        paths.append(path)
    return paths


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100_003)
    assert sha256_file(path, progress=False) == hashlib.sha256(b"x" * 100_003).hexdigest()


def test_concat_parts_in_order_with_checksum(tmp_path: Path, parts: list[Path]) -> None:
    whole = b"".join(p.read_bytes() for p in parts)
    dest = concat_parts(parts, tmp_path / "whole.bin", hashlib.sha256(whole).hexdigest(), progress=False)
    assert dest.read_bytes() == whole


def test_concat_parts_refuses_checksum_mismatch(tmp_path: Path, parts: list[Path]) -> None:
    whole = b"".join(p.read_bytes() for p in parts)
    with pytest.raises(AssetError, match="sha256 mismatch"):
        # wrong order -> wrong digest; the half-good file must not stay behind
        concat_parts(list(reversed(parts)), tmp_path / "whole.bin", hashlib.sha256(whole).hexdigest(), progress=False)
    assert not (tmp_path / "whole.bin").exists()


def test_concat_parts_missing_part(tmp_path: Path, parts: list[Path]) -> None:
    with pytest.raises(AssetError, match="not found"):
        concat_parts([*parts, tmp_path / "nope.bin"], tmp_path / "whole.bin", None, progress=False)


def test_atomic_dir_publishes_with_marker(tmp_path: Path) -> None:
    target = tmp_path / "asset"
    with atomic_dir(target, {"source": "test"}) as tmp:
        assert tmp.parent == target.parent and not target.exists()
        (tmp / "data.txt").write_text("ok")
    assert is_published(target) and (target / "data.txt").read_text() == "ok"
    assert read_marker(target)["source"] == "test"
    assert _leftovers(target) == []


def test_atomic_dir_exception_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "asset"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_dir(target) as tmp:
            (tmp / "half.bin").write_bytes(b"12")
            raise RuntimeError("boom")
    assert not target.exists() and _leftovers(target) == []


def test_atomic_dir_replaces_incomplete_target(tmp_path: Path) -> None:
    target = tmp_path / "asset"
    target.mkdir()
    (target / "stale.bin").write_bytes(b"old")  # no marker: not taken as good
    assert not is_published(target)
    with atomic_dir(target) as tmp:
        (tmp / "new.bin").write_bytes(b"new")
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "new.bin"]
    assert _leftovers(target) == []


def test_ensure_published_builds_once_and_cleans_stale(tmp_path: Path) -> None:
    target = tmp_path / "asset"
    stale = tmp_path / ".asset.tmp-crashed"  # what a killed build leaves
    stale.mkdir()
    (stale / "half.bin").write_bytes(b"1")
    calls: list[Path] = []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "v.txt").write_text(str(len(calls)))

    assert ensure_published(target, build) == target
    assert ensure_published(target, build) == target
    assert len(calls) == 1 and not stale.exists()
    ensure_published(target, build, force=True)
    assert (target / "v.txt").read_text() == "2" and _leftovers(target) == []


def test_ensure_published_failed_build_keeps_previous(tmp_path: Path) -> None:
    target = tmp_path / "asset"
    ensure_published(target, lambda tmp: (tmp / "v.txt").write_text("good"))

    def broken(tmp: Path) -> None:
        (tmp / "v.txt").write_text("half")
        raise KeyboardInterrupt  # e.g. Ctrl-C mid-way

    with pytest.raises(KeyboardInterrupt):
        ensure_published(target, broken, force=True)
    assert is_published(target) and (target / "v.txt").read_text() == "good"
    assert _leftovers(target) == []


def test_ensure_distributions_noop_when_installed() -> None:
    version = importlib.metadata.version("pytest")
    assert missing_distributions([f"pytest=={version}"]) == []
    ensure_distributions([f"pytest=={version}"])


def test_ensure_distributions_without_install_names_command() -> None:
    with pytest.raises(AssetError) as err:
        ensure_distributions(["recchat-no-such-part==0.0.1"], allow_install=False)
    assert "pip install --no-deps recchat-no-such-part==0.0.1" in str(err.value)


def test_ensure_distributions_pip_failure_names_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # no index and an empty find-links dir: pip fails at once, without touching the network
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(AssetError) as err:
        ensure_distributions(["recchat-no-such-part==0.0.1"])
    assert "pip install --no-deps recchat-no-such-part==0.0.1" in str(err.value)


def test_requirement_must_pin_version() -> None:
    with pytest.raises(ValueError):
        missing_distributions(["pytest"])
