"""CTC decoding: greedy (best path, collapse repeats, drop blanks) and prefix beam search (Hannun et al.
2014), which sums the probability of every alignment of a prefix, in log space."""
from __future__ import annotations

import math
from typing import Sequence

import torch

NEG_INF = float("-inf")


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """A frame-level label path -> its label sequence: merge repeats, then drop blanks ("aa-b" -> "ab")."""
    out, prev = [], None
    for label in path:
        if label != prev and label != blank:
            out.append(int(label))
        prev = label
    return out


def ctc_greedy(log_probs: torch.Tensor, lengths: torch.Tensor | None = None, blank: int = 0) -> list[list[int]]:
    """Best path per row: log_probs (B, T, V), lengths (B,) -> label id lists."""
    best = log_probs.argmax(-1).tolist()  # (B, T)
    lengths = [len(row) for row in best] if lengths is None else lengths.tolist()
    return [collapse(row[:n], blank) for row, n in zip(best, lengths)]


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def _extend(beams: dict, row: list[float], blank: int, labels: Sequence[int]) -> dict:
    """One frame of prefix beam search: beams {prefix: [log p ending in blank, log p ending in a label]}."""
    nxt: dict = {}

    def add(prefix, which, value):
        """Accumulate probability mass into nxt[prefix][which] (0: ends in blank, 1: ends in a label)."""
        entry = nxt.setdefault(prefix, [NEG_INF, NEG_INF])
        entry[which] = _logaddexp(entry[which], value)

    for prefix, (p_blank, p_label) in beams.items():
        total = _logaddexp(p_blank, p_label)
        add(prefix, 0, total + row[blank])
        for c in labels:
            if prefix and c == prefix[-1]:
                add(prefix, 1, p_label + row[c])  # a repeat without a blank between collapses into the prefix
                add(prefix + (c,), 1, p_blank + row[c])  # after a blank it is a new label
            else:
                add(prefix + (c,), 1, total + row[c])
    return nxt


def ctc_prefix_beam(log_probs: torch.Tensor, beam_size: int = 8, blank: int = 0,
                    top_labels: int | None = None) -> list[tuple[list[int], float]]:
    """Prefix beam search on one utterance's log_probs (T, V) -> [(labels, log p(labels | x)), ...] best first.

    The score of a prefix is the log of the summed probability of all its alignments seen so far, so
    a label sequence with many likely alignments can beat the single best path. top_labels prunes each
    frame to its most likely labels (None: all); labels at -inf (masked) are skipped.
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size = {beam_size!r} is not allowed: expected an integer >= 1")
    rows = log_probs.detach().double().tolist()  # (T, V) as floats: the loop is scalar work
    beams: dict = {(): [0.0, NEG_INF]}
    for row in rows:
        order = sorted((c for c in range(len(row)) if c != blank and row[c] > NEG_INF), key=lambda c: -row[c])
        beams = _extend(beams, row, blank, order[:top_labels] if top_labels else order)
        scored = [(kv, _logaddexp(*kv[1])) for kv in beams.items()]
        # impossible prefixes (a repeat with no frame left for the blank between) have probability 0
        ranked = sorted((item for item in scored if item[1] > NEG_INF), key=lambda item: -item[1])[:beam_size]
        beams = dict(kv for kv, _ in ranked)
    return [(list(p), _logaddexp(*s)) for p, s in sorted(beams.items(), key=lambda kv: -_logaddexp(*kv[1]))]


def ctc_beam_decode(log_probs: torch.Tensor, lengths: torch.Tensor, beam_size: int = 8, blank: int = 0,
                    top_labels: int | None = 12) -> list[list[int]]:
    """Best prefix of each row: log_probs (B, T, V), lengths (B,) -> label id lists."""
    return [ctc_prefix_beam(lp[:n], beam_size, blank, top_labels)[0][0] for lp, n in zip(log_probs, lengths.tolist())]
