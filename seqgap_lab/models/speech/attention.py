"""Attention encoder-decoder for speech: the acoustic encoder feeding the project's Transformer decoder.

An adapter, not a new decoder: `TransformerSeq2Seq`'s decoder only reads (memory, src_mask), so the
speech encoder's output is handed to its decode_forward / init_state / step unchanged. The model then
implements the Seq2SeqModel interface (encode / init_state / step / decode_forward / forward), and the
project's strategies (teacher forcing, scheduled sampling) and `decode` (greedy, beam) work on it.

Optional joint CTC-attention training (Kim, Hori & Watanabe 2017; ESPnet's default): with
config.ctc_weight > 0 a CTC head on the encoder gives an auxiliary loss that pushes the encoder towards
monotone, character-aligned states, which the attention decoder otherwise takes long to find. The
training helper adds it; the encoder output of the strategy's own `encode` call is reused, not recomputed.

Masks: strategies pass a frame mask (B, T) and `decode` passes `src != PAD` on features, a (B, T, n_mels)
mask; both are reduced to frame lengths (a padding frame is all zeros) and subsampled to the encoder's
4x-shorter time axis before they reach the decoder.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqgap_lab.core.config import ModelConfig
from seqgap_lab.models.base import DecoderState, Seq2SeqModel
from seqgap_lab.models.speech.ctc import BLANK, mask_specials
from seqgap_lab.models.speech.encoder import (
    SpeechEncoder,
    SpeechModelConfig,
    frame_lengths,
    lengths_to_mask,
    subsampled_lengths,
)
from seqgap_lab.models.transformer import TransformerSeq2Seq


def decoder_config(c: SpeechModelConfig) -> ModelConfig:
    """The ModelConfig of the Transformer decoder attached to a speech encoder."""
    return ModelConfig(kind="transformer", d_model=c.d_model, num_heads=c.num_heads, num_layers=c.decoder_layers,
                       ffn_dim=c.ffn_dim, dropout=c.dropout, max_positions=512)


class SpeechAttentionSeq2Seq(Seq2SeqModel):
    """Speech encoder + Transformer decoder (cross-attention over the subsampled frames)."""

    kind = "speech_attention"

    def __init__(self, config: SpeechModelConfig, vocab_size: int):
        super().__init__(vocab_size)
        self.config = config
        self.encoder = SpeechEncoder(config)
        self.decoder = TransformerSeq2Seq(decoder_config(config), vocab_size)
        # The text encoder of TransformerSeq2Seq is never called here: drop its layers (no dead weights).
        if isinstance(getattr(self.decoder, "encoder", None), nn.ModuleList):
            self.decoder.encoder = nn.ModuleList()
        self.ctc_head = nn.Linear(config.d_model, vocab_size) if config.ctc_weight > 0 else None
        self._last_encoded = None  # (memory, lengths) of the last encode() in training, for the CTC loss

    def memory_mask(self, src_mask: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """A frame mask (B, T), a feature mask (B, T, F) or an already subsampled mask (B, T') -> (B, T')."""
        if src_mask.dim() == 2 and src_mask.shape[1] == memory.shape[1]:
            return src_mask
        lengths = subsampled_lengths(frame_lengths(memory, src_mask))
        return lengths_to_mask(lengths, memory.shape[1])

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """Features (B, T, n_mels) -> memory (B, T', D)."""
        memory, lengths = self.encoder(src, frame_lengths(src, src_mask))
        self._last_encoded = (memory, lengths) if self.training and self.ctc_head is not None else None
        return memory

    def ctc_loss(self, batch) -> torch.Tensor:
        """Auxiliary CTC loss (per target character) on the encoder output of the last encode() call on
        this batch while training; encodes anew when there is none."""
        if self.ctc_head is None:
            raise ValueError("ctc_loss needs SpeechModelConfig.ctc_weight > 0 (the model has no CTC head)")
        encoded, self._last_encoded = self._last_encoded, None
        if encoded is None or encoded[0].shape[0] != batch.src.shape[0]:
            encoded = self.encoder(batch.src, batch.lengths)
        memory, lengths = encoded
        log_probs = F.log_softmax(mask_specials(self.ctc_head(memory)).float(), dim=-1)  # (B, T', V)
        return F.ctc_loss(log_probs.transpose(0, 1), batch.targets, lengths, batch.target_lengths,
                          blank=BLANK, zero_infinity=True)

    def decode_forward(self, memory, src_mask, tgt_in):
        """Teacher-forced decoder: (B, U) -> logits (B, U, V)."""
        return self.decoder.decode_forward(memory, self.memory_mask(src_mask, memory), tgt_in)

    def init_state(self, memory, src_mask, beam=1) -> DecoderState:
        """The Transformer decoder's state over the speech memory."""
        return self.decoder.init_state(memory, self.memory_mask(src_mask, memory), beam)

    def step(self, prev_tokens, state, need_weights=False):
        """prev_tokens (B,) -> logits (B, V) and the advanced state."""
        return self.decoder.step(prev_tokens, state, need_weights=need_weights)

    def forward(self, src, tgt_in, src_mask=None):
        """Teacher-forced logits (B, U, V) from features (B, T, n_mels)."""
        if src_mask is None:
            src_mask = src != 0
        return self.decode_forward(self.encode(src, src_mask), src_mask, tgt_in)
