"""GRU encoder-decoder with Luong (general) attention; the hidden state is the incremental state."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqgap_lab.core.config import ModelConfig
from seqgap_lab.models.base import DecoderState, Seq2SeqModel
from seqgap_lab.models.dropout import Dropout


class GRUSeq2Seq(Seq2SeqModel):
    """Bidirectional GRU encoder, GRU decoder, attention on each decoder output (no input feeding,
    so the teacher-forced pass runs the decoder GRU over the whole sequence in one call)."""

    kind = "gru"

    def __init__(self, config: ModelConfig, vocab_size: int):
        super().__init__(vocab_size)
        self.config = config
        d, n = config.d_model, config.num_layers
        if d % 2:
            raise ValueError(f"ModelConfig.d_model = {d} must be even for the bidirectional GRU encoder")
        drop = config.dropout if n > 1 else 0.0
        self.embed = nn.Embedding(vocab_size, d)
        self.drop = Dropout(config.dropout)
        self.encoder = nn.GRU(d, d // 2, num_layers=n, batch_first=True, bidirectional=True, dropout=drop)
        self.bridge = nn.Linear(d, d)
        self.decoder = nn.GRU(d, d, num_layers=n, batch_first=True, dropout=drop)
        self.attn_key = nn.Linear(d, d, bias=False)
        self.combine = nn.Linear(2 * d, d)
        self.out = nn.Linear(d, vocab_size)

    def encode(self, src, src_mask):
        """(B, S) -> memory (B, S, D), both directions concatenated."""
        lengths = src_mask.sum(1).cpu()
        packed = pack_padded_sequence(self.drop(self.embed(src)), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, D)
        return memory

    def _start_hidden(self, memory, src_mask):
        # Mean of the memory over real tokens: recomputable from (memory, mask) alone, so the
        # interface encode -> init_state needs nothing else.
        mean = (memory * src_mask[..., None]).sum(1) / src_mask.sum(1, keepdim=True)  # (B, D)
        return torch.tanh(self.bridge(mean))[None].expand(self.config.num_layers, -1, -1).contiguous()

    def _attend(self, h, memory, keys, src_mask):
        """h (B, T, D) over memory (B, S, D) -> logits (B, T, V) and weights (B, T, S)."""
        scores = h @ keys.transpose(1, 2)  # (B, T, S)
        scores = scores.masked_fill(~src_mask[:, None, :], float("-inf"))
        weights = scores.softmax(-1)
        context = weights @ memory  # (B, T, D)
        out = self.drop(torch.tanh(self.combine(torch.cat([h, context], -1))))
        return self.out(out), weights

    def decode_forward(self, memory, src_mask, tgt_in):
        """Teacher-forced decoder: (B, T) -> (B, T, V)."""
        h0 = self._start_hidden(memory, src_mask)
        h, _ = self.decoder(self.drop(self.embed(tgt_in)), h0)  # (B, T, D)
        logits, _ = self._attend(h, memory, self.attn_key(memory), src_mask)
        return logits

    def init_state(self, memory, src_mask, beam=1):
        """Hidden state (batch-first for reordering) and the attention keys, computed once."""
        memory, src_mask = self.repeat_beam(memory, beam), self.repeat_beam(src_mask, beam)
        hidden = self._start_hidden(memory, src_mask).transpose(0, 1)  # (B, L, D)
        tensors = {"memory": memory, "keys": self.attn_key(memory), "src_mask": src_mask,
                   "hidden": hidden, "attention": None}
        return DecoderState(tensors, 0)

    def step(self, prev_tokens, state, need_weights=False):
        """prev_tokens (B,) -> logits (B, V); the hidden state advances one token."""
        x = self.drop(self.embed(prev_tokens[:, None]))  # (B, 1, D)
        h, hidden = self.decoder(x, state["hidden"].transpose(0, 1).contiguous())
        logits, weights = self._attend(h, state["memory"], state["keys"], state["src_mask"])
        tensors = dict(state.tensors, hidden=hidden.transpose(0, 1), attention=weights[:, 0])
        return logits[:, 0], DecoderState(tensors, state.step + 1)
