"""Character error rate: Levenshtein distance (substitutions, insertions, deletions, each cost 1) over the
reference length. No edit-distance library is a dependency, so a small DP is used (tested by hand)."""
from __future__ import annotations

from typing import Sequence


def edit_distance(hyp: Sequence, ref: Sequence) -> int:
    """Minimum number of single-symbol substitutions, insertions and deletions turning hyp into ref."""
    prev = list(range(len(ref) + 1))
    for i, h in enumerate(hyp, 1):
        cur = [i] + [0] * len(ref)
        for j, r in enumerate(ref, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (h != r))
        prev = cur
    return prev[-1]


def cer(hyps: Sequence[Sequence], refs: Sequence[Sequence]) -> float:
    """Corpus CER: total edit distance / total reference characters (strings or id lists)."""
    if len(hyps) != len(refs):
        raise ValueError(f"cer: {len(hyps)} hypotheses but {len(refs)} references; expected one per reference")
    chars = sum(len(r) for r in refs)
    if chars == 0:
        raise ValueError("cer: the references hold no characters")
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / chars
