"""Catalog schema and loading, embedder, Chroma store, candidate retrieval. Knows no LLM and no chat."""
