"""Minimum risk training (Shen et al. 2016): the expected risk of sampled hypotheses under the model's
renormalised, sharpened distribution Q(y|x) proportional to P(y|x)^alpha over a candidate set S(x).

Used as fine-tuning from a teacher-forced checkpoint (see zoo/synthetic.py trained_model(init=...)): from a
random model every sample is bad, so every candidate has the same risk and nothing is learned.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

from seqgap_lab.core.config import ConfigError, check_choice, check_float, check_int
from seqgap_lab.data.batching import pad
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import beam_search, sample
from seqgap_lab.metrics.sentence_bleu import sentence_bleu_batch, sentence_bleu_ids
from seqgap_lab.metrics.text import sentence_chrf
from seqgap_lab.strategies.base import register
from seqgap_lab.strategies.teacher_forcing import token_nll

RISKS = ("token_error", "bleu", "chrf")


def token_error(hyps: Sequence[Sequence[int]], refs: Sequence[Sequence[int]]) -> np.ndarray:
    """Per pair: positions where hyp and ref differ (a missing token counts) / the longer length; 0 if both empty."""
    out = np.zeros(len(hyps))
    for i, (h, r) in enumerate(zip(hyps, refs)):
        width = max(len(h), len(r))
        if width:
            same = sum(a == b for a, b in zip(h, r))
            out[i] = (width - same) / width
    return out


def group_q(seq_log_probs: torch.Tensor, owner: torch.Tensor, num_groups: int, alpha: float) -> torch.Tensor:
    """Q(y) = P(y)^alpha / sum over y' of the same source of P(y')^alpha; seq_log_probs (M,), owner (M,) -> (M,)."""
    scaled = alpha * seq_log_probs.float()
    # A per-group max keeps exp() finite for long sequences (log P of -300 is common).
    group_max = torch.full((num_groups,), float("-inf"), device=scaled.device)
    group_max = group_max.scatter_reduce(0, owner, scaled.detach(), reduce="amax")
    weights = (scaled - group_max[owner]).exp()
    totals = torch.zeros(num_groups, device=scaled.device).index_add(0, owner, weights)
    return weights / totals[owner]


def sequence_log_probs(model, src: torch.Tensor, src_mask: torch.Tensor, owner: torch.Tensor,
                       candidates: torch.Tensor) -> torch.Tensor:
    """log P(y|x) of each candidate (M, L) (ending in EOS, PAD after) with gradient; encoder run once per source."""
    memory = model.encode(src, src_mask)  # (B, S, D)
    tgt_in = torch.cat([torch.full_like(candidates[:, :1], BOS), candidates[:, :-1]], 1)  # (M, L)
    logits = model.decode_forward(memory[owner], src_mask[owner], tgt_in)  # (M, L, V)
    log_probs = logits.float().log_softmax(-1).gather(2, candidates[..., None])[..., 0]  # (M, L)
    return (log_probs * (candidates != PAD)).sum(1)


@register("mrt")
class MinimumRiskTraining:
    """Expected risk sum_y Q(y|x) risk(y, y*) over sampled, de-duplicated candidates (optionally the reference).

    risk: "token_error" (synthetic tasks), "bleu" (1 - smoothed sentence-BLEU / 100, as sacrebleu's
    sentence_bleu; on detokenized text when `detokenize` is given, else on token ids) or "chrf"
    (1 - chrF / 100; needs `detokenize`). mle_weight > 0 adds that much teacher-forced NLL (Edunov et
    al. 2018 mix it in for stability); 0 is the paper's pure MRT. beam_candidates > 0 adds that many
    n-best beam hypotheses to the candidate set (Shen et al. sample; beam candidates are an option).
    """

    def __init__(self, num_samples: int = 8, alpha: float = 5e-3, risk: str = "token_error",
                 include_reference: bool = False, temperature: float = 1.0, max_len_ratio: float = 1.5,
                 mle_weight: float = 0.0, label_smoothing: float = 0.0,
                 detokenize: Callable[[list[int]], str] | None = None, beam_candidates: int = 0):
        o = "mrt"
        check_int(o, "num_samples", num_samples, 0, 1024)
        check_float(o, "alpha", alpha, 0.0, 100.0, lo_open=True)
        check_choice(o, "risk", risk, RISKS)
        check_float(o, "temperature", temperature, 0.0, 100.0, lo_open=True)
        check_float(o, "max_len_ratio", max_len_ratio, 1.0, 10.0)
        check_float(o, "mle_weight", mle_weight, 0.0, 100.0)
        check_int(o, "beam_candidates", beam_candidates, 0, 64)
        if not isinstance(include_reference, bool):
            raise ConfigError(f"mrt: include_reference = {include_reference!r} is not allowed: expected True or False")
        if num_samples == 0 and not include_reference and not beam_candidates:
            raise ConfigError("mrt: num_samples = 0 is not allowed without include_reference=True "
                              "(the candidate set would be empty)")
        if risk == "chrf" and detokenize is None:
            raise ConfigError("mrt: risk = 'chrf' needs detokenize (token ids -> text); use 'bleu' or 'token_error'")
        self.num_samples, self.alpha, self.risk, self.include_reference = num_samples, alpha, risk, include_reference
        self.temperature, self.max_len_ratio, self.mle_weight = temperature, max_len_ratio, mle_weight
        self.beam_candidates = beam_candidates
        self.label_smoothing = label_smoothing
        self.detokenize = detokenize

    def candidates(self, model, batch) -> tuple[list[list[int]], list[int]]:
        """Sampled (and reference) candidates of every source, de-duplicated: token lists ending in EOS, owners."""
        refs = _rows(batch.tgt_out)
        cands: list[list[int]] = []
        owner: list[int] = []
        seen: list[set] = [set() for _ in refs]
        if self.include_reference:
            for b, ref in enumerate(refs):
                _add(cands, owner, seen, b, ref)
        max_len = math.ceil(self.max_len_ratio * batch.tgt_out.shape[1])
        was_training = model.training
        model.eval()  # candidates from the model itself, not a dropout-perturbed one
        for n, search in ((self.num_samples, "sample"), (self.beam_candidates, "beam")):
            if not n:
                continue
            out = (sample(model, batch.src, batch.src_mask, max_len, num_samples=n, temperature=self.temperature)
                   if search == "sample" else
                   beam_search(model, batch.src, batch.src_mask, max_len, beam_size=n, num_return=n))
            for row, seq in enumerate(_rows(out.tokens, out.lengths)):
                _add(cands, owner, seen, row // n, seq)
        model.train(was_training)
        return cands, owner

    def risks(self, cands: list[list[int]], refs: list[list[int]]) -> np.ndarray:
        """Risk in [0, 1] of each candidate against its reference (EOS stripped for the text metrics)."""
        if self.risk == "token_error":
            return token_error(cands, refs)
        hyps, golds = [_strip(c) for c in cands], [_strip(r) for r in refs]
        if self.detokenize is None:
            return 1.0 - sentence_bleu_ids(hyps, golds) / 100.0
        hyp_text, ref_text = [self.detokenize(h) for h in hyps], [self.detokenize(r) for r in golds]
        if self.risk == "bleu":
            return 1.0 - sentence_bleu_batch(hyp_text, ref_text) / 100.0
        return 1.0 - np.asarray(sentence_chrf(hyp_text, ref_text)) / 100.0

    def loss(self, model, batch, step):
        """Expected risk over the candidate sets, averaged over sources (plus mle_weight x NLL)."""
        cands, owner_list = self.candidates(model, batch)
        refs = _rows(batch.tgt_out)
        device = batch.src.device
        owner = torch.tensor(owner_list, device=device)
        risk = torch.as_tensor(self.risks(cands, [refs[b] for b in owner_list]), dtype=torch.float32, device=device)
        seq_lp = sequence_log_probs(model, batch.src, batch.src_mask, owner, pad(cands).to(device))  # (M,)
        q = group_q(seq_lp, owner, len(refs), self.alpha)
        expected = torch.zeros(len(refs), device=device).index_add(0, owner, q * risk)  # (B,)
        loss = expected.mean()
        logs = {"risk": float(loss.detach()), "sample_risk": float(risk.mean()),
                "candidates": len(cands) / len(refs), "q_max": float(_group_max(q.detach(), owner, len(refs)).mean())}
        if self.mle_weight:
            nll = token_nll(model(batch.src, batch.tgt_in, batch.src_mask), batch.tgt_out, self.label_smoothing)
            loss = loss + self.mle_weight * nll
            logs["nll"] = float(nll.detach())
        return loss, logs


def _rows(tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> list[list[int]]:
    """Token rows as lists, cut at their length (default: up to and including the first EOS / before PAD)."""
    rows = tokens.tolist()
    if lengths is not None:
        return [r[:n] for r, n in zip(rows, lengths.tolist())]
    return [r[: r.index(EOS) + 1] if EOS in r else [t for t in r if t != PAD] for r in rows]


def _add(cands: list, owner: list, seen: list[set], b: int, seq: list[int]) -> None:
    key = tuple(seq)
    if seq and key not in seen[b]:
        seen[b].add(key)
        cands.append(seq)
        owner.append(b)


def _strip(seq: list[int]) -> list[int]:
    return seq[:-1] if seq and seq[-1] == EOS else seq


def _group_max(values: torch.Tensor, owner: torch.Tensor, num_groups: int) -> torch.Tensor:
    out = torch.zeros(num_groups, device=values.device)
    return out.scatter_reduce(0, owner, values, reduce="amax", include_self=False)
