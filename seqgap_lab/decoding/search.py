"""Search over a model's step interface: batched greedy decoding with incremental state."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from seqgap_lab.data.tokenize import BOS, EOS, PAD
from seqgap_lab.models.base import Seq2SeqModel


@dataclass
class DecodeOutput:
    """tokens (B, T) padded after <eos>; scores (B,) summed log-probs; lengths (B,) incl. <eos>."""

    tokens: torch.Tensor
    scores: torch.Tensor
    lengths: torch.Tensor
    extras: dict = field(default_factory=dict)


@torch.no_grad()
def greedy(model: Seq2SeqModel, src: torch.Tensor, src_mask: torch.Tensor, max_len: int,
           min_len: int = 0) -> DecodeOutput:
    """Argmax at every step; a row stops at its first <eos> (never before min_len tokens); finished rows
    are dropped from the batch."""
    b, device = src.shape[0], src.device
    state = model.init_state(model.encode(src, src_mask), src_mask)
    tokens = torch.full((b, max_len), PAD, dtype=torch.long, device=device)
    scores = torch.zeros(b, device=device)
    lengths = torch.full((b,), max_len, dtype=torch.long, device=device)
    active = torch.arange(b, device=device)  # original row of each row still decoding
    prev = torch.full((b,), BOS, dtype=torch.long, device=device)
    for t in range(max_len):
        logits, state = model.step(prev, state)
        log_probs = logits.float().log_softmax(-1)  # (A, V)
        if t < min_len - 1:
            log_probs[:, EOS] = float("-inf")
        prev = log_probs.argmax(-1)
        tokens[active, t] = prev
        scores[active] += log_probs.gather(1, prev[:, None])[:, 0]
        done = prev == EOS
        if done.any():
            lengths[active[done]] = t + 1
            keep = (~done).nonzero()[:, 0]
            if keep.numel() == 0:
                break
            # Why prune: later steps then cost only what is still decoding.
            active, prev, state = active[keep], prev[keep], state.reorder(keep)
    return DecodeOutput(tokens, scores, lengths)
