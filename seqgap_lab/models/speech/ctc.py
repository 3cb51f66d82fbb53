"""CTC speech model: the acoustic encoder and a linear head over the characters plus blank.

The blank is id 0 (the <pad> id, which is never a target); <bos>/<eos> are masked out of the head (logit -1e4), so
the output distribution covers blank + the 28 characters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.models.speech.encoder import SpeechEncoder, SpeechModelConfig

BLANK = PAD
# Finite, not -inf: CTCLoss's backward turns -inf log-probabilities into NaN gradients.
MASKED_LOGIT = -1e4


def mask_specials(logits: torch.Tensor) -> torch.Tensor:
    """Logits (..., V) with <bos> and <eos> at MASKED_LOGIT: speech heads emit only blank and characters."""
    return logits.index_fill(-1, torch.tensor([BOS, EOS], device=logits.device), MASKED_LOGIT)


class CTCModel(nn.Module):
    """Encoder + per-frame log-softmax over blank and characters; trained with torch.nn.CTCLoss."""

    kind = "ctc"

    def __init__(self, config: SpeechModelConfig, vocab_size: int):
        super().__init__()
        self.config, self.vocab_size = config, vocab_size
        self.encoder = SpeechEncoder(config)
        self.head = nn.Linear(config.d_model, vocab_size)
        self.ctc_loss = nn.CTCLoss(blank=BLANK, reduction="mean", zero_infinity=True)

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, T, n_mels), lengths (B,) -> log_probs (B, T', V) and output lengths (B,)."""
        enc, out_lengths = self.encoder(src, lengths)
        return F.log_softmax(mask_specials(self.head(enc)).float(), dim=-1), out_lengths

    def loss(self, batch, step: int = 0) -> tuple[torch.Tensor, dict]:
        """CTC loss per target character, averaged over the batch (CTCLoss reduction="mean")."""
        log_probs, out_lengths = self(batch.src, batch.lengths)
        loss = self.ctc_loss(log_probs.transpose(0, 1), batch.targets, out_lengths, batch.target_lengths)  # (T', B, V)
        return loss, {"frames_per_char": float(out_lengths.sum() / batch.target_lengths.sum())}

    def num_parameters(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
