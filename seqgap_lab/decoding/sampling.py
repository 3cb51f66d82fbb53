"""Ancestral sampling: batched, incremental, with temperature / top-k / top-p / min-length processors."""
from __future__ import annotations

from typing import Sequence

import torch

from seqgap_lab.core.config import check_int
from seqgap_lab.decoding.processors import Processor, build_processors
from seqgap_lab.decoding.search import DecodeOutput, autoregress
from seqgap_lab.models.base import Seq2SeqModel


def _sampler(generator: torch.Generator | None):
    """A Chooser drawing one id per row from softmax(scores) with `generator`."""

    def choose(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = scores.log_softmax(-1)  # (A, V) the truncated / tempered distribution
        ids = torch.multinomial(log_probs.exp(), 1, generator=generator)  # (A, 1)
        return ids[:, 0], log_probs.gather(1, ids)[:, 0]

    return choose


@torch.no_grad()
def sample(model: Seq2SeqModel, src: torch.Tensor, src_mask: torch.Tensor, max_len: int, num_samples: int = 1,
           temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, min_len: int = 0,
           generator: torch.Generator | None = None, processors: Sequence[Processor] = ()) -> DecodeOutput:
    """Draw num_samples sequences per source, each token from the processed model distribution.

    The encoder runs once per source; its memory is repeated num_samples times. Row b*num_samples + j of
    the output is sample j of source b: tokens (B*n, max_len) padded with PAD after <eos>, lengths (B*n,)
    incl. <eos>. scores (B*n,) = log P(y|x) under the unmodified model (log_softmax of the raw logits), as
    minimum risk training needs; extras["processed_scores"] = log-prob under the distribution sampled from.
    `processors` (e.g. RepetitionPenalty) run before the ones built from the keyword values; `generator`
    (on src's device) makes the draws reproducible.
    """
    check_int("sample", "num_samples", num_samples, 1)
    check_int("sample", "max_len", max_len, 1)
    chain = list(processors) + build_processors(temperature=temperature, top_k=top_k, top_p=top_p,
                                                min_len=min_len)
    state = model.init_state(model.encode(src, src_mask), src_mask, beam=num_samples)  # (B*n) rows
    out = autoregress(model, state, max_len, chain, _sampler(generator))
    out.extras["num_samples"] = num_samples
    return out
