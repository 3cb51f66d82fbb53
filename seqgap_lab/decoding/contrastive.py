"""Contrastive decoding: an expert and a weaker amateur of the same vocabulary, stepped together in one
batched loop, each with its own incremental state; the search prefers what the expert likes and the amateur
does not, which pushes against the amateur's failure modes (repetition, blandness) that the expert shares.

Forms, from the expert's log-probs (after the history processors) and the amateur's logits:
- li2022 (Li et al., 2022): log p_expert(x) - w * log p_amateur(x; tau) on the plausible set
  {x : p_expert(x) >= a * max p_expert}, -inf elsewhere; w = 1 is the paper's objective.
- plain: log p_expert - w * log p_amateur on every token. Up to a per-row constant this is expert_logits -
  w * amateur_logits, so greedy picks the same tokens; the log-softmax makes beam sums independent of the
  models' arbitrary logit offsets. plain is li2022 with a = 0 and tau = 1.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from seqgap_lab.core.config import ConfigError, check_choice, check_float, check_int
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding.beam import _advance, _done, _Finished, _Live, _output
from seqgap_lab.decoding.penalties import BeamScorer
from seqgap_lab.decoding.processors import MinLength, Processor, apply_processors
from seqgap_lab.decoding.search import DecodeOutput
from seqgap_lab.models.base import Seq2SeqModel

CONTRASTIVE_FORMS = ("li2022", "plain")
CONTRASTIVE_SEARCHES = ("greedy", "beam")
NEG_INF = float("-inf")


class ContrastiveScore:
    """Contrastive scores (N, V) from expert log-probs (N, V) and amateur logits (N, V), knobs validated."""

    def __init__(self, form: str = "li2022", weight: float = 1.0, plausibility: float = 0.1,
                 amateur_temperature: float = 1.0):
        o = "ContrastiveScore"
        check_choice(o, "form", form, CONTRASTIVE_FORMS)
        check_float(o, "weight", weight, 0.0, math.inf)
        check_float(o, "plausibility", plausibility, 0.0, 1.0)
        check_float(o, "amateur_temperature", amateur_temperature, 0.0, math.inf, lo_open=True)
        self.form, self.weight = form, float(weight)
        self.plausibility, self.tau = float(plausibility), float(amateur_temperature)

    def masks(self) -> bool:
        """Whether a plausibility mask applies (li2022 with a > 0)."""
        return self.form == "li2022" and self.plausibility > 0.0

    def plausible(self, expert_log_probs: torch.Tensor) -> torch.Tensor:
        """(N, V) bool: p_expert(x) >= a * max p_expert, compared in log space (a = 1 keeps the argmax ties)."""
        if not self.masks():
            return torch.ones_like(expert_log_probs, dtype=torch.bool)
        floor = expert_log_probs.amax(-1, keepdim=True) + math.log(self.plausibility)  # (N, 1)
        return expert_log_probs >= floor

    def __call__(self, expert_log_probs: torch.Tensor, amateur_logits: torch.Tensor) -> torch.Tensor:
        scores = expert_log_probs
        if self.weight != 0.0:  # weight 0 skips the amateur, so a -inf there cannot make 0 * -inf = nan
            amateur = amateur_logits.float()
            if self.form == "li2022" and self.tau != 1.0:
                amateur = amateur / self.tau
            amateur = amateur.log_softmax(-1)  # (N, V)
            scores = scores - (amateur if self.weight == 1.0 else self.weight * amateur)
        # the no-op cases skip the mask: this runs once per decoding step
        return scores.masked_fill(~self.plausible(expert_log_probs), NEG_INF) if self.masks() else scores


class _Pair:
    """Expert and amateur fed the same tokens, each advancing its own incremental state (never recomputed)."""

    def __init__(self, expert: Seq2SeqModel, amateur: Seq2SeqModel, src: torch.Tensor, src_mask: torch.Tensor,
                 beam: int = 1):
        self.models = (expert, amateur)
        self.states = [m.init_state(m.encode(src, src_mask), src_mask, beam=beam) for m in self.models]

    def step(self, prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """prev (N,) -> expert log-probs (N, V) and amateur logits (N, V); both states advance one token."""
        expert_logits, self.states[0] = self.models[0].step(prev, self.states[0])
        amateur_logits, self.states[1] = self.models[1].step(prev, self.states[1])
        return expert_logits.float().log_softmax(-1), amateur_logits

    def reorder(self, idx: torch.Tensor) -> None:
        """Keep / duplicate rows idx (1-D long) of both states."""
        self.states = [s.reorder(idx) for s in self.states]


def _greedy(pair: _Pair, score: ContrastiveScore, n: int, max_len: int, chain: Sequence[Processor],
            device: torch.device) -> DecodeOutput:
    """Argmax of the contrastive scores; rows stop at their first <eos> and leave the batch (both states)."""
    tokens = torch.full((n, max_len), PAD, dtype=torch.long, device=device)
    contrast, expert = torch.zeros(n, device=device), torch.zeros(n, device=device)
    lengths = torch.full((n,), max_len, dtype=torch.long, device=device)
    active = torch.arange(n, device=device)  # original row of each row still decoding
    prev = torch.full((n,), BOS, dtype=torch.long, device=device)
    for t in range(max_len):
        log_probs, amateur_logits = pair.step(prev)  # (A, V) each
        processed = apply_processors(chain, log_probs, tokens[active, :t]) if chain else log_probs
        scores = score(processed, amateur_logits)  # (A, V)
        prev = scores.argmax(-1)
        tokens[active, t] = prev
        contrast[active] += scores.gather(1, prev[:, None])[:, 0]
        expert[active] += log_probs.gather(1, prev[:, None])[:, 0]
        done = prev == EOS
        if done.any():
            lengths[active[done]] = t + 1
            keep = (~done).nonzero()[:, 0]
            if keep.numel() == 0:
                break
            active, prev = active[keep], prev[keep]
            pair.reorder(keep)
    return DecodeOutput(tokens, contrast, lengths, {"expert_scores": expert})


class _SummedScores(BeamScorer):
    """Ranks by the summed contrastive scores, no length penalty (as Li et al.). They can be > 0, so no
    finite bound exists: a sentence stops early only once none of its live beams is possible any more."""

    def bound(self, raw: torch.Tensor, max_len: int, coverage: torch.Tensor | None = None) -> torch.Tensor:
        """+inf for every live beam, -inf for the impossible ones."""
        return torch.full_like(raw, math.inf).masked_fill(raw == NEG_INF, NEG_INF)


def _beam(pair: _Pair, score: ContrastiveScore, b: int, k: int, max_len: int, chain: Sequence[Processor],
          device: torch.device) -> _Finished:
    """Beam search over the summed contrastive scores (beam.py's candidate rule); both states follow the beams."""
    scorer = _SummedScores()
    raw = torch.full((b, k), NEG_INF, device=device)
    raw[:, 0] = 0.0  # identical beams at the start: only the first may expand
    tokens = torch.full((b, k, max_len), PAD, dtype=torch.long, device=device)
    live = _Live(tokens, raw, torch.full((b * k,), BOS, dtype=torch.long, device=device), None, None)
    fin, active = _Finished(b, k, max_len, device), torch.arange(b, device=device)
    for t in range(max_len):
        log_probs, amateur_logits = pair.step(live.prev)  # (A*k, V) each
        if chain:
            log_probs = apply_processors(chain, log_probs, live.tokens.flatten(0, 1)[:, :t])
        live, rows = _advance(live, fin, active, score(log_probs, amateur_logits), scorer, t)
        if t == max_len - 1:
            lengths = torch.full_like(live.raw, max_len, dtype=torch.long)
            fin.add(active, live.tokens, live.raw, lengths, scorer.score(live.raw, lengths))
            break
        keep = ~_done(fin, active, live, scorer, max_len)
        if not keep.any():
            break
        if not keep.all():
            active, live, rows = active[keep], live.subset(keep), rows[keep]
        pair.reorder(rows.flatten())  # parents of the new beams, finished sentences dropped
    return fin


def check_amateur(expert: Seq2SeqModel, amateur: Seq2SeqModel | None, owner: str = "contrastive") -> None:
    """Raise ConfigError unless amateur is a model with the expert's vocabulary size."""
    if amateur is None:
        raise ConfigError(f"{owner}.amateur = None is not allowed: expected a model (method contrastive needs an "
                          "amateur with the expert's vocabulary)")
    if amateur.vocab_size != expert.vocab_size:
        raise ConfigError(f"{owner}.amateur.vocab_size = {amateur.vocab_size!r} is not allowed: expected the "
                          f"expert's vocab_size = {expert.vocab_size}")


@torch.no_grad()
def contrastive(expert: Seq2SeqModel, amateur: Seq2SeqModel, src: torch.Tensor, src_mask: torch.Tensor,
                max_len: int, form: str = "li2022", weight: float = 1.0, plausibility: float = 0.1,
                amateur_temperature: float = 1.0, search: str = "greedy", beam_size: int = 5,
                num_return: int = 1, min_len: int = 0, processors: Sequence[Processor] = ()) -> DecodeOutput:
    """Contrastive decoding of a padded batch src (B, S): greedy (1 row per source) or beam (num_return rows
    per source, best first) over the contrastive scores; seq2seq pairs or decoder-only pairs (src = prompt).

    The processors (and min_len's <eos> mask) act on the expert's log-probs, so a masked token is never
    plausible. scores (rows,) = summed contrastive scores of the chosen tokens (what the search maximizes);
    greedy adds extras["expert_scores"] = log P_expert(y|x), beam extras["raw_scores"] as beam_search.
    With weight 0, or li2022 with plausibility 1, greedy is exactly the expert's greedy search.
    """
    check_amateur(expert, amateur)
    check_choice("contrastive", "search", search, CONTRASTIVE_SEARCHES)
    check_int("contrastive", "max_len", max_len, 1)
    score = ContrastiveScore(form, weight, plausibility, amateur_temperature)
    chain = list(processors) + ([MinLength(min_len)] if min_len else [])
    if search == "greedy":
        return _greedy(_Pair(expert, amateur, src, src_mask), score, src.shape[0], max_len, chain, src.device)
    check_int("contrastive", "beam_size", beam_size, 1, 1000)
    check_int("contrastive", "num_return", num_return, 1, beam_size)
    pair = _Pair(expert, amateur, src, src_mask, beam=beam_size)
    return _output(_beam(pair, score, src.shape[0], beam_size, max_len, chain, src.device), num_return)
