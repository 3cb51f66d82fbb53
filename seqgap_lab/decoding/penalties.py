"""Hypothesis scoring for beam search: length penalties and the GNMT coverage penalty (Wu et al., 2016)."""
from __future__ import annotations

import math

import torch

from seqgap_lab.core.config import check_choice, check_float

LENGTH_PENALTIES = ("none", "gnmt", "hf")
# Coverage is clamped here before the log: a real source position whose attention underflowed to 0 at
# every step gets a large finite penalty (log ~ -87), not -inf, which beam search reads as an empty slot.
_TINY = torch.finfo(torch.float32).tiny
# Each attention row sums to 1 only up to float rounding (~1e-7 a step): this slack on the remaining
# attention mass keeps the stopping bound a bound; it can only delay early stopping, never change a result.
_BUDGET_SLACK = 1e-3


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
    `coverage` (N, S), reorders it with the beams, and passes it to `score` and `bound`. A subclass that
    also sets `needs_src_mask = True` gets `src_mask=` (..., 1, S) bool (True = real source token) too.
    """

    needs_attention = False
    needs_src_mask = False

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


def coverage_penalty(coverage: torch.Tensor, src_mask: torch.Tensor, beta: float) -> torch.Tensor:
    """GNMT cp = beta * sum_i log(min(c_i, 1)) over the real source positions i (padding counts as
    covered): coverage (..., S) summed attention, src_mask broadcastable to it -> (...). Always <= 0."""
    capped = coverage.clamp(min=_TINY, max=1.0).masked_fill(~src_mask, 1.0)  # (..., S)
    return beta * capped.log().sum(-1)


def best_coverage_penalty(coverage: torch.Tensor, src_mask: torch.Tensor, budget: torch.Tensor,
                          beta: float) -> torch.Tensor:
    """The largest cp reachable by adding at most `budget` (...) units of attention mass to coverage (..., S).

    cp is concave and non-decreasing in every c_i, so the best use of the mass is water-filling: raise the
    least covered positions to one common level h (no gain above 1). h = min over m of
    (sum of the m smallest c + budget) / m, because each of those lines lies below the filling cost.
    """
    full = coverage.clamp(max=1.0).masked_fill(~src_mask, 1.0)  # (..., S) padding needs no mass
    ascending = full.sort(-1).values
    m = torch.arange(1, full.shape[-1] + 1, device=full.device, dtype=full.dtype)
    level = ((ascending.cumsum(-1) + budget[..., None]) / m).amin(-1, keepdim=True)  # (..., 1)
    return coverage_penalty(torch.maximum(full, level.clamp(max=1.0)), src_mask, beta)


class CoveragePenalty(BeamScorer):
    """GNMT scoring: raw / lp(|Y|) + cp(X; Y), cp from the decoder's attention summed over the target.

    Stopping bound: cp <= 0 and it only grows as coverage grows, so cp of the current coverage is a *lower*
    bound of any completion's cp, and 0 a valid but loose upper one. Tighter and still valid: every future
    step adds exactly one unit of attention mass over the real positions, so a live hypothesis whose
    coverage sums to m can add at most max_len - m; the best cp within that budget (water-filling,
    best_coverage_penalty) bounds every completion. The two terms are bounded separately.
    """

    needs_attention = True
    needs_src_mask = True

    def __init__(self, alpha: float = 0.0, length_penalty: str = "gnmt", beta: float = 0.0):
        super().__init__(alpha, length_penalty)
        check_float("CoveragePenalty", "beta", beta, 0.0, math.inf)
        self.beta = float(beta)

    def score(self, raw: torch.Tensor, lengths: torch.Tensor, coverage: torch.Tensor | None = None,
              src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """raw (...) / lp(lengths) + cp(coverage (..., S)) with padding masked by src_mask."""
        return super().score(raw, lengths) + coverage_penalty(coverage, src_mask, self.beta)

    def bound(self, raw: torch.Tensor, max_len: int, coverage: torch.Tensor | None = None,
              src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The length-normalized bound plus the best cp reachable with the attention mass still to come."""
        mass = coverage.masked_fill(~src_mask, 0.0).sum(-1)  # (...) one unit per token fed so far
        budget = (max_len - mass).clamp(min=0.0) + _BUDGET_SLACK
        return super().bound(raw, max_len) + best_coverage_penalty(coverage, src_mask, budget, self.beta)
