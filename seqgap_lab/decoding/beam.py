"""Beam search, batched over sentences and beams, with the finished hypotheses kept per sentence."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from seqgap_lab.core.config import ConfigError, check_int
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding.penalties import BeamScorer
from seqgap_lab.decoding.processors import Processor, apply_processors
from seqgap_lab.decoding.search import DecodeOutput
from seqgap_lab.models.base import Seq2SeqModel

NEG_INF = float("-inf")


def _take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Per-sentence gather: x (A, C, ...) and idx (A, K) -> (A, K, ...)."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], idx]


class _Finished:
    """The `size` best finished hypotheses of every sentence, best first; -inf scores mark empty slots."""

    def __init__(self, batch: int, size: int, max_len: int, device: torch.device):
        self.scores = torch.full((batch, size), NEG_INF, device=device)  # normalized, what ranks
        self.raw = torch.full((batch, size), NEG_INF, device=device)  # summed log-probs
        self.lengths = torch.zeros((batch, size), dtype=torch.long, device=device)
        self.tokens = torch.full((batch, size, max_len), PAD, dtype=torch.long, device=device)

    def add(self, sent: torch.Tensor, tokens: torch.Tensor, raw: torch.Tensor, lengths: torch.Tensor,
            scores: torch.Tensor) -> None:
        """Merge candidates of sentences sent (A,): tokens (A, C, T); raw, lengths, scores (A, C)."""
        size = self.scores.shape[1]
        top = torch.cat([self.scores[sent], scores], 1).topk(size, dim=1).indices  # (A, size) best first
        for name, new in (("scores", scores), ("raw", raw), ("lengths", lengths), ("tokens", tokens)):
            old = getattr(self, name)
            old[sent] = _take(torch.cat([old[sent], new], 1), top)

    def worst(self, sent: torch.Tensor) -> torch.Tensor:
        """(A,) score of the size-th best finished hypothesis (-inf until there are size of them)."""
        return self.scores[sent, -1]


@dataclass
class _Live:
    """The live beams of the sentences still searching: A sentences x k beams, flat row = a * k + j."""

    tokens: torch.Tensor  # (A, k, T) emitted so far, PAD beyond
    raw: torch.Tensor  # (A, k) summed (processed) log-probs
    prev: torch.Tensor  # (A*k,) last token, the next step's input
    coverage: torch.Tensor | None  # (A*k, S) summed attention, only when the scorer asks for it
    src_mask: torch.Tensor | None  # (A, S) per sentence, only when the scorer asks for it

    def subset(self, keep: torch.Tensor) -> "_Live":
        """The beams of the sentences kept (A,) bool."""
        k = self.raw.shape[1]
        rows = keep.repeat_interleave(k)
        cov = None if self.coverage is None else self.coverage[rows]
        mask = None if self.src_mask is None else self.src_mask[keep]
        return _Live(self.tokens[keep], self.raw[keep], self.prev[rows], cov, mask)

    def coverage_3d(self) -> torch.Tensor | None:
        """(A, k, S) view of the coverage, or None."""
        return None if self.coverage is None else self.coverage.view(*self.raw.shape, -1)

    def extra(self) -> dict:
        """The scorer's keyword arguments beyond coverage: src_mask (A, 1, S) when it asked for it."""
        return {} if self.src_mask is None else {"src_mask": self.src_mask[:, None, :]}


def _chunk_size(v: int) -> int | None:
    """A divisor of the vocabulary size in [16, 64] to cut rows into, or None (narrow or indivisible rows)."""
    if v < 8 * 64:
        return None
    return next((c for c in range(64, 15, -1) if v % c == 0), None)


def _top_candidates(raw: torch.Tensor, log_probs: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The n best expansions raw + log-prob of every sentence: raw (A, k), log_probs (A*k, V) -> values (A, n)
    best first and their flat indices in [0, k*V), the values a topk over all k*V candidates gives.

    Why chunks: a topk over k*V per step cost more than the log-softmax. Cut each row into chunks of c ids;
    the n chunks with the best maxima hold at least n candidates >= the n-th best maximum, so they hold the
    n best candidates: only their n*c candidates are ranked (ties may pick other, equal, candidates).
    """
    a, k = raw.shape
    v = log_probs.shape[-1]
    c = _chunk_size(v)
    if c is None or n > k * (v // c):
        return (raw.reshape(-1, 1) + log_probs).view(a, k * v).topk(n, dim=1)  # (A, n)
    chunks = log_probs.view(a, k * (v // c), c)  # (A, k*V/c, c) chunk b of sentence a = beam b // (V/c)
    offset = raw[:, :, None].expand(a, k, v // c).reshape(a, -1)  # (A, k*V/c) raw of each chunk's beam (no host sync)
    best = (offset + chunks.amax(-1)).topk(n, dim=1).indices  # (A, n) raw + max commutes: adding is monotone
    cand = offset.gather(1, best)[..., None] + chunks.gather(1, best[..., None].expand(-1, -1, c))  # (A, n, c)
    values, pos = cand.view(a, n * c).topk(n, dim=1)  # (A, n)
    return values, best.gather(1, pos // c) * c + pos % c


def _advance(live: _Live, fin: _Finished, active: torch.Tensor, log_probs: torch.Tensor, scorer: BeamScorer,
             t: int) -> tuple[_Live, torch.Tensor]:
    """One expansion: log_probs (A*k, V) -> the new live beams and their parent rows (A, k) in the flat batch.

    The 2k best candidates per sentence are ranked; a candidate ending in <eos> that ranks among the first k
    joins the finished hypotheses (HF's rule), and the k best other candidates stay live.
    """
    a, k = live.raw.shape
    v = log_probs.shape[-1]
    values, idx = _top_candidates(live.raw, log_probs, min(2 * k, k * v))  # (A, 2k) best first
    parent, token = idx // v, idx % v
    is_eos = token == EOS  # at most one per parent, so >= k candidates remain for the live beams
    rank = torch.arange(values.shape[1], device=values.device)
    eligible = is_eos & (rank < k) & values.isfinite()
    if eligible.any():
        tokens = _take(live.tokens, parent)  # (A, 2k, T)
        tokens[:, :, t] = EOS
        lengths = torch.full_like(parent, t + 1)
        cov = live.coverage_3d()
        scores = scorer.score(values, lengths, None if cov is None else _take(cov, parent), **live.extra())
        fin.add(active, tokens, values, lengths, scores.masked_fill(~eligible, NEG_INF))
    raw, pos = values.masked_fill(is_eos, NEG_INF).topk(k, dim=1)  # (A, k) best non-<eos>
    parent, token = parent.gather(1, pos), token.gather(1, pos)
    tokens = _take(live.tokens, parent)  # (A, k, T)
    tokens[:, :, t] = token
    rows = parent + torch.arange(a, device=parent.device)[:, None] * k  # (A, k)
    cov = None if live.coverage is None else live.coverage[rows.flatten()]
    return _Live(tokens, raw, token.flatten(), cov, live.src_mask), rows


def _start(model: Seq2SeqModel, src: torch.Tensor, src_mask: torch.Tensor, k: int, max_len: int,
           scorer: BeamScorer):
    """Encoder once per source, state with k rows per source, live beams [0, -inf, ...] per sentence."""
    b, device = src.shape[0], src.device
    state = model.init_state(model.encode(src, src_mask), src_mask, beam=k)  # (B*k) rows
    raw = torch.full((b, k), NEG_INF, device=device)
    raw[:, 0] = 0.0  # all beams start identical: only the first may expand, or the beam holds duplicates
    tokens = torch.full((b, k, max_len), PAD, dtype=torch.long, device=device)
    prev = torch.full((b * k,), BOS, dtype=torch.long, device=device)
    cov = torch.zeros(b * k, src.shape[1], device=device) if scorer.needs_attention else None
    return state, _Live(tokens, raw, prev, cov, src_mask if scorer.needs_src_mask else None)


@torch.no_grad()
def beam_search(model: Seq2SeqModel, src: torch.Tensor, src_mask: torch.Tensor, max_len: int,
                beam_size: int = 5, alpha: float = 0.0, length_penalty: str = "gnmt", num_return: int = 1,
                min_len: int = 0, processors: Sequence[Processor] = (),
                scorer: BeamScorer | None = None) -> DecodeOutput:
    """Beam search; returns the num_return best hypotheses per source, best first.

    Scores: raw = summed log-probs after `processors` and min_len's <eos> mask (log P(y|x) when they only
    mask, as MinLength and NoRepeatNGram do; processed scores must stay <= 0 for the bound below);
    final = scorer.score(raw, |Y|, coverage), by default raw / lp(|Y|) with the GNMT, HF or no length
    penalty (|Y| counts the <eos>; a hypothesis cut at max_len has |Y| = max_len and no <eos>); a given
    `scorer` replaces alpha and length_penalty (penalties.CoveragePenalty adds the GNMT coverage penalty).
    Stopping rule: a sentence is done once it has beam_size finished hypotheses and the worst of them
    scores >= scorer.bound of every live beam (raw / lp(max_len): log-probs are <= 0 and lp grows with
    |Y|, so no live beam can still beat it); otherwise it runs to max_len, where the live beams are
    scored as finished. With alpha = 0 (or "none") and beam_size = 1 this is exactly greedy search.
    Output: tokens (B*num_return, max_len) grouped by source, PAD after <eos>; lengths incl. <eos>;
    scores the final scores; extras["raw_scores"] the summed log-probs. A row scores -inf only when the
    source has fewer than num_return hypotheses of non-zero probability.
    """
    check_int("beam_search", "beam_size", beam_size, 1, 1000)
    check_int("beam_search", "num_return", num_return, 1, beam_size)
    check_int("beam_search", "max_len", max_len, 1)
    check_int("beam_search", "min_len", min_len, 0)
    scorer = scorer or BeamScorer(alpha, length_penalty)
    chain = list(processors)
    b, k = src.shape[0], beam_size
    state, live = _start(model, src, src_mask, k, max_len, scorer)
    fin = _Finished(b, k, max_len, src.device)
    active = torch.arange(b, device=src.device)  # sentences still searching
    for t in range(max_len):
        logits, state = _step(model, live.prev, state, scorer.needs_attention)
        log_probs = logits.float().log_softmax(-1)  # (A*k, V)
        if chain:
            log_probs = apply_processors(chain, log_probs, live.tokens.flatten(0, 1)[:, :t])
        if t < min_len - 1:  # MinLength(min_len) after the chain, in place: log_probs is this loop's own tensor
            log_probs[:, EOS] = NEG_INF
        if live.coverage is not None:
            live.coverage = live.coverage + state["attention"].float()  # (A*k, S)
        live, rows = _advance(live, fin, active, log_probs, scorer, t)
        if t == max_len - 1:
            lengths = torch.full_like(live.raw, max_len, dtype=torch.long)
            scores = scorer.score(live.raw, lengths, live.coverage_3d(), **live.extra())
            fin.add(active, live.tokens, live.raw, lengths, scores)
            break
        keep = ~_done(fin, active, live, scorer, max_len)
        if not keep.all():
            if not keep.any():
                break
            active, live, rows = active[keep], live.subset(keep), rows[keep]
        state = state.reorder(rows.flatten())  # parents of the new beams, finished sentences dropped
    return _output(fin, num_return)


def _done(fin: _Finished, active: torch.Tensor, live: _Live, scorer: BeamScorer, max_len: int) -> torch.Tensor:
    """(A,) bool: the sentence holds beam_size finished hypotheses and no live beam can beat the worst."""
    bound = scorer.bound(live.raw, max_len, live.coverage_3d(), **live.extra()).amax(1)  # (A,)
    worst = fin.worst(active)
    return (worst > NEG_INF) & (worst >= bound)


def _step(model: Seq2SeqModel, prev: torch.Tensor, state, need_weights: bool):
    """model.step, asking for attention weights only when a scorer needs them."""
    if not need_weights:
        return model.step(prev, state)
    logits, state = model.step(prev, state, need_weights=True)
    if state["attention"] is None:
        raise ConfigError(f"beam_search.scorer needs attention, but {type(model).__name__}.step returns none: "
                          "expected an encoder-decoder model, or a scorer without needs_attention (beta = 0)")
    return logits, state


def _output(fin: _Finished, n: int) -> DecodeOutput:
    """The n best finished hypotheses of every sentence, flattened to rows b*n + i."""
    tokens = fin.tokens[:, :n].flatten(0, 1)  # (B*n, T)
    extras = {"raw_scores": fin.raw[:, :n].flatten(), "num_return": n}
    return DecodeOutput(tokens, fin.scores[:, :n].flatten(), fin.lengths[:, :n].flatten(), extras)
