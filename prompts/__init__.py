"""Prompt templates (``prompts/*.txt``) and the one loader that renders them.

Templates use :class:`string.Template` syntax (``$name`` / ``${name}``; ``$$`` is a literal
dollar). Rendering is strict: a placeholder without a value, or a value without a placeholder,
raises :class:`PromptError` naming the template and the names. Values are inserted verbatim
(substitution is not recursive, so a ``$x`` inside a value stays text); callers sanitise
untrusted text (catalog items, user messages) before rendering.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

PROMPT_DIR = Path(__file__).resolve().parent


class PromptError(KeyError):
    """A template is missing, or its placeholders and the given values do not match."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def template_names() -> list[str]:
    """Names (file stems) of the templates shipped in ``prompts/``."""
    return sorted(p.stem for p in PROMPT_DIR.glob("*.txt"))


def placeholders(name: str) -> set[str]:
    """The placeholder names used by template ``name``."""
    return set(_load(name).get_identifiers())


def render(name: str, **values: object) -> str:
    """Render template ``prompts/<name>.txt`` with ``values`` (each converted with ``str``).

    Raises :class:`PromptError` when the template does not exist, when a placeholder has no
    value, or when a value matches no placeholder (a likely typo).
    """
    template = _load(name)
    wanted = set(template.get_identifiers())
    missing = sorted(wanted - values.keys())
    unknown = sorted(values.keys() - wanted)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing values for {missing}")
        if unknown:
            parts.append(f"unexpected values {unknown}")
        raise PromptError(f"prompt template {name!r}: " + "; ".join(parts) + f" (placeholders: {sorted(wanted)})")
    try:
        return template.substitute({k: str(v) for k, v in values.items()})
    except ValueError as exc:  # a malformed "$" in the template file itself
        raise PromptError(f"prompt template {name!r} is malformed: {exc}") from exc


def _load(name: str) -> Template:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise PromptError(f"invalid prompt template name {name!r}")
    path = PROMPT_DIR / f"{name}.txt"
    if not path.is_file():
        raise PromptError(f"no prompt template {name!r} in {PROMPT_DIR} (have: {template_names()})")
    text = path.read_text(encoding="utf-8")
    return Template(text[:-1] if text.endswith("\n") else text)
