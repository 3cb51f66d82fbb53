"""Fixed-shape decoding state and step for the Transformer, so that a whole decoder step can be captured once in
a CUDA graph and replayed (decoding/static.py).

Why: at the sizes this suite trains, a GPU decoder step is a few hundred tiny kernels and the GPU waits for
Python to launch them (measured on an H200: 37 ms of kernels in a ~200 ms beam-5 run). A graph replays
them with one launch. That needs every shape fixed and no value read back by the host inside the step:
the caches are preallocated to max_len, the position is a 0-d tensor on the device, and a step attends
over all max_len positions with the ones not yet written masked out (exact: they get probability 0).
"""
from __future__ import annotations

import math

import torch

from seqgap_lab.models.kvcache import for_matmul

NEG_INF = float("-inf")


class StaticState:
    """Decoder state of N = sources x group rows with fixed shapes: per-row self-attention keys and values
    kv (L, 2, N, H, max_len, dh), cross-attention keys/values once per source, the position `pos` (0-d long
    tensor, the next position to write) on the device. Everything is updated in place."""

    def __init__(self, model, memory: torch.Tensor, src_mask: torch.Tensor, group: int, max_len: int):

        c = model.config
        if max_len > c.max_positions:
            raise ValueError(f"max_len = {max_len} exceeds ModelConfig.max_positions = {c.max_positions}")
        self.cross = tuple(for_matmul(*layer.cross_attn.keys_values(memory)) for layer in model.decoder)
        self.src_mask, self.group = src_mask, group  # (B, S) per source; rows b*group + j
        n, h = memory.shape[0] * group, c.num_heads
        self.kv = memory.new_zeros(len(model.decoder), 2, n, h, max_len, c.d_model // h)
        self.pos = torch.zeros((), dtype=torch.long, device=memory.device)
        self.steps = torch.arange(max_len, device=memory.device)  # (T,) to mask unwritten positions

    @property
    def rows(self) -> int:
        """Rows decoded (sources x group)."""
        return self.kv.shape[2]

    def reorder_(self, rows: torch.Tensor) -> None:
        """Row i takes the history of row rows[i] (N,), in place (one gather of the whole cache: on a GPU a few
        microseconds at these sizes, and a fixed shape, unlike models.kvcache.BeamKV's growing slot table)."""
        self.kv.copy_(self.kv.index_select(2, rows))


def static_step(model, prev: torch.Tensor, st: StaticState) -> torch.Tensor:
    """prev (N,) -> logits (N, V); writes this position's keys/values into st.kv and advances st.pos.
    The same arithmetic as TransformerSeq2Seq.step with its BeamKV (q scaled before the matmul), over all
    max_len positions with the unwritten ones masked."""
    d = model.config.d_model
    where = st.pos.view(1)  # (1,) the position this step writes
    x = model.embed(prev[:, None]) * math.sqrt(d)  # (N, 1, D)
    if model.rope is None:  # a rotary model turns its queries and keys instead (in _self_attention)
        x = x + model.positions.index_select(0, where)
    hidden = st.steps > st.pos  # (T,) positions not written yet
    for i, layer in enumerate(model.decoder):
        x = x + _self_attention(layer.self_attn, layer.ln1(x), st.kv[i], where, hidden)
        y, _ = layer.cross_attn.attend_cached(layer.ln2(x), *st.cross[i], st.src_mask, st.group)
        x = x + y
        x = x + layer.ffn(layer.ln3(x))
    st.pos.add_(1)
    return model._logits(x)[:, 0]


def _self_attention(attn, h: torch.Tensor, kv: torch.Tensor, where: torch.Tensor, hidden: torch.Tensor):
    """One query per row h (N, 1, D) over the row's cache kv (2, N, H, T, dh), after writing h's own keys and
    values at position `where`; -> (N, 1, D)."""
    k, v = attn.kv(h).chunk(2, dim=-1)
    k = attn.turn(attn.split(k), where)  # (N, H, 1, dh), rotated to `where` in a rotary model
    kv[0].index_copy_(2, where, k.to(kv.dtype))  # into (N, H, T, dh); bf16 under autocast
    kv[1].index_copy_(2, where, attn.split(v).to(kv.dtype))
    q = attn.turn(attn.split(attn.q(h) * (1.0 / math.sqrt(attn.dh))), where)  # (N, H, 1, dh)
    scores = (q @ kv[0].transpose(-2, -1)).masked_fill(hidden, NEG_INF)  # (N, H, 1, T)
    y = (scores.softmax(-1) @ kv[1]).transpose(1, 2).reshape(h.shape[0], 1, -1)  # (N, 1, D)
    return attn.out(y)
