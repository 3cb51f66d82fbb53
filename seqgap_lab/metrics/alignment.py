"""Minimum-edit-distance alignment of a hypothesis to its reference, reported by reference position.

Why align: scoring token t of the output against token t of the reference counts one skipped token as an error
at every later position, so a model that slips once and then behaves perfectly looks like one whose errors
compound. Aligning first charges the slip once. The edit operations come from `rapidfuzz` (Levenshtein,
each substitution, insertion and deletion costs 1); among several equally short alignments rapidfuzz's own
choice is taken. Sequences are strings or lists of hashable ids.

Vocabulary, from the reference's side: a *substitution* replaces a reference token, a *deletion* leaves a
reference token out, an *insertion* is an extra hypothesis token; insertions are charged to the reference
position that follows them (the last position when they come after the end).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein


@dataclass(frozen=True)
class Alignment:
    """Per reference position (length m): substituted, deleted, and the number of insertions charged to it."""

    substituted: tuple[bool, ...]
    deleted: tuple[bool, ...]
    inserted: tuple[int, ...]

    @property
    def errors(self) -> list[bool]:
        """True where the position is substituted, deleted or preceded by inserted tokens."""
        return [s or d or i > 0 for s, d, i in zip(self.substituted, self.deleted, self.inserted)]

    @property
    def distance(self) -> int:
        """The edit distance: substitutions + deletions + insertions."""
        return sum(self.substituted) + sum(self.deleted) + sum(self.inserted)


def edit_distance(hyp: Sequence, ref: Sequence) -> int:
    """Minimum number of single-token substitutions, insertions and deletions turning hyp into ref."""
    return int(Levenshtein.distance(list(hyp), list(ref)))


def align(hyp: Sequence, ref: Sequence) -> Alignment:
    """Align hyp to ref by minimum edit distance; the operations are reported per reference position."""
    m = len(ref)
    sub, dele, ins = [False] * m, [False] * m, [0] * m
    # rapidfuzz names operations from hyp's side: 'insert' adds a reference token hyp lacks (our deletion),
    # 'delete' removes an extra hyp token (our insertion); dest_pos is the reference position.
    for op in Levenshtein.editops(list(hyp), list(ref)):
        if op.tag == "replace":
            sub[op.dest_pos] = True
        elif op.tag == "insert":
            dele[op.dest_pos] = True
        elif m:  # an extra hypothesis token; with an empty reference there is no position to charge
            ins[min(op.dest_pos, m - 1)] += 1
    return Alignment(tuple(sub), tuple(dele), tuple(ins))


def aligned_errors(hyp: Sequence, ref: Sequence) -> list[bool]:
    """Per reference position: True when it is substituted, deleted or preceded by inserted tokens."""
    return align(hyp, ref).errors


def consumed(prefixes: Sequence[Sequence], ref: Sequence) -> np.ndarray:
    """For each prefix, how many reference tokens it accounts for: the j minimising the edit distance between
    the prefix and ref[:j], the largest such j on ties (a skipped token moves the alignment on)."""
    ref = list(ref)
    heads = [ref[:j] for j in range(len(ref) + 1)]
    dist = process.cdist([list(p) for p in prefixes], heads, scorer=Levenshtein.distance)  # (P, m + 1)
    flipped = dist[:, ::-1]
    return len(ref) - flipped.argmin(1)  # argmin finds the first minimum: on the flipped axis, the largest j


def oracle_continuation(written: Sequence, ref: Sequence, steps: int, stop) -> list:
    """The oracle's correct token at each of `steps` steps after the prefixes written[:0], written[:1], ...:
    the next reference token after the alignment the prefix implies (see consumed), `stop` once the prefix
    accounts for the whole reference. On the gold prefix this is the gold token at every step."""
    j = consumed([list(written[:t]) for t in range(steps)], ref)
    return [ref[k] if k < len(ref) else stop for k in j]
