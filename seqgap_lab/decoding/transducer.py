"""Transducer decoding: batched greedy (at most max_symbols labels per frame) and a time-synchronous beam
search that merges hypotheses with the same labels, so a hypothesis's score sums its alignments."""
from __future__ import annotations

import math

import torch

from seqgap_lab.data.vocab import BOS

NEG_INF = float("-inf")


def _check(name: str, value, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} = {value!r} is not allowed: expected an integer >= {lo}")


@torch.no_grad()
def transducer_greedy(model, src: torch.Tensor, lengths: torch.Tensor, max_symbols: int = 5,
                      blank: int = 0) -> list[list[int]]:
    """Greedy decoding of a batch: at each frame emit the argmax label until it is blank (or max_symbols)."""
    _check("max_symbols", max_symbols, 1)
    enc, out_lengths = model.encoder(src, lengths)
    f = model.enc_proj(enc)  # (B, T', J)
    b = src.shape[0]
    g, hidden = model.predict(torch.full((b, 1), BOS, device=src.device))  # (B, 1, P), (1, B, P)
    g = g[:, 0]
    hyps: list[list[int]] = [[] for _ in range(b)]
    for t in range(f.shape[1]):
        active = t < out_lengths  # (B,)
        for _ in range(max_symbols):
            best = model.joint(f[:, t], model.pred_proj(g)).argmax(-1)  # (B,)
            emit = active & (best != blank)
            if not emit.any():
                break
            for i in emit.nonzero()[:, 0].tolist():
                hyps[i].append(int(best[i]))
            new_g, new_hidden = model.predict(best[:, None], hidden)
            g = torch.where(emit[:, None], new_g[:, 0], g)
            hidden = torch.where(emit[None, :, None], new_hidden, hidden)
    return hyps


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    hi, lo = max(a, b), min(a, b)
    return hi + math.log1p(math.exp(lo - hi))


class _PredCache:
    """Prediction-network outputs per label prefix, computed once, one batched GRU step for new prefixes."""

    def __init__(self, model, device):
        self.model, self.cache = model, {}
        g, hidden = model.predict(torch.full((1, 1), BOS, device=device))
        self.cache[()] = (model.pred_proj(g[0, 0]), hidden[:, 0])

    def get(self, prefixes: list[tuple]) -> torch.Tensor:
        """(N, J) projected prediction outputs of the prefixes (each prefix's parent is cached)."""
        new = [p for p in dict.fromkeys(prefixes) if p not in self.cache]
        if new:
            labels = torch.tensor([[p[-1]] for p in new], device=self.cache[()][0].device)  # (n, 1)
            hidden = torch.stack([self.cache[p[:-1]][1] for p in new], dim=1)  # (1, n, P)
            g, hidden = self.model.predict(labels, hidden)
            proj = self.model.pred_proj(g[:, 0])
            for i, p in enumerate(new):
                self.cache[p] = (proj[i], hidden[:, i])
        return torch.stack([self.cache[p][0] for p in prefixes])


def _frame(f_t, hyps: dict, cache: _PredCache, beam: int, max_symbols: int, blank: int) -> dict:
    """One frame: hypotheses may emit up to max_symbols labels, then a blank moves them to the next frame."""
    done: dict = {}
    live = hyps
    for s in range(max_symbols + 1):
        prefixes = list(live)
        log_probs = cache.model.joint(f_t[None], cache.get(prefixes)).tolist()  # (N, V)
        cands = []
        for prefix, row in zip(prefixes, log_probs):
            done[prefix] = _logaddexp(done.get(prefix, NEG_INF), live[prefix] + row[blank])
            if s < max_symbols:
                cands += [(prefix + (c,), live[prefix] + lp) for c, lp in enumerate(row) if c != blank and lp > NEG_INF]
        if not cands:
            break
        live = dict(sorted(cands, key=lambda kv: -kv[1])[:beam])
    return dict(sorted(done.items(), key=lambda kv: -kv[1])[:beam])


@torch.no_grad()
def transducer_beam(model, src: torch.Tensor, lengths: torch.Tensor, beam_size: int = 4, max_symbols: int = 5,
                    blank: int = 0) -> list[list[tuple[list[int], float]]]:
    """Beam search per utterance -> n-best [(labels, log score), ...] best first.

    Time-synchronous (in the spirit of ESPnet's and k2's simplified searches): at each frame the beam's
    hypotheses emit 0..max_symbols labels, pruned to beam_size after every emission round, and end the
    frame with a blank. Hypotheses with the same labels are merged by adding probabilities, so with an
    unpruned beam and max_symbols >= U the score of y is log p(y | x) (the transducer loss's total).
    """
    _check("beam_size", beam_size, 1)
    _check("max_symbols", max_symbols, 1)
    enc, out_lengths = model.encoder(src, lengths)
    f = model.enc_proj(enc)  # (B, T', J)
    results = []
    for i in range(src.shape[0]):
        cache, hyps = _PredCache(model, src.device), {(): 0.0}
        for t in range(int(out_lengths[i])):
            hyps = _frame(f[i, t], hyps, cache, beam_size, max_symbols, blank)
        results.append([(list(p), score) for p, score in hyps.items()])
    return results
