"""Hypothesis scoring for beam search: length penalties now, the hook for a coverage penalty later."""
from __future__ import annotations

import math

import torch

from seqgap_lab.config import check_choice, check_float

LENGTH_PENALTIES = ("none", "gnmt", "hf")


def length_penalty(lengths: torch.Tensor, alpha: float, kind: str = "gnmt") -> torch.Tensor:
    """The divisor lp(|Y|) of a summed log-prob, |Y| counting the <eos>: gnmt ((5+|Y|)/6)**alpha (Wu et al.,
    2016), hf |Y|**alpha (Hugging Face), none 1. Every one is >= 1 and non-decreasing in |Y| for alpha >= 0."""
    check_choice("length_penalty", "kind", kind, LENGTH_PENALTIES)
    lengths = lengths.float()
    if kind == "none" or alpha == 0.0:
        return torch.ones_like(lengths)
    if kind == "gnmt":
        return ((5.0 + lengths) / 6.0) ** alpha
    return lengths ** alpha


class BeamScorer:
    """Final score of a hypothesis from its summed log-probs (raw), length and attention coverage.

    The hook for coverage penalties: a subclass sets `needs_attention = True`; beam search then steps the
    model with need_weights=True, sums each hypothesis's attention rows (state["attention"], (N, S)) into
    `coverage` (N, S), reorders it with the beams, and passes it to `score` and `bound`.
    """

    needs_attention = False

    def __init__(self, alpha: float = 0.0, length_penalty: str = "gnmt"):
        check_float("BeamScorer", "alpha", alpha, 0.0, math.inf)
        check_choice("BeamScorer", "length_penalty", length_penalty, LENGTH_PENALTIES)
        self.alpha, self.kind = float(alpha), length_penalty

    def score(self, raw: torch.Tensor, lengths: torch.Tensor, coverage: torch.Tensor | None = None) -> torch.Tensor:
        """Normalized score of finished hypotheses: raw (...), lengths (...) -> (...)."""
        return raw / length_penalty(lengths, self.alpha, self.kind)

    def bound(self, raw: torch.Tensor, max_len: int, coverage: torch.Tensor | None = None) -> torch.Tensor:
        """Upper bound on `score` of any completion (length <= max_len) of live hypotheses with summed
        log-probs raw (...): raw can only fall (log-probs <= 0) and lp is largest at max_len, so
        raw / lp(max_len) bounds every future score (raw <= 0). A subclass must keep this a bound."""
        return raw / length_penalty(torch.tensor(float(max_len)), self.alpha, self.kind).to(raw.device)
