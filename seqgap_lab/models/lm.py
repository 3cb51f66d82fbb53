"""Decoder-only pre-LN Transformer language model behind the seq2seq interface: the prompt is the "source".

The sequence modelled is `[BOS] + prompt + continuation`, one causal stack (GPT style). The seq2seq
interface maps onto it so that every decoding function and training strategy works unchanged:

- `encode(prompt, prompt_mask)` is the prefill: it runs `[BOS] + prompt` once and returns a "memory"
  tensor (B, S+1, (2L+1)·D) holding, per position, the last layer's output and every layer's keys and
  values (a KV cache that slices, indexes and repeats along the batch like any encoder output).
- The continuation's first input token (the BOS every decoder and collate put in front of `tgt_in`) is
  NOT fed to the network: the logits of target position 0 are those of the prompt's last position (of
  the LM's own BOS when the prompt is empty), i.e. P(y_1 | prompt). So `step` at step 0 returns those
  cached logits and ignores its input; later steps feed y_t at position len(prompt) + t.
  Why: the continuation then reads exactly like running text after the prompt, the way the LM was
  trained, with no separator token in the middle that plain-text training never shows it.
- `decode_forward(memory, prompt_mask, tgt_in)` = teacher-forced logits (B, T, V) of the continuation
  `tgt_in[:, 1:]` given the cached prompt; `forward(src, tgt_in)` = both in one call. With an empty
  prompt (src all PAD) it is a plain LM over `[BOS] + y` with targets `y + [EOS]`.

Prompts in a batch are right-padded (as `data.batching.pad` makes them) and may differ in length: each
row keeps its own positions (len(prompt_b) + t) and a key mask hides the prompt padding, so a padded
batch decodes as each prompt would alone (up to float rounding).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from seqgap_lab.core.config import ModelConfig
from seqgap_lab.data.vocab import BOS
from seqgap_lab.models.base import DecoderState, Seq2SeqModel
from seqgap_lab.models.dropout import Dropout
from seqgap_lab.models.transformer import EncoderLayer, sinusoidal_table


class LMBlock(EncoderLayer):
    """Pre-LN self-attention + FFN (the encoder layer's weights) over cached keys/values of earlier tokens."""

    def forward(self, x: torch.Tensor, past=None, mask: torch.Tensor | None = None):
        """x (B, T, D) new tokens; past = (k, v) each (B, H, P, dh) or None; mask (B, 1, T, P+T) True = may
        attend (None: causal over x alone). Returns x (B, T, D) and the keys/values of past + x."""
        h = self.ln1(x)
        k, v = self.attn.keys_values(h)  # (B, H, T, dh)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # (B, H, P+T, dh)
        x = x + self.drop(self.attn(h, k, v, mask=mask, causal=mask is None)[0])
        return x + self.drop(self.ffn(self.ln2(x))), (k, v)


class TransformerLM(Seq2SeqModel):
    """Decoder-only Transformer LM (pre-LN, sinusoidal positions, tied output embedding); see the module doc."""

    kind = "lm"

    def __init__(self, config: ModelConfig, vocab_size: int):
        super().__init__(vocab_size)
        self.config = config
        d = config.d_model
        self.embed = nn.Embedding(vocab_size, d)
        self.register_buffer("positions", sinusoidal_table(config.max_positions, d), persistent=False)
        self.drop = Dropout(config.dropout)
        self.blocks = nn.ModuleList(LMBlock(config) for _ in range(config.num_layers))
        self.final_ln = nn.LayerNorm(d)
        nn.init.normal_(self.embed.weight, std=d ** -0.5)

    # --- pieces -------------------------------------------------------------------------------------

    def _check_length(self, length: int) -> None:
        if length > self.config.max_positions:
            raise ValueError(f"sequence position {length} exceeds ModelConfig.max_positions="
                             f"{self.config.max_positions} (BOS + prompt + continuation)")

    def _embed(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """ids (B, T) at per-row positions (B, T) -> (B, T, D)."""
        x = self.embed(ids) * math.sqrt(self.config.d_model) + self.positions[positions]
        return self.drop(x)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_ln(x) @ self.embed.weight.t()  # (..., V)

    def _pack(self, x: torch.Tensor, kvs) -> torch.Tensor:
        """Last-layer output (B, P, D) and per-layer (k, v) (B, H, P, dh) -> memory (B, P, (2L+1)·D)."""
        flat = [t.transpose(1, 2).flatten(2) for kv in kvs for t in kv]  # each (B, P, D)
        return torch.cat([x, *flat], dim=-1)

    def _unpack(self, memory: torch.Tensor):
        """memory (B, P, (2L+1)·D) -> last-layer output (B, P, D) and per-layer (k, v) (B, H, P, dh)."""
        b, p, _ = memory.shape
        h, dh = self.config.num_heads, self.config.d_model // self.config.num_heads
        parts = memory.split(self.config.d_model, dim=-1)
        heads = [t.view(b, p, h, dh).transpose(1, 2) for t in parts[1:]]
        return parts[0], [(heads[2 * i], heads[2 * i + 1]) for i in range(len(self.blocks))]

    @staticmethod
    def _last(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Row b of x (B, P, D) at position lengths[b] (the prompt's last token; 0 = the LM's BOS) -> (B, D)."""
        return x[torch.arange(x.shape[0], device=x.device), lengths]

    # --- the seq2seq interface ----------------------------------------------------------------------

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """Prefill of [BOS] + prompt: right-padded src (B, S) -> memory (B, S+1, (2L+1)·D)."""
        b, s = src.shape
        self._check_length(s + 1)
        ids = torch.cat([src.new_full((b, 1), BOS), src], dim=1)  # (B, S+1)
        valid = torch.cat([src_mask.new_ones(b, 1), src_mask], dim=1)  # (B, S+1)
        causal = torch.ones(s + 1, s + 1, dtype=torch.bool, device=src.device).tril()
        mask = (causal[None] & valid[:, None, :])[:, None]  # (B, 1, S+1, S+1); BOS keeps every row non-empty
        positions = torch.arange(s + 1, device=src.device).expand(b, -1)  # right padding: real tokens first
        x, kvs = self._embed(ids, positions), []
        for block in self.blocks:
            x, kv = block(x, mask=mask)
            kvs.append(kv)
        return self._pack(x, kvs)

    def decode_forward(self, memory: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, V) of the continuation: tgt_in[:, 0] (BOS) is not fed (see module doc)."""
        x_prompt, kvs = self._unpack(memory)
        b, p = x_prompt.shape[:2]
        lengths = src_mask.sum(1)  # (B,) prompt tokens
        first = self._last(x_prompt, lengths)[:, None]  # (B, 1, D) predicts y_1
        cont = tgt_in[:, 1:]  # (B, T-1) y_1 .. y_{T-1}
        n = cont.shape[1]
        if n == 0:
            return self._logits(first)
        self._check_length(p + n)
        steps = torch.arange(n, device=tgt_in.device)
        positions = lengths[:, None] + 1 + steps  # (B, T-1) per row, right after its own prompt
        valid = torch.cat([src_mask.new_ones(b, 1), src_mask], dim=1)  # (B, P) prompt keys
        causal = steps[None, :] <= steps[:, None]  # (T-1, T-1)
        mask = torch.cat([valid[:, None, :].expand(b, n, p), causal.expand(b, n, n)], dim=2)[:, None]  # (B,1,T-1,P+T-1)
        x = self._embed(cont, positions)
        for block, past in zip(self.blocks, kvs):
            x, _ = block(x, past, mask)
        return self._logits(torch.cat([first, x], dim=1))  # (B, T, V)

    def init_state(self, memory: torch.Tensor, src_mask: torch.Tensor, beam: int = 1) -> DecoderState:
        """KV cache of the prompt, each row repeated `beam` times; step 0 will return the prompt's next-token logits."""
        x_prompt, _ = self._unpack(memory)
        lengths = src_mask.sum(1)
        first = self._logits(self._last(x_prompt, lengths))  # (B, V)
        memory, src_mask = self.repeat_beam(memory, beam), self.repeat_beam(src_mask, beam)
        first, lengths = self.repeat_beam(first, beam), self.repeat_beam(lengths, beam)
        _, kvs = self._unpack(memory)
        valid = torch.cat([src_mask.new_ones(src_mask.shape[0], 1), src_mask], dim=1)  # (B*beam, S+1)
        tensors = {"src_mask": src_mask, "self": tuple(kvs), "key_mask": valid, "position": lengths + 1,
                   "first": first, "attention": None}
        return DecoderState(tensors, 0)

    def step(self, prev_tokens: torch.Tensor, state: DecoderState, need_weights: bool = False):
        """prev_tokens (B,) -> logits (B, V). Step 0 ignores its input (BOS) and returns P(y_1 | prompt)."""
        if need_weights:
            raise NotImplementedError("a decoder-only LM has no source attention: the coverage penalty needs "
                                      "an encoder-decoder model")
        if state.step == 0:
            return state["first"], DecoderState(dict(state.tensors), 1)
        self._check_length(state["key_mask"].shape[1] + 1)
        x = self._embed(prev_tokens[:, None], state["position"][:, None])  # (B, 1, D)
        key_mask = torch.cat([state["key_mask"], state["key_mask"].new_ones(x.shape[0], 1)], dim=1)  # (B, K+1)
        mask = key_mask[:, None, None, :]  # (B, 1, 1, K+1)
        new = []
        for block, past in zip(self.blocks, state["self"]):
            x, kv = block(x, past, mask)
            new.append(kv)
        tensors = dict(state.tensors, self=tuple(new), key_mask=key_mask, position=state["position"] + 1)
        return self._logits(x)[:, 0], DecoderState(tensors, state.step + 1)
