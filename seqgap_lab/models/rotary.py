"""Rotary position embeddings (Su et al. 2021, RoFormer) for the Transformer's self-attention.

Why: the sinusoidal table is added to the token embeddings, so a position past the training lengths is an input
the model never saw; notebook 08 needs a Transformer whose attention sees only relative positions to tell a length
failure from compounding. Rotary turns each pair of dimensions of a query or key at position t by the angle
t * theta_i; a query-key dot product then depends on the two positions only through their difference.

Keys are rotated once, when they are computed (a cached key keeps its position), queries at their own position, so
every decoding path (teacher-forced, incremental, beam cache, fixed-shape) applies the same rotation by position.
Cross-attention has no shared position axis (source and target) and is not rotated.
"""
from __future__ import annotations

import torch
from torch import nn

BASE = 10000.0  # as in RoFormer and the sinusoidal table


class Rotary(nn.Module):
    """cos / sin tables (max_positions, head_dim) and `forward(x, positions)`: x (..., T, head_dim) rotated by
    the positions (T,) of its rows."""

    def __init__(self, head_dim: int, max_positions: int):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"Rotary head_dim = {head_dim} must be even (dimensions turn in pairs)")
        freq = BASE ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (dh/2,)
        angles = torch.arange(max_positions, dtype=torch.float32)[:, None] * freq  # (P, dh/2)
        angles = torch.cat([angles, angles], dim=-1)  # (P, dh): pair i is dimensions i and i + dh/2
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x (..., T, dh) at positions (T,) -> the same shape, each pair of dimensions turned by its angle."""
        cos = self.cos.index_select(0, positions).to(x.dtype)  # (T, dh)
        sin = self.sin.index_select(0, positions).to(x.dtype)
        half = x.shape[-1] // 2
        turned = torch.cat([-x[..., half:], x[..., :half]], dim=-1)  # (x1, x2) -> (-x2, x1)
        return x * cos + turned * sin
