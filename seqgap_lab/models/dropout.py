"""Dropout that is cheap on the CPU: one 64-bit random number decides four elements.

Why: on a 2-core CPU, torch's dropout draws one Bernoulli sample per element through MKL (7-10 ns an element) and
scaled_dot_product_attention with dropout_p > 0 leaves its fused kernel for the math path (about 5x slower, forward
and backward). Measured on the default synthetic Transformer, dropout was a quarter of the training step.

Here a 64-bit draw from torch's own generator (so `torch.manual_seed` repeats it) is split into four 16-bit
numbers; an element is dropped when its number falls under round(p * 65536). The drop rate is therefore p
rounded to 1/65536 (0.1 -> 0.100006) and the kept elements are scaled by 1 / (1 - that rate), so the output's
expectation is the input, exactly as torch's. The random stream differs from torch's, so trained weights differ
from a torch-dropout run of the same seed: same distribution, other draws.

On CUDA (and every non-CPU device) torch's fused dropout kernels are faster than anything here: `dropout`
falls back to `torch.nn.functional.dropout` there, and `attention_dropout_fused` says when SDPA may drop itself.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

LEVELS = 1 << 16  # a drop decision is one 16-bit number
_torch_only = False  # set by `torch_dropout()`: the baseline of the benchmark and of the tests


@contextlib.contextmanager
def torch_dropout() -> Iterator[None]:
    """Within this block every dropout of the models is torch's own (F.dropout, SDPA's dropout_p): the eager
    baseline that `seqgap-lab bench` times the fast path against. Not thread-safe (a module-level switch)."""
    global _torch_only
    before, _torch_only = _torch_only, True
    try:
        yield
    finally:
        _torch_only = before


def fast_path(x: torch.Tensor) -> bool:
    """Whether dropout on x takes this module's CPU mask (on the CPU, outside `torch_dropout()`)."""
    return x.device.type == "cpu" and not _torch_only


def quantized_rate(p: float) -> float:
    """The drop rate actually used on the CPU: p rounded to a multiple of 1/65536."""
    return round(p * LEVELS) / LEVELS


def keep_mask(shape: torch.Size | tuple, p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool tensor of `shape`, True (kept) with probability 1 - quantized_rate(p), from torch's generator."""
    n = math.prod(shape)
    # int64 draws over the full range, seen as four int16 numbers each (uniform on [-32768, 32767])
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-2**63, 2**63 - 1)
    threshold = round(p * LEVELS) - LEVELS // 2
    return bits.view(torch.int16)[:n].view(shape) >= threshold


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout of x; the fast mask on the CPU, torch's fused kernel elsewhere. Identity when not
    training or p == 0."""
    if not training or p == 0.0:
        return x
    if not fast_path(x) or p >= 1.0:
        return F.dropout(x, p, training)
    scale = 1.0 / (1.0 - quantized_rate(p))
    # one float mask holding 0 or the scale: a single multiply forward and backward (masked_fill was 2.5x slower)
    return x * keep_mask(x.shape, p, x.device).to(x.dtype).mul_(scale)


def attention_dropout_fused(x: torch.Tensor) -> bool:
    """Whether scaled_dot_product_attention should apply attention dropout itself: on CUDA its fused kernels
    do; on the CPU dropout_p > 0 forces its slow math path, so the caller drops with `dropout` instead."""
    return not fast_path(x)


class Dropout(nn.Module):
    """nn.Dropout with the fast CPU mask of `dropout` (same rate and scaling; see the module doc)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout p = {p!r} is not allowed: expected a probability in [0, 1]")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inverted dropout in training mode, identity in eval mode."""
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
