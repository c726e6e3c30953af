"""SASRec: a causal self-attention model of a user's item sequence (Kang and McAuley, "Self-Attentive
Sequential Recommendation", ICDM 2018), trained with full softmax cross-entropy over the catalog at
every position (the "SASRec+CE" of Klenitskiy and Vasilev, RecSys 2023, which trains faster and
ranks better than the paper's one-negative binary loss).

A history (oldest -> newest) is cut to its newest ``maxlen`` known items and left-padded with index
0; item ``ids[i]`` has embedding row ``i + 1``. The score of item ``j`` after a history is the dot
product of the last position's hidden state with item ``j``'s embedding (input and output
embeddings are shared, as in the paper). Training lives in :mod:`eval.train.sasrec`; this module
holds the network, scoring, and the saved format (``config.json`` + ``ids.json`` + ``model.pt``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from retrieval.ease import ItemScorer


class SASRecConfig(BaseModel):
    """Network shape (defaults: the paper's ML-1M setting, 2 blocks, 1 head, maxlen 200, dropout 0.2;
    hidden 64 instead of 50 so the width divides into heads)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_items: int = Field(gt=0, description="catalog items with interactions (rows 1..n_items; 0 = padding)")
    dim: int = Field(64, gt=0)
    blocks: int = Field(2, gt=0)
    heads: int = Field(1, gt=0)
    maxlen: int = Field(200, gt=1, description="newest items of a history the model reads")
    dropout: float = Field(0.2, ge=0.0, lt=1.0)


class SASRecNet(nn.Module):
    """Item + learned position embeddings -> pre-norm causal Transformer blocks -> LayerNorm."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        if cfg.dim % cfg.heads:
            raise ValueError(f"SASRec hidden size {cfg.dim} must be a multiple of the head count {cfg.heads}")
        self.cfg = cfg
        self.item_emb = nn.Embedding(cfg.n_items + 1, cfg.dim, padding_idx=0)
        self.pos_emb = nn.Embedding(cfg.maxlen, cfg.dim)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, cfg.dim, cfg.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        nn.init.normal_(self.item_emb.weight, std=cfg.dim ** -0.5)  # unit-scale inputs after the sqrt(dim) factor
        nn.init.normal_(self.pos_emb.weight, std=cfg.dim ** -0.5)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.register_buffer("causal", torch.triu(torch.ones(cfg.maxlen, cfg.maxlen, dtype=torch.bool), 1),
                             persistent=False)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, dim) of left-padded index sequences ``seq`` (B, L <= maxlen). A position
        attends to itself and earlier real items only, so a history's states do not depend on how
        much padding its batch adds; padded positions are zeroed."""
        length = seq.shape[1]
        pad = seq == 0
        keep = (~pad).unsqueeze(-1)
        x = self.item_emb(seq) * math.sqrt(self.cfg.dim)
        x = x + self.pos_emb.weight[self.cfg.maxlen - length:]  # positions counted back from the newest item
        x = self.drop(x) * keep
        blocked = self.causal[:length, :length].unsqueeze(0) | pad.unsqueeze(1)  # (B, query, key)
        blocked &= ~torch.eye(length, dtype=torch.bool)  # a padded query attends to itself: no empty softmax
        h = self.encoder(x, mask=blocked.repeat_interleave(self.cfg.heads, dim=0))
        return self.norm(h) * keep

    def item_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores (..., n_items) of every real item (padding row excluded) for hidden states (..., dim)."""
        return hidden @ self.item_emb.weight[1:].T


def atomic_save(obj: object, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def left_pad(rows: Sequence[Sequence[int]], length: int) -> torch.Tensor:
    """Index rows (each <= ``length``, values >= 1) as a (len(rows), length) long tensor, zeros on the left."""
    out = torch.zeros(len(rows), length, dtype=torch.long)
    for r, row in enumerate(rows):
        if row:
            out[r, length - len(row):] = torch.as_tensor(row, dtype=torch.long)
    return out


class SASRec(ItemScorer):
    """A trained :class:`SASRecNet` over ``ids`` with the :class:`~retrieval.ease.ItemScorer`
    interface (CPU inference, eval mode, no gradients)."""

    def __init__(self, net: SASRecNet, ids: Sequence[str]) -> None:
        if len(ids) != net.cfg.n_items:
            raise ValueError(f"SASRec has {net.cfg.n_items} item rows but {len(ids)} ids were given")
        self.net = net.eval()
        self.ids = list(ids)
        self.pos = {i: n for n, i in enumerate(self.ids)}

    def encode(self, history: Sequence[str]) -> list[int]:
        """The newest ``maxlen`` known items of ``history`` as embedding rows (1-based)."""
        return [self.pos[h] + 1 for h in history if h in self.pos][-self.net.cfg.maxlen:]

    @torch.no_grad()
    def scores_batch(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        """Scores (len(histories), len(ids)) float32; a history with no known item scores all zeros."""
        rows = [self.encode(h) for h in histories]
        out = np.zeros((len(rows), len(self.ids)), dtype=np.float32)
        live = [r for r, row in enumerate(rows) if row]
        if live:
            seq = left_pad([rows[r] for r in live], max(len(rows[r]) for r in live))
            out[live] = self.net.item_logits(self.net(seq)[:, -1]).numpy()
        return out

    def scores(self, history: Sequence[str]) -> np.ndarray:
        return self.scores_batch([history])[0]

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(self.net.cfg.model_dump_json(indent=1), encoding="utf-8")
        (folder / "ids.json").write_text(json.dumps(self.ids), encoding="utf-8")
        atomic_save(self.net.state_dict(), folder / "model.pt")
        return folder

    @classmethod
    def load(cls, folder: Path) -> "SASRec":
        """Load a folder written by :meth:`save`; FileNotFoundError names the training command."""
        missing = [n for n in ("config.json", "ids.json", "model.pt") if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} is not a trained SASRec model (missing {', '.join(missing)}); "
                                    "train one with: recchat train sasrec")
        cfg = SASRecConfig.model_validate_json((folder / "config.json").read_text(encoding="utf-8"))
        net = SASRecNet(cfg)
        net.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        return cls(net, json.loads((folder / "ids.json").read_text(encoding="utf-8")))


class SASRecEnsemble(ItemScorer):
    """Mean next-item log-probability of several trained models over the same ids (other seeds
    or shapes): each member's logits are log-softmaxed first, so no member's scale dominates. A
    history no member knows scores all zeros, as with one model."""

    def __init__(self, members: Sequence[ItemScorer]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one model")
        if any(m.ids != members[0].ids for m in members[1:]):
            raise ValueError("ensemble members must be trained on the same items (same ids.json)")
        self.members = list(members)
        self.ids = list(members[0].ids)
        self.pos = dict(members[0].pos)

    def scores_batch(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        from scipy.special import log_softmax

        total = sum(log_softmax(m.scores_batch(histories).astype(np.float64), axis=1) for m in self.members)
        live = np.array([any(h in self.pos for h in hist) for hist in histories], dtype=bool)
        return np.where(live[:, None], total / len(self.members), 0.0).astype(np.float32)

    def scores(self, history: Sequence[str]) -> np.ndarray:
        return self.scores_batch([history])[0]


def load_sasrec(spec: str, home: Path | None = None) -> tuple[ItemScorer, list[Path]]:
    """``spec``: one SASRec name or folder, or several joined by commas (an
    :class:`SASRecEnsemble`). Returns the model and its weight files (``model.pt`` per member)."""
    folders = [resolve_sasrec(name.strip(), home) for name in spec.split(",") if name.strip()]
    if not folders:
        raise ValueError(f"no SASRec model named in {spec!r}")
    models = [SASRec.load(f) for f in folders]
    return (models[0] if len(models) == 1 else SASRecEnsemble(models)), [f / "model.pt" for f in folders]


def describe(model: ItemScorer) -> str:
    """One line naming a SASRec or an ensemble's members (their shapes), for run records."""
    if isinstance(model, SASRecEnsemble):
        return "mean log-softmax of " + "; ".join(describe(m) for m in model.members)
    net = getattr(model, "net", None)
    return f"SASRec {net.cfg.model_dump()}" if net is not None else type(model).__name__


def sasrec_dir(name: str, home: Path | None = None) -> Path:
    """Where ``recchat train sasrec --name NAME`` writes: ``<home>/models/sasrec/<name>``."""
    from retrieval.config import recchat_home

    return (home or recchat_home()) / "models" / "sasrec" / name


def resolve_sasrec(name: str, home: Path | None = None) -> Path:
    """A model name (see :func:`sasrec_dir`) or a folder holding a saved model -> that folder."""
    from retrieval.assets import resolve_trained_folder

    return resolve_trained_folder(name, sasrec_dir(name, home), "model.pt", "SASRec model",
                                  f"recchat train sasrec --name {name}")


def find_sequence_model(setting: str | None, catalog: str, home: Path | None = None) -> Path | None:
    """The SASRec folder a chat over ``catalog`` uses: ``setting`` None or "" -> None (off);
    "auto" -> ``sasrec-<catalog>`` when it was trained on this machine, else None; any other
    value -> that name or folder (FileNotFoundError with the training command when absent)."""
    if not setting:
        return None
    if setting == "auto":
        folder = sasrec_dir(f"sasrec-{catalog}", home)
        return folder if (folder / "model.pt").is_file() else None
    return resolve_sasrec(setting, home)
