"""RNN transducer (Graves 2012): acoustic encoder, prediction network over previous labels, joiner, and
the transducer loss computed over the (T, U) lattice in log space.

The blank is id 0 (<pad>); the prediction network starts from <bos>. torchaudio (which ships an RNN-T
loss) is not a dependency, so the loss is implemented here and tested against exhaustive enumeration.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqgap_lab.data.vocab import BOS, PAD
from seqgap_lab.models.speech.ctc import mask_specials
from seqgap_lab.models.speech.encoder import SpeechEncoder, SpeechModelConfig

BLANK = PAD
REDUCTIONS = ("none", "sum", "mean", "mean_per_label")


def _check_lattice(log_probs, targets, logit_lengths, target_lengths) -> None:
    b, t, u1, _ = log_probs.shape
    if targets.shape != (b, u1 - 1):
        raise ValueError(f"transducer_loss: targets shape {tuple(targets.shape)} does not match log_probs "
                         f"{tuple(log_probs.shape)}: expected (batch, U) with log_probs (batch, T, U + 1, V)")
    if logit_lengths.min() < 1 or logit_lengths.max() > t or target_lengths.min() < 0 or target_lengths.max() > u1 - 1:
        raise ValueError(f"transducer_loss: logit_lengths must be in [1, {t}] and target_lengths in [0, {u1 - 1}], "
                         f"got {logit_lengths.tolist()} and {target_lengths.tolist()}")


def transducer_loss(log_probs: torch.Tensor, targets: torch.Tensor, logit_lengths: torch.Tensor,
                    target_lengths: torch.Tensor, blank: int = BLANK, reduction: str = "mean") -> torch.Tensor:
    """-log p(y | x) summed over every monotone alignment of the lattice.

    log_probs (B, T, U + 1, V) are the joiner's log-softmax; targets (B, U) label ids (padding ignored);
    logit_lengths (B,) frames, target_lengths (B,) labels. alpha(t, u) = logaddexp(alpha(t-1, u) +
    blank(t-1, u), alpha(t, u-1) + emit(t, u-1)), one frame (row) at a time: within a row the second term
    is a running sum, so with C(u) = sum_{j<u} emit(t, j) the row is C + logcumsumexp(a - C), where
    a(u) = alpha(t-1, u) + blank(t-1, u). T vectorised steps, exact, differentiable by autograd.
    reduction: none (B,) | sum | mean (over the batch) | mean_per_label (each NLL / max(1, U_b), then mean).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction = {reduction!r} is not allowed: expected one of {' | '.join(REDUCTIONS)}")
    _check_lattice(log_probs, targets, logit_lengths, target_lengths)
    b, t_max, u1, _ = log_probs.shape
    blank_lp = log_probs[..., blank]  # (B, T, U+1)
    index = targets.clamp(min=0)[:, None, :, None].expand(b, t_max, u1 - 1, 1)
    emit_lp = log_probs[:, :, : u1 - 1].gather(-1, index).squeeze(-1)  # (B, T, U)
    cum = torch.cat([emit_lp.new_zeros(b, t_max, 1), emit_lp.cumsum(-1)], dim=-1)  # (B, T, U+1): C(t, u)
    alpha = cum[:, 0]  # (B, U+1): at the first frame the only way to (0, u) is u emissions
    rows = [alpha]
    for t in range(1, t_max):
        from_below = alpha + blank_lp[:, t - 1]  # (B, U+1)
        alpha = cum[:, t] + torch.logcumsumexp(from_below - cum[:, t], dim=-1)
        rows.append(alpha)
    alphas = torch.stack(rows, dim=1)  # (B, T, U+1)
    batch = torch.arange(b, device=log_probs.device)
    last_t, last_u = logit_lengths.long() - 1, target_lengths.long()
    nll = -(alphas[batch, last_t, last_u] + blank_lp[batch, last_t, last_u])  # (B,)
    if reduction == "sum":
        return nll.sum()
    if reduction == "mean":
        return nll.mean()
    if reduction == "mean_per_label":
        return (nll / target_lengths.clamp(min=1)).mean()
    return nll


class TransducerModel(nn.Module):
    """Encoder + prediction network (embedding + GRU over previous labels) + joiner (add, tanh, linear)."""

    kind = "transducer"

    def __init__(self, config: SpeechModelConfig, vocab_size: int):
        super().__init__()
        self.config, self.vocab_size = config, vocab_size
        self.encoder = SpeechEncoder(config)
        self.embed = nn.Embedding(vocab_size, config.pred_dim)
        self.pred_rnn = nn.GRU(config.pred_dim, config.pred_dim, batch_first=True)
        self.enc_proj = nn.Linear(config.d_model, config.joint_dim)
        self.pred_proj = nn.Linear(config.pred_dim, config.joint_dim)
        self.out = nn.Linear(config.joint_dim, vocab_size)

    def predict(self, labels: torch.Tensor, hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Prediction network: labels (B, U) -> outputs (B, U, pred_dim), hidden (1, B, pred_dim)."""
        return self.pred_rnn(self.embed(labels), hidden)

    def joint(self, enc_part: torch.Tensor, pred_part: torch.Tensor) -> torch.Tensor:
        """Projected encoder and prediction outputs (broadcastable, last dim joint_dim) -> log_probs (..., V)."""
        logits = self.out(torch.tanh(enc_part + pred_part))
        return F.log_softmax(mask_specials(logits).float(), dim=-1)

    def forward(self, src: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor):
        """Lattice log_probs (B, T', U+1, V) and the encoder's output lengths (B,)."""
        enc, out_lengths = self.encoder(src, lengths)  # (B, T', D)
        start = torch.full_like(targets[:, :1], BOS)
        pred, _ = self.predict(torch.cat([start, targets], dim=1))  # (B, U+1, P)
        lattice = self.joint(self.enc_proj(enc)[:, :, None], self.pred_proj(pred)[:, None])  # (B, T', U+1, V)
        return lattice, out_lengths

    def loss(self, batch, step: int = 0) -> tuple[torch.Tensor, dict]:
        """Transducer NLL per target character (like CTCLoss's "mean"), averaged over the batch."""
        lattice, out_lengths = self(batch.src, batch.lengths, batch.targets)
        loss = transducer_loss(lattice, batch.targets, out_lengths, batch.target_lengths, reduction="mean_per_label")
        return loss, {"frames_per_char": float(out_lengths.sum() / batch.target_lengths.sum())}

    def num_parameters(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
