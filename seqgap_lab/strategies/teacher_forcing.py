"""Teacher forcing: the decoder reads the gold prefix at every position (maximum likelihood)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from seqgap_lab.data.vocab import PAD
from seqgap_lab.strategies.base import register


def token_nll(logits: torch.Tensor, tgt_out: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy over non-pad target tokens; logits (B, T, V), tgt_out (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt_out.reshape(-1),
                           ignore_index=PAD, label_smoothing=label_smoothing)


@register("teacher_forcing")
class TeacherForcing:
    """Cross-entropy of the teacher-forced forward pass."""

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def loss(self, model, batch, step):
        """One teacher-forced pass over the gold prefix."""
        logits = model(batch.src, batch.tgt_in, batch.src_mask)  # (B, T, V)
        loss = token_nll(logits, batch.tgt_out, self.label_smoothing)
        with torch.no_grad():
            mask = batch.tgt_mask
            acc = ((logits.argmax(-1) == batch.tgt_out) & mask).sum() / mask.sum()
        return loss, {"token_acc": acc}  # a 0-d tensor: the training loop reads it at log points
