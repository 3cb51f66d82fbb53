"""Pre-LN Transformer encoder-decoder with scaled_dot_product_attention and a KV cache; positions either added as a
sinusoidal table (the default) or turned into the self-attention queries and keys (rotary, models/rotary.py)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqgap_lab.core.config import ModelConfig
from seqgap_lab.models.base import DecoderState, Seq2SeqModel
from seqgap_lab.models.dropout import Dropout, attention_dropout_fused, dropout
from seqgap_lab.models.kvcache import BeamKV, for_matmul
from seqgap_lab.models.rotary import Rotary
from seqgap_lab.models.transformer_static import StaticState, static_step


def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """(num_positions, dim) fixed sinusoidal encodings; defined at every length, so no learned cap."""
    pos = torch.arange(num_positions, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(num_positions, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table


def explicit_probs(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None,
                   causal: bool = False) -> torch.Tensor:
    """Attention probabilities softmax(q k^T / sqrt(dh)): q (B, H, T, dh), k (B, H, S, dh) -> (B, H, T, S); mask
    broadcastable to that, True = may attend; causal: position t sees keys 0..t (SDPA's is_causal)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, S)
    if causal:
        tril = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()  # (T, S)
        mask = tril if mask is None else mask & tril
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1)


class Attention(nn.Module):
    """Multi-head attention; keys/values can come from a cache. Returns head-averaged weights on request."""

    def __init__(self, d_model: int, num_heads: int, dropout: float):
        super().__init__()
        self.h, self.dh = num_heads, d_model // num_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.rope: Rotary | None = None  # the model's Rotary, on the self-attention of a rotary model

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, H, T, dh)."""
        return x.view(x.shape[0], x.shape[1], self.h, self.dh).transpose(1, 2)

    def turn(self, x: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
        """Queries or keys (..., T, dh) rotated to their positions (T,) (or one (1,) for all rows) when this
        attention is rotary; unchanged otherwise."""
        return x if self.rope is None or positions is None else self.rope(x, positions)

    def keys_values(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Project x (B, S, D) to keys and values, each (B, H, S, dh); keys rotated to `positions` (see turn)."""
        k, v = self.kv(x).chunk(2, dim=-1)
        return self.turn(self.split(k), positions), self.split(v)

    def forward(self, x, k, v, mask=None, causal=False, need_weights=False, positions=None):
        """x (B, T, D) at `positions` (see turn) attends over k, v (B, H, S, dh); mask (B, 1, 1|T, S) True = may
        attend."""
        q = self.turn(self.split(self.q(x)), positions)  # (B, H, T, dh)
        p = self.dropout if self.training else 0.0
        weights = None
        # Explicit path where the fused kernel cannot serve: it does not expose attention probabilities, and on
        # the CPU a dropout_p > 0 sends it to its slow math path (models/dropout.py).
        if need_weights or (p > 0 and not attention_dropout_fused(x)):
            probs = explicit_probs(q, k, mask, causal)  # (B, H, T, S)
            weights = probs.mean(1) if need_weights else None  # (B, T, S)
            y = dropout(probs, p, self.training) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        y = y.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)  # (B, T, D)
        return self.out(y), weights


    def attend_cached(self, x, k, v, mask, per_source: int | None, rows: torch.Tensor | None = None,
                      need_weights: bool = False, positions: torch.Tensor | None = None):
        """One new query per row: x (N, 1, D) at `positions` (see turn) over k, v (Bs, H, S, dh) shared by
        groups of `per_source` consecutive rows (None: gather each row's source by `rows`); mask (Bs, S) True =
        may attend. Explicit matmul + softmax: for a single query it beats the fused kernel on CPU."""
        n = x.shape[0]
        q = self.turn(self.split(self.q(x)), positions)  # (N, H, 1, dh)
        if per_source is None:  # rows in any order: per-row keys (a copy), one query each
            k, v, mask, per_source = k.index_select(0, rows), v.index_select(0, rows), mask.index_select(0, rows), 1
        q = q.view(-1, per_source, self.h, self.dh).transpose(1, 2)  # (Bs, H, per, dh)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.dh)  # (Bs, H, per, S)
        probs = scores.masked_fill(~mask[:, None, None, :], float("-inf")).softmax(-1)
        y = dropout(probs, self.dropout, self.training) @ v  # (Bs, H, per, dh)
        y = y.transpose(1, 2).reshape(n, 1, -1)  # (N, 1, D)
        weights = probs.mean(1).reshape(n, 1, -1) if need_weights else None  # (N, 1, S)
        return self.out(y), weights

    def attend_beams(self, x: torch.Tensor, cache: BeamKV, layer: int, bias: torch.Tensor | None,
                     position: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention of one new token per row x (N, 1, D) at `position` (1,) over its own tokens so far,
        through a BeamKV already advanced to this step (it stores x's keys/values); bias from cache.bias
        -> (N, 1, D)."""
        n, g = x.shape[0], cache.g
        heads = lambda y: y.view(-1, g, self.h, self.dh).transpose(1, 2)  # noqa: E731 (N, 1, D) -> (G, H, g, dh)
        k, v = self.kv(x).chunk(2, dim=-1)
        keys, values = cache.write(layer, self.turn(heads(k), position), heads(v))  # (G, H, (t+1)*g, dh)
        # scaling q, not the scores: g*dh numbers per group instead of g*(t+1)*g
        q = self.turn(heads(self.q(x) * (1.0 / math.sqrt(self.dh))), position)  # (G, H, g, dh)
        scores = q @ keys.transpose(-2, -1)  # (G, H, g, (t+1)*g)
        if bias is not None:
            scores += bias
        probs = scores.softmax(-1)
        probs = dropout(probs, self.dropout, self.training)
        y = (probs @ values).transpose(1, 2).reshape(n, 1, -1)  # (G, H, g, dh) -> (N, 1, D)
        return self.out(y)


class FeedForward(nn.Sequential):
    """Position-wise FFN with GELU; `dropout` acts on the hidden activations (ModelConfig.activation_rate)."""

    def __init__(self, d_model: int, ffn_dim: int, dropout: float):
        super().__init__(nn.Linear(d_model, ffn_dim), nn.GELU(), Dropout(dropout), nn.Linear(ffn_dim, d_model))


class EncoderLayer(nn.Module):
    """Pre-LN self-attention + FFN block."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.attn = Attention(c.d_model, c.num_heads, c.attention_rate)
        self.ffn = FeedForward(c.d_model, c.ffn_dim, c.activation_rate)
        self.drop = Dropout(c.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, S, D), mask (B, 1, 1, S); positions (S,) for a rotary model."""
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, *self.attn.keys_values(h, positions), mask=mask, positions=positions)[0])
        return x + self.drop(self.ffn(self.ln2(x)))


class DecoderLayer(nn.Module):
    """Pre-LN causal self-attention, cross-attention and FFN; `step` extends a KV cache by one token."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(c.d_model) for _ in range(3))
        self.self_attn = Attention(c.d_model, c.num_heads, c.attention_rate)
        self.cross_attn = Attention(c.d_model, c.num_heads, c.attention_rate)
        self.ffn = FeedForward(c.d_model, c.ffn_dim, c.activation_rate)
        self.drop = Dropout(c.dropout)

    def forward(self, x, cross_kv, src_mask, self_kv=None, need_weights=False, positions=None):
        """x (B, T, D) at positions (T,) (a rotary model's; None otherwise). Without self_kv: causal over x itself.
        With self_kv (cached keys/values of earlier tokens): x's own keys are appended and the new cache is
        returned."""
        h = self.ln1(x)
        k, v = self.self_attn.keys_values(h, positions)
        if self_kv is not None:
            k, v = torch.cat([self_kv[0], k], dim=2), torch.cat([self_kv[1], v], dim=2)  # (B, H, t+1, dh)
        # One new token may see the whole cache; a full prefix needs the causal mask.
        x = x + self.drop(self.self_attn(h, k, v, causal=self_kv is None, positions=positions)[0])
        y, weights = self.cross_attn(self.ln2(x), *cross_kv, mask=src_mask, need_weights=need_weights)
        x = x + self.drop(y)
        x = x + self.drop(self.ffn(self.ln3(x)))
        return x, (k, v), weights


    def step(self, x, cross_kv, src_mask, self_kv, per_source, rows, need_weights=False, layer=0, bias=None,
             position=None):
        """One new token per row: x (N, 1, D) at `position` (1,) (a rotary model's; None otherwise); cross_kv per
        source (see Attention.attend_cached). self_kv: a BeamKV advanced to this step (written in place, returned
        as is; `layer`, `bias` see Attention.attend_beams) or per-row (keys, values) (N, H, t, dh) of earlier
        tokens, returned grown by one (the path under autograd)."""
        h = self.ln1(x)
        if isinstance(self_kv, BeamKV):
            x = x + self.drop(self.self_attn.attend_beams(h, self_kv, layer, bias, position))
        else:
            k, v = self.self_attn.keys_values(h, position)
            self_kv = torch.cat([self_kv[0], k], dim=2), torch.cat([self_kv[1], v], dim=2)  # (N, H, t+1, dh)
            every = torch.ones(x.shape[0], self_kv[0].shape[2], dtype=torch.bool, device=x.device)
            x = x + self.drop(self.self_attn.attend_cached(h, *self_kv, every, 1, positions=position)[0])
        y, weights = self.cross_attn.attend_cached(self.ln2(x), *cross_kv, src_mask, per_source, rows, need_weights)
        x = x + self.drop(y)
        x = x + self.drop(self.ffn(self.ln3(x)))
        return x, self_kv, weights


class TransformerSeq2Seq(Seq2SeqModel):
    """Encoder-decoder Transformer (pre-LN, sinusoidal or rotary positions, tied output embedding)."""

    kind = "transformer"

    def __init__(self, config: ModelConfig, vocab_size: int):
        super().__init__(vocab_size)
        self.config = config
        d = config.d_model
        self.embed = nn.Embedding(vocab_size, d)
        self.register_buffer("positions", sinusoidal_table(config.max_positions, d), persistent=False)
        self.drop = Dropout(config.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_layers))
        self.decoder = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_layers))
        self.enc_ln, self.dec_ln = nn.LayerNorm(d), nn.LayerNorm(d)
        nn.init.normal_(self.embed.weight, std=d ** -0.5)
        self.rope = None
        if config.positions == "rotary":  # one table, shared by every self-attention (no parameters)
            self.rope = Rotary(d // config.num_heads, config.max_positions)
            for attn in [layer.attn for layer in self.encoder] + [layer.self_attn for layer in self.decoder]:
                attn.rope = self.rope

    def _embed(self, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        if offset + ids.shape[1] > self.config.max_positions:
            raise ValueError(f"sequence position {offset + ids.shape[1]} exceeds ModelConfig.max_positions="
                             f"{self.config.max_positions}")
        x = self.embed(ids) * math.sqrt(self.config.d_model)
        if self.rope is None:  # rotary models carry positions in their attention instead
            x = x + self.positions[offset: offset + ids.shape[1]]
        return self.drop(x)  # (B, T, D)

    def _positions(self, length: int, device, offset: int = 0) -> torch.Tensor | None:
        """Positions offset..offset+length-1 (length,) for a rotary model; None for a sinusoidal one."""
        return None if self.rope is None else torch.arange(offset, offset + length, device=device)

    def encode(self, src, src_mask):
        """(B, S) -> memory (B, S, D)."""
        mask = src_mask[:, None, None, :]
        x = self._embed(src)
        positions = self._positions(src.shape[1], src.device)
        for layer in self.encoder:
            x = layer(x, mask, positions)
        return self.enc_ln(x)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec_ln(x) @ self.embed.weight.t()  # (B, T, V)

    def decode_forward(self, memory, src_mask, tgt_in):
        """Teacher-forced decoder: (B, T) -> (B, T, V)."""
        mask = src_mask[:, None, None, :]
        x = self._embed(tgt_in)
        positions = self._positions(tgt_in.shape[1], tgt_in.device)
        for layer in self.decoder:
            x, _, _ = layer(x, layer.cross_attn.keys_values(memory), mask, positions=positions)
        return self._logits(x)

    def init_state(self, memory, src_mask, beam=1):
        """Cross-attention keys/values are computed once per source here (shared by its beams, contiguous so
        every step's matmul reads them without a copy); self-attention caches start empty: a BeamKV without
        autograd, per-row tensors grown by torch.cat with it (in-place writes would break backward)."""
        cross = tuple(for_matmul(*layer.cross_attn.keys_values(memory)) for layer in self.decoder)
        rows = torch.arange(memory.shape[0], device=memory.device).repeat_interleave(beam)  # (B*beam,)
        b, h, dh = rows.shape[0], self.config.num_heads, self.config.d_model // self.config.num_heads
        if torch.is_grad_enabled():
            empty = memory.new_zeros(b, h, 0, dh)
            selfkv = tuple((empty, empty) for _ in self.decoder)
        else:
            capacity = min(128, self.config.max_positions)
            selfkv = BeamKV.empty(len(self.decoder), memory.shape[0], beam, h, dh, memory, capacity)
        tensors = {"src_mask": self.repeat_beam(src_mask, beam), "self": selfkv, "attention": None}
        return DecoderState(tensors, 0, {"cross": cross, "src_mask": src_mask}, rows)

    def step(self, prev_tokens, state, need_weights=False):
        """prev_tokens (B,) -> logits (B, V); the state's caches grow by one position."""
        x = self._embed(prev_tokens[:, None], offset=state.step)  # (B, 1, D)
        position = self._positions(1, x.device, offset=state.step)  # (1,) or None
        per_source = state.beams_per_source()
        cache, bias = state["self"], None
        if isinstance(cache, BeamKV):
            if torch.is_grad_enabled():  # autograd needs the out-of-place path: per-row copies from here on
                cache = cache.per_row()
            else:
                cache = cache.advanced()
                bias = cache.bias(x.dtype)  # (G, 1, g, (t+1)*g), shared by every layer
        new_self, weights = [], None
        for i, layer in enumerate(self.decoder):
            last = i == len(self.decoder) - 1
            kv = cache if isinstance(cache, BeamKV) else cache[i]
            x, kv, w = layer.step(x, state.shared["cross"][i], state.shared["src_mask"], kv, per_source,
                                  state.rows, need_weights=need_weights and last, layer=i, bias=bias,
                                  position=position)
            new_self.append(kv)
            weights = w if w is not None else weights
        tensors = dict(state.tensors, self=cache if isinstance(cache, BeamKV) else tuple(new_self))
        tensors["attention"] = None if weights is None else weights[:, 0]  # (B, S) last layer, head mean
        return self._logits(x)[:, 0], DecoderState(tensors, state.step + 1, state.shared, state.rows)

    def static_state(self, memory, src_mask, group=1, max_len=128) -> StaticState:
        """Fixed-shape state for graph-captured decoding (decoding/static.py): `group` rows per source."""
        return StaticState(self, memory, src_mask, group, max_len)

    def static_step(self, prev_tokens, state: StaticState) -> torch.Tensor:
        """prev_tokens (N,) -> logits (N, V), updating the fixed-shape state in place."""
        return static_step(self, prev_tokens, state)
