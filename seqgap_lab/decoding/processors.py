"""Composable logits processors: each maps scores (N, V) and the ids generated so far (N, t) to new scores.

Scores may be raw logits or log-probs: every processor here gives the same distribution after a softmax
either way (they shift, scale or mask), except RepetitionPenalty, which (like CTRL) is meant for logits.
Processors never modify their input in place, so a caller can keep the unprocessed log-probs.
"""
from __future__ import annotations

import math
from typing import Iterable, Protocol

import torch

from seqgap_lab.core.config import check_float, check_int
from seqgap_lab.data.vocab import EOS

NEG_INF = float("-inf")


class Processor(Protocol):
    """scores (N, V), generated (N, t) ids already emitted (without <bos>) -> new scores (N, V)."""

    def __call__(self, scores: torch.Tensor, generated: torch.Tensor) -> torch.Tensor: ...


class Temperature:
    """Divide scores by t: t < 1 sharpens, t > 1 flattens the distribution."""

    def __init__(self, t: float):
        check_float("Temperature", "t", t, 0.0, math.inf, lo_open=True)
        self.t = float(t)

    def __call__(self, scores: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        return scores if self.t == 1.0 else scores / self.t


class TopK:
    """Keep the k highest scores of each row (ties with the k-th are kept), mask the rest to -inf."""

    def __init__(self, k: int):
        check_int("TopK", "k", k, 1)
        self.k = k

    def __call__(self, scores: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        if self.k >= scores.shape[-1]:
            return scores
        kth = scores.topk(self.k, dim=-1).values[:, -1:]  # (N, 1)
        return scores.masked_fill(scores < kth, NEG_INF)


class TopP:
    """Nucleus: keep the smallest set of most likely tokens whose probability sums to >= p."""

    def __init__(self, p: float):
        check_float("TopP", "p", p, 0.0, 1.0, lo_open=True)
        self.p = float(p)

    def __call__(self, scores: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        if self.p >= 1.0:  # a no-op; skipping it also avoids dropping tokens to cumsum rounding
            return scores
        sorted_scores, order = scores.sort(dim=-1, descending=True)  # (N, V)
        probs = sorted_scores.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass of the strictly better tokens
        drop_sorted = before >= self.p  # the best token always has before == 0 < p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        return scores.masked_fill(drop, NEG_INF)


class MinLength:
    """Forbid <eos> until it would end a sequence of at least n tokens (n counts the <eos>)."""

    def __init__(self, n: int, eos: int = EOS):
        check_int("MinLength", "n", n, 0)
        check_int("MinLength", "eos", eos, 0)
        self.n, self.eos = n, eos

    def __call__(self, scores: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        if generated.shape[1] >= self.n - 1:  # this token would be number t+1
            return scores
        scores = scores.clone()
        scores[:, self.eos] = NEG_INF
        return scores


class RepetitionPenalty:
    """CTRL (Keskar et al., 2019): a token already generated in the row has its positive score divided
    and its negative score multiplied by `penalty`, so it always becomes less likely."""

    def __init__(self, penalty: float):
        check_float("RepetitionPenalty", "penalty", penalty, 1.0, math.inf)
        self.penalty = float(penalty)

    def __call__(self, scores: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        if self.penalty == 1.0 or generated.shape[1] == 0:
            return scores
        seen = scores.gather(1, generated)  # (N, t); repeated ids get the same value twice
        seen = torch.where(seen > 0, seen / self.penalty, seen * self.penalty)
        return scores.scatter(1, generated, seen)


class NoRepeatNGram:
    """Mask every token that would complete an n-gram already present in the row's generated ids."""

    def __init__(self, n: int):
        check_int("NoRepeatNGram", "n", n, 1)
        self.n = n

    def __call__(self, scores: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        n, t = self.n, generated.shape[1]
        if t < n:  # no complete earlier n-gram (n=1: nothing generated yet)
            return scores
        grams = generated.unfold(1, n, 1)  # (N, t-n+1, n)
        tail = generated[:, t - n + 1:]  # (N, n-1) the prefix the next token extends
        match = (grams[:, :, :-1] == tail[:, None, :]).all(-1)  # (N, t-n+1)
        # scatter_add, not scatter: one banned id may appear in several n-grams, matching or not
        hits = torch.zeros_like(scores).scatter_add_(1, grams[:, :, -1], match.to(scores.dtype))
        return scores.masked_fill(hits > 0, NEG_INF)


def apply_processors(processors: Iterable[Processor], scores: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    """Run processors left to right: scores (N, V), generated (N, t) -> (N, V)."""
    for processor in processors:
        scores = processor(scores, generated)
    return scores


def build_processors(temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, min_len: int = 0,
                     repetition_penalty: float = 1.0, no_repeat_ngram: int = 0, eos: int = EOS) -> list[Processor]:
    """Processors for DecodeConfig-named values, no-ops left out, in the order HF uses: penalties and
    masks on the model's scores first, then temperature, then truncation (top-k, top-p).

    top_k=0 and no_repeat_ngram=0 mean off; every other value is validated by its processor.
    """
    check_int("build_processors", "top_k", top_k, 0)
    check_int("build_processors", "no_repeat_ngram", no_repeat_ngram, 0)
    out: list[Processor] = []
    if repetition_penalty != 1.0:
        out.append(RepetitionPenalty(repetition_penalty))
    if no_repeat_ngram:
        out.append(NoRepeatNGram(no_repeat_ngram))
    if min_len:
        out.append(MinLength(min_len, eos))
    if temperature != 1.0:
        out.append(Temperature(temperature))
    if top_k:
        out.append(TopK(top_k))
    if top_p != 1.0:
        out.append(TopP(top_p))
    return out

