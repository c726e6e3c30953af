"""The catalog item value object and the one place where its embedded document text is built."""

from __future__ import annotations

import hashlib
import json
from typing import Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from retrieval.titles import display_title
from retrieval.untrusted import strip_instructions

# Extra metadata values: scalars, or a non-empty list of strings (what Chroma metadata can hold).
ExtraValue = Union[str, int, float, bool, list[str]]

# Metadata keys reserved by recchat in the vector store.
RESERVED_KEYS = frozenset({"title", "year", "genres", "content_hash", "text"})

#: ``extra`` fields embedded first, in this order (see :meth:`Item.document`).
DOCUMENT_FIRST: tuple[str, ...] = ("overview", "tagline", "keywords", "director", "cast", "writer")
#: How many cast names (the most prominent: billing or prominence order) the document carries.
DOCUMENT_CAST = 4
#: Free-text fields: untrusted, embedded only after :func:`retrieval.untrusted.strip_instructions`.
FREE_TEXT: frozenset[str] = frozenset({"overview", "tagline", "keywords"})
#: Fact fields that are filtered and checked on, never embedded (numbers and codes).
NOT_EMBEDDED = frozenset({"runtime_min", "certificate", "oscars_won", "oscar_nominations", "metacritic", "rt_meter",
                          "imdb_rating", "imdb_votes", "original_language",
                          "primary_language"})


class Item(BaseModel):
    """One catalog entry.

    Invariants: ``id`` is non-empty and unique within a catalog; ``genres`` holds no empty or
    duplicate names (order kept); ``extra`` never uses a reserved key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    text: str = ""
    year: int | None = None
    genres: tuple[str, ...] = ()
    extra: dict[str, ExtraValue] = Field(default_factory=dict)

    @field_validator("id", "title")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("genres", mode="before")
    @classmethod
    def _genres(cls, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.split("|")
        seen: dict[str, None] = {}
        for genre in value:  # type: ignore[union-attr]
            name = str(genre).strip()
            if name:
                seen.setdefault(name, None)
        return tuple(seen)

    @field_validator("extra")
    @classmethod
    def _extra(cls, value: dict[str, ExtraValue]) -> dict[str, ExtraValue]:
        clash = RESERVED_KEYS & value.keys()
        if clash:
            raise ValueError(f"extra fields may not use reserved names {sorted(clash)}")
        return {k: v for k, v in value.items() if not (isinstance(v, list) and not v)}

    @property
    def label(self) -> str:
        """``"Title (Year)"`` as shown to people (:func:`retrieval.titles.display_title`)."""
        return display_title(self.title, self.year)

    def document(self, raw: bool = False) -> str:
        """The text that is embedded for this item: what describes the film, not every fact.

        Title (year), genres, description, then the describing ``extra`` fields in
        :data:`DOCUMENT_FIRST` order (the overview, tagline, keywords, director, the first
        :data:`DOCUMENT_CAST` cast names, writer), then any other field sorted by name as
        ``"Key: value."``. Numeric facts (:data:`NOT_EMBEDDED`: runtime, certificate, scores,
        Oscar counts) are filtered on, not embedded. Free text (the description, the
        :data:`FREE_TEXT` fields and any other string of more than three words) is embedded
        without the sentences :func:`retrieval.untrusted.strip_instructions` drops (text that
        addresses the system or promotes its own item must not pull a query towards it).
        ``raw=True`` embeds the free text as it is (only to measure what the stripping buys).
        """
        keep = (lambda text: text) if raw else strip_instructions
        parts = [self.label]
        if self.genres:
            parts.append("Genres: " + ", ".join(self.genres) + ".")
        if self.text:
            parts.append(keep(self.text))
        rest = sorted(k for k in self.extra if k not in DOCUMENT_FIRST and k not in NOT_EMBEDDED)
        for key in (*(k for k in DOCUMENT_FIRST if k in self.extra), *rest):
            value = self.extra[key] if raw else untrusted_value(key, self.extra[key])
            if key == "overview":
                parts.append(str(value))
                continue
            values = value[:DOCUMENT_CAST] if key == "cast" and isinstance(value, list) else value
            shown = ", ".join(values) if isinstance(values, list) else str(values)
            if shown.strip():
                parts.append(f"{key.replace('_', ' ').capitalize()}: {shown.rstrip('.')}.")
        return " ".join(p for p in parts if p)

    def metadata(self) -> dict[str, ExtraValue]:
        """Flat metadata for the vector store (lists kept as lists; None values dropped)."""
        meta: dict[str, ExtraValue] = {"title": self.title, "content_hash": self.content_hash()}
        if self.year is not None:
            meta["year"] = self.year
        if self.genres:
            meta["genres"] = list(self.genres)
        if self.text:
            meta["text"] = self.text
        meta.update(self.extra)
        return meta

    def content_hash(self) -> str:
        """sha256 (hex, 16 chars) of everything that affects the embedding or the metadata."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def from_metadata(cls, item_id: str, meta: dict[str, ExtraValue]) -> "Item":
        """Rebuild an item from vector-store metadata (inverse of :meth:`metadata`)."""
        extra = {k: v for k, v in meta.items() if k not in RESERVED_KEYS}
        return cls(
            id=item_id,
            title=str(meta["title"]),
            year=meta.get("year"),  # type: ignore[arg-type]
            genres=meta.get("genres") or (),  # type: ignore[arg-type]
            text=str(meta.get("text") or ""),
            extra=extra,
        )


def untrusted_value(key: str, value: ExtraValue) -> ExtraValue:
    """``value`` of the ``extra`` field ``key`` without instruction-like sentences: always for the
    :data:`FREE_TEXT` fields (each keyword on its own; a flagged keyword is dropped), and for any
    other string of more than three words (a name or a code is left as it is)."""
    if isinstance(value, list):
        if key in FREE_TEXT:
            return [v for v in (strip_instructions(str(x)) for x in value) if v.strip()]
        return [strip_instructions(v) if len(v.split()) > 3 else v for v in value]
    if isinstance(value, str) and (key in FREE_TEXT or len(value.split()) > 3):
        return strip_instructions(value)
    return value
