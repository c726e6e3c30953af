"""Shared configuration plumbing: the recchat home directory and the settings base class.

Every layer has ONE typed settings object (``RetrievalSettings``, ``AgentSettings``, ...) that
inherits :class:`LayerSettings`. Values come from, highest priority first:

1. keyword arguments (the CLI passes its options this way),
2. environment variables ``RECCHAT_<LAYER>_<FIELD>`` (e.g. ``RECCHAT_RETRIEVAL_EMBEDDER=mpnet``),
3. the ``[<layer>]`` table of ``recchat.toml`` (path from ``RECCHAT_CONFIG``, else ``./recchat.toml``),
4. the field defaults.

The home directory (caches, models, data, indexes) is ``RECCHAT_HOME``, default
``~/.cache/recchat``. Telemetry of Chroma and Gradio is switched off on import of this module.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Off by default; a user may still opt in by setting these variables before starting recchat.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def recchat_home() -> Path:
    """The one cache/data home: ``$RECCHAT_HOME`` or ``~/.cache/recchat`` (created on demand)."""
    home = Path(os.environ.get("RECCHAT_HOME") or Path.home() / ".cache" / "recchat").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def config_file() -> Path | None:
    """The ``recchat.toml`` in force, or None: ``$RECCHAT_CONFIG``, else ``./recchat.toml``."""
    explicit = os.environ.get("RECCHAT_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"RECCHAT_CONFIG points to {path}, which is not a file")
        return path
    local = Path("recchat.toml")
    return local if local.is_file() else None


class _TomlTableSource(PydanticBaseSettingsSource):
    """Reads one ``[table]`` of ``recchat.toml`` for one layer's settings."""

    def __init__(self, settings_cls: type[BaseSettings], table: str) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        path = config_file()
        if path is not None:
            with path.open("rb") as fh:
                try:
                    doc = tomllib.load(fh)
                except tomllib.TOMLDecodeError as exc:
                    raise ValueError(f"{path}: invalid TOML: {exc}") from exc
            section = doc.get(table, {})
            if not isinstance(section, dict):
                raise ValueError(f"{path}: [{table}] must be a table")
            self._data = section

    def get_field_value(self, field, field_name):  # pragma: no cover - unused by pydantic here
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class LayerSettings(BaseSettings):
    """Base for the per-layer settings objects. Subclasses set ``layer`` and ``model_config``."""

    layer: ClassVar[str] = ""
    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlTableSource(settings_cls, cls.layer))
