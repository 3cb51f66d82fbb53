"""Character error rate: Levenshtein distance (substitutions, insertions, deletions, each cost 1) over the
reference length, computed by rapidfuzz (metrics/alignment.py)."""
from __future__ import annotations

from typing import Sequence

from seqgap_lab.metrics.alignment import edit_distance

__all__ = ["cer", "edit_distance"]


def cer(hyps: Sequence[Sequence], refs: Sequence[Sequence]) -> float:
    """Corpus CER: total edit distance / total reference characters (strings or id lists)."""
    if len(hyps) != len(refs):
        raise ValueError(f"cer: {len(hyps)} hypotheses but {len(refs)} references; expected one per reference")
    chars = sum(len(r) for r in refs)
    if chars == 0:
        raise ValueError("cer: the references hold no characters")
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / chars
