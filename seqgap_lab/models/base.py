"""The one interface every seq2seq model implements, and its incremental decoder state."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from seqgap_lab.data.vocab import PAD


def _index(value, idx: torch.Tensor, dim: int):
    if value is None:
        return None
    if hasattr(value, "reorder_rows"):  # a cache that reorders itself (models.kvcache.BeamKV)
        return value.reorder_rows(idx)
    if isinstance(value, torch.Tensor):
        return value.index_select(dim, idx)
    return type(value)(_index(v, idx, dim) for v in value)


@dataclass
class DecoderState:
    """Incremental decoding state; every tensor (or tuple of tensors) in `tensors` has batch on dim 0.

    `step` counts the tokens already fed. `reorder(idx)` selects/duplicates rows (beam search) and
    returns a new state; nothing is recomputed. Optional `shared` tensors are stored once per source
    (dim 0 = source) with `rows` (N,) naming each row's source: reordering beams then moves an index,
    not the per-source tensors (a Transformer's cross-attention keys/values are the same for every beam
    of a sentence). They are compacted only when a source loses all its rows.
    """

    tensors: dict = field(default_factory=dict)
    step: int = 0
    shared: dict = field(default_factory=dict)
    rows: torch.Tensor | None = None

    def reorder(self, idx: torch.Tensor) -> "DecoderState":
        """Rows of the batch picked by idx (a 1-D long tensor), for beams and pruning finished rows."""
        tensors = {k: _index(v, idx, 0) for k, v in self.tensors.items()}
        if self.rows is None:
            return DecoderState(tensors, self.step)
        rows, shared = self.rows.index_select(0, idx), self.shared
        used, inverse = torch.unique(rows, return_inverse=True)  # sorted: kept sources stay in order
        if len(used) < self.num_sources:
            shared, rows = {k: _index(v, used, 0) for k, v in shared.items()}, inverse
        return DecoderState(tensors, self.step, shared, rows)

    def __getitem__(self, key: str):
        return self.tensors[key]

    @property
    def num_sources(self) -> int:
        """Sources held in `shared` (0 without shared tensors)."""
        first = next(iter(self.shared.values()), None)
        while isinstance(first, (tuple, list)):
            first = first[0]
        return 0 if first is None else first.shape[0]

    def beams_per_source(self) -> int | None:
        """k when rows are sources 0..n-1 each repeated k times in order (the layout beam search keeps),
        else None (then per-row gathers are needed)."""
        n, s = self.rows.shape[0], self.num_sources
        if s == 0 or n % s:
            return None
        k = n // s
        expected = torch.arange(s, device=self.rows.device).repeat_interleave(k)
        return k if torch.equal(self.rows, expected) else None

    @property
    def batch_size(self) -> int:
        """Rows in the state."""
        return self["src_mask"].shape[0]


class Seq2SeqModel(nn.Module):
    """Base class: encode / init_state / step / forward. Knows nothing of training strategies."""

    kind = "base"

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """(B, S) ids -> memory (B, S, D)."""
        raise NotImplementedError

    def init_state(self, memory: torch.Tensor, src_mask: torch.Tensor, beam: int = 1) -> DecoderState:
        """State before the first decoder step; each source row repeated `beam` times (row-major)."""
        raise NotImplementedError

    def step(self, prev_tokens: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """One decoder step: prev_tokens (B,) -> logits (B, V) and the advanced state."""
        raise NotImplementedError

    def static_state(self, memory: torch.Tensor, src_mask: torch.Tensor, group: int = 1, max_len: int = 128):
        """Fixed-shape decoder state for graph-captured decoding (decoding/static.py); only some models have it."""
        raise NotImplementedError(f"{type(self).__name__} has no fixed-shape decoding state (static_state): "
                                  "use decoding.greedy / decoding.beam_search, which work with every model")

    def static_step(self, prev_tokens: torch.Tensor, state) -> torch.Tensor:
        """One step on a static_state: prev_tokens (N,) -> logits (N, V), the state updated in place."""
        raise NotImplementedError(f"{type(self).__name__} has no static_step")

    def decode_forward(self, memory: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder over a whole prefix given the memory: (B, T) -> logits (B, T, V)."""
        raise NotImplementedError

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits for every target position in one call: (B, T, V)."""
        if src_mask is None:
            src_mask = src != PAD
        return self.decode_forward(self.encode(src, src_mask), src_mask, tgt_in)

    @staticmethod
    def repeat_beam(x: torch.Tensor, beam: int) -> torch.Tensor:
        """Repeat each batch row `beam` times along dim 0 (row-major: b0,b0,..,b1,b1,..)."""
        return x if beam == 1 else x.repeat_interleave(beam, dim=0)

    def num_parameters(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
