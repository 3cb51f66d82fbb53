"""The acoustic encoder shared by the CTC, transducer and attention speech models, and their config.

Log-mel frames (B, T, n_mels) -> two 3x3 Conv2d layers, stride 2 each (4x fewer frames: T' = ceil(ceil(T/2)/2))
-> linear to d_model -> sinusoidal positions -> pre-LN Transformer encoder layers -> (B, T', d_model).
Padding frames are all-zero feature vectors; masks are True on real frames.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqgap_lab.core.config import ConfigError, check_choice, check_float, check_int
from seqgap_lab.models.dropout import Dropout, attention_dropout_fused, dropout

SPEECH_MODELS = ("ctc", "attention", "transducer")


@dataclass(frozen=True)
class SpeechModelConfig:
    """Sizes of a speech model: encoder (conv + Transformer), and the decoder of its kind."""

    kind: str = "ctc"
    n_mels: int = 80
    conv_channels: int = 32
    d_model: int = 144
    num_heads: int = 4
    encoder_layers: int = 4
    ffn_dim: int = 576
    dropout: float = 0.1
    decoder_layers: int = 1  # attention: Transformer decoder layers
    pred_dim: int = 128  # transducer: prediction-network GRU size
    joint_dim: int = 96  # transducer: joiner hidden size
    ctc_weight: float = 0.0  # attention: weight of an auxiliary CTC loss on the encoder (0: no CTC head)

    def __post_init__(self) -> None:
        o = "SpeechModelConfig"
        check_choice(o, "kind", self.kind, SPEECH_MODELS)
        if type(self.n_mels) is not int or self.n_mels not in (40, 80):  # not 80.0 or True: it sizes a layer
            raise ConfigError(f"{o}.n_mels = {self.n_mels!r} is not allowed: expected 40 or 80")
        check_int(o, "conv_channels", self.conv_channels, 1, 1024)
        check_int(o, "d_model", self.d_model, 8, 4096)
        check_int(o, "num_heads", self.num_heads, 1, 64)
        if self.d_model % self.num_heads:
            raise ConfigError(f"{o}.num_heads = {self.num_heads} is not allowed: expected a divisor of "
                             f"d_model={self.d_model}")
        check_int(o, "encoder_layers", self.encoder_layers, 0, 48)
        check_int(o, "ffn_dim", self.ffn_dim, 8, 65536)
        check_float(o, "dropout", self.dropout, 0.0, 1.0, hi_open=True)
        check_int(o, "decoder_layers", self.decoder_layers, 1, 48)
        check_int(o, "pred_dim", self.pred_dim, 8, 4096)
        check_int(o, "joint_dim", self.joint_dim, 8, 4096)
        check_float(o, "ctc_weight", self.ctc_weight, 0.0, 1.0, hi_open=True)
        if self.ctc_weight and self.kind != "attention":
            raise ConfigError(f"{o}.ctc_weight = {self.ctc_weight!r} is not allowed for kind {self.kind!r}: "
                              "expected 0 (the auxiliary CTC loss is for the attention model)")

    def to_dict(self) -> dict:
        """Plain dict of the fields."""
        return dataclasses.asdict(self)


def subsampled_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """Frames after the two stride-2 convolutions (kernel 3, padding 1): ceil(ceil(T / 2) / 2)."""
    half = (lengths + 1) // 2
    return (half + 1) // 2


def lengths_to_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B,) lengths -> (B, width) bool, True on the first length positions."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def frame_lengths(src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) real frames per row: from a (B, T) mask, a (B, T, F) mask (any feature set), or the features
    themselves (a frame is padding when every feature is exactly zero)."""
    mask = src.ne(0).any(-1) if src_mask is None else src_mask
    if mask.dim() == 3:
        mask = mask.any(-1)
    return mask.sum(1)


def _sinusoids(num_positions: int, dim: int, device) -> torch.Tensor:
    pos = torch.arange(num_positions, dtype=torch.float32, device=device)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(num_positions, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table  # (num_positions, dim)


class EncoderLayer(nn.TransformerEncoderLayer):
    """torch's pre-LN TransformerEncoderLayer (same parameters, same state dict, same eval fast path) whose
    training-mode dropouts use the fast CPU mask of models/dropout.py: torch's Bernoulli draws were a fifth of a
    speech training step. Self-attention is computed explicitly (from the same in_proj / out_proj weights) where
    torch would send dropout_p > 0 to its slow math path."""

    def __init__(self, c: SpeechModelConfig):
        super().__init__(c.d_model, c.num_heads, c.ffn_dim, c.dropout, batch_first=True, norm_first=True)
        self.dropout, self.dropout1, self.dropout2 = Dropout(c.dropout), Dropout(c.dropout), Dropout(c.dropout)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        """Self-attention of x (B, T, D); key_padding_mask (B, T) True = padding, as torch's."""
        attn = self.self_attn
        if not self.training or attn.dropout == 0.0 or attention_dropout_fused(x) or attn_mask is not None:
            return super()._sa_block(x, attn_mask, key_padding_mask, is_causal)
        b, t, d = x.shape
        h = attn.num_heads
        heads = lambda y: y.view(b, t, h, d // h).transpose(1, 2)  # noqa: E731  (B, T, D) -> (B, H, T, dh)
        q, k, v = (heads(y) for y in F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // h)  # (B, H, T, T)
        if key_padding_mask is not None:  # nn.TransformerEncoder hands it on as a float mask (-inf = padding)
            pad = key_padding_mask[:, None, None, :]
            scores = scores.masked_fill(pad, float("-inf")) if pad.dtype == torch.bool else scores + pad
        y = dropout(scores.softmax(-1), attn.dropout) @ v  # (B, H, T, dh)
        return self.dropout1(attn.out_proj(y.transpose(1, 2).reshape(b, t, d)))


class SpeechEncoder(nn.Module):
    """Conv2d subsampling (4x in time) + Transformer encoder: (B, T, n_mels) -> (B, T', d_model)."""

    def __init__(self, c: SpeechModelConfig):
        super().__init__()
        self.config = c
        self.conv = nn.Sequential(nn.Conv2d(1, c.conv_channels, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Conv2d(c.conv_channels, c.conv_channels, 3, stride=2, padding=1), nn.ReLU())
        freq = (c.n_mels + 3) // 4  # the feature axis is subsampled by the same two convolutions
        self.proj = nn.Linear(c.conv_channels * freq, c.d_model)
        self.drop = Dropout(c.dropout)
        self.layers = nn.TransformerEncoder(EncoderLayer(c), c.encoder_layers, enable_nested_tensor=False) \
            if c.encoder_layers else None
        self.norm = nn.LayerNorm(c.d_model)

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, T, n_mels), lengths (B,) -> encoded (B, T', d_model) and its lengths (B,)."""
        if src.dim() != 3 or src.shape[-1] != self.config.n_mels:
            raise ValueError(f"SpeechEncoder expects features (batch, frames, {self.config.n_mels}), "
                             f"got shape {tuple(src.shape)}")
        # zero the padding so the convolutions see the same input whatever the batch's width
        src = src * lengths_to_mask(lengths, src.shape[1])[..., None]
        x = self.conv(src[:, None])  # (B, C, T', F')
        x = self.proj(x.permute(0, 2, 1, 3).flatten(2))  # (B, T', D)
        out_lengths = subsampled_lengths(lengths)
        x = self.drop(x + _sinusoids(x.shape[1], x.shape[2], x.device))
        if self.layers is not None:
            pad = ~lengths_to_mask(out_lengths, x.shape[1])  # (B, T') True = padding, as torch expects
            x = self.layers(x, src_key_padding_mask=pad)
        return self.norm(x), out_lengths
