"""Search over a model's step interface: the shared row-by-row loop and batched greedy decoding."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import torch

from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding.processors import MinLength, Processor, apply_processors
from seqgap_lab.models.base import DecoderState, Seq2SeqModel

# scores (A, V) after the processors -> chosen ids (A,) and, optionally, their log-prob under the
# distribution actually sampled from (A,)
Chooser = Callable[[torch.Tensor], tuple[torch.Tensor, Optional[torch.Tensor]]]


@dataclass
class DecodeOutput:
    """tokens (B, T) padded after <eos>; scores (B,) summed log-probs; lengths (B,) incl. <eos>."""

    tokens: torch.Tensor
    scores: torch.Tensor
    lengths: torch.Tensor
    extras: dict = field(default_factory=dict)


def autoregress(model: Seq2SeqModel, state: DecoderState, max_len: int, processors: Sequence[Processor],
                choose: Chooser) -> DecodeOutput:
    """Decode every row of `state` independently: one token per step chosen by `choose` from the processed
    log-probs; a row stops at its first <eos>; finished rows are dropped from the batch.

    scores sum the chosen tokens' log-probs under the unmodified model (log P(y|x)); when `choose` returns
    them, extras["processed_scores"] sums the log-probs under the distribution it chose from.
    """
    n, device = state.batch_size, state["src_mask"].device
    tokens = torch.full((n, max_len), PAD, dtype=torch.long, device=device)
    scores = torch.zeros(n, device=device)
    processed = torch.zeros(n, device=device)
    lengths = torch.full((n,), max_len, dtype=torch.long, device=device)
    active = torch.arange(n, device=device)  # original row of each row still decoding
    prev = torch.full((n,), BOS, dtype=torch.long, device=device)
    for t in range(max_len):
        logits, state = model.step(prev, state)
        log_probs = logits.float().log_softmax(-1)  # (A, V)
        if processors:  # the history copy costs O(A t), so only when something reads it
            prev, picked = choose(apply_processors(processors, log_probs, tokens[active, :t]))
        else:
            prev, picked = choose(log_probs)
        tokens[active, t] = prev
        scores[active] += log_probs.gather(1, prev[:, None])[:, 0]
        if picked is not None:
            processed[active] += picked
        done = prev == EOS
        if done.any():
            lengths[active[done]] = t + 1
            keep = (~done).nonzero()[:, 0]
            if keep.numel() == 0:
                break
            # Why prune: later steps then cost only what is still decoding.
            active, prev, state = active[keep], prev[keep], state.reorder(keep)
    return DecodeOutput(tokens, scores, lengths, {"processed_scores": processed})


def _argmax(scores: torch.Tensor) -> tuple[torch.Tensor, None]:
    return scores.argmax(-1), None


@torch.no_grad()
def greedy(model: Seq2SeqModel, src: torch.Tensor, src_mask: torch.Tensor, max_len: int,
           min_len: int = 0, processors: Sequence[Processor] = ()) -> DecodeOutput:
    """Argmax at every step; a row stops at its first <eos> (never before min_len tokens); finished rows
    are dropped from the batch. `processors` (e.g. NoRepeatNGram) change the argmax, never the scores:
    scores stay the model's log P(y|x)."""
    state = model.init_state(model.encode(src, src_mask), src_mask)
    chain = list(processors) + ([MinLength(min_len)] if min_len else [])
    out = autoregress(model, state, max_len, chain, _argmax)
    out.extras.clear()  # argmax has no distribution of its own: scores are the whole story
    return out
