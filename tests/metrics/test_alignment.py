"""metrics/alignment.py: rapidfuzz's alignment read by reference position, the prefix alignment behind the
oracle's next token, and the edit distance checked against an independent dynamic programme."""
import random

import pytest

from seqgap_lab.metrics.alignment import align, aligned_errors, consumed, edit_distance, oracle_continuation
from seqgap_lab.metrics.cer import cer


def dp_distance(hyp, ref) -> int:
    """Textbook Levenshtein dynamic programme: the reference the library result is checked against."""
    prev = list(range(len(ref) + 1))
    for i, h in enumerate(hyp, 1):
        cur = [i] + [0] * len(ref)
        for j, r in enumerate(ref, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (h != r))
        prev = cur
    return prev[-1]


def test_operations_by_hand():
    assert align("abcd", "abcd").errors == [False] * 4
    a = align("abxd", "abcd")
    assert a.substituted == (False, False, True, False) and a.distance == 1
    a = align("abd", "abcd")  # one token left out: one error, no shift
    assert a.deleted == (False, False, True, False) and a.errors == [False, False, True, False]
    a = align("abxcd", "abcd")  # an extra token is charged to the position after it
    assert a.inserted == (0, 0, 1, 0) and a.errors == [False, False, True, False]
    a = align("abcdxy", "abcd")  # extra tokens at the end go to the last position
    assert a.inserted == (0, 0, 0, 2) and a.distance == 2
    assert align("xy", "").errors == [] and align("", "ab").deleted == (True, True)


def test_id_lists_and_strings_agree():
    assert aligned_errors([1, 2, 4], [1, 2, 3, 4]) == aligned_errors("abd", "abcd")


def test_distance_equals_the_dynamic_programme_and_the_alignment():
    rng = random.Random(0)
    for _ in range(2000):
        ref = [rng.randint(3, 6) for _ in range(rng.randint(0, 12))]
        hyp = [rng.randint(3, 6) for _ in range(rng.randint(0, 14))]
        d = dp_distance(hyp, ref)
        assert edit_distance(hyp, ref) == d
        assert align(hyp, ref).distance == d or not ref  # with an empty reference insertions have no position


def test_cer_is_distance_over_reference_length():
    assert cer(["abd", "xy"], ["abcd", "xy"]) == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        cer(["a", "b"], ["a"])


def test_consumed_prefers_the_alignment_that_moved_on():
    ref = [1, 2, 3, 4]
    # [1, 3] left out the 2 (accounts for 3 tokens); [1, 9] substituted it (2 tokens); ties go to the larger j
    assert consumed([[], [1], [1, 3], [1, 9], [1, 2, 3, 4, 5]], ref).tolist() == [0, 1, 3, 2, 4]


def test_oracle_continuation_follows_the_prefix():
    stop = 99
    assert oracle_continuation([1, 2, 3, 4], [1, 2, 3, 4], 5, stop) == [1, 2, 3, 4, stop]  # gold: gold tokens
    # after skipping the 2 the oracle's next token is the 4, then the end
    assert oracle_continuation([1, 3, 4, 5], [1, 2, 3, 4], 5, stop) == [1, 2, 4, stop, stop]
    # after a substitution it goes on from the next position
    assert oracle_continuation([1, 9, 3], [1, 2, 3, 4], 4, stop) == [1, 2, 3, 4]
