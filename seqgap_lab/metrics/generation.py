"""Open-ended generation metrics: repetition rep-n, distinct-n, diversity, length ratio, and for code whether
the completed text still parses.

Inputs are collections of sequences. Each sequence is either a str, split on whitespace into words (as
SimCTG and contrastive decoding do), or a list of tokens (token ids or words): `rep_n([ids], 2)` for a
single sequence. All n-gram statistics stay inside one sequence (no n-gram spans two generations).

rep-n (Su et al. 2022; Li et al. 2022, "Contrastive Decoding") = 1 - sum_i unique_n(y_i) / sum_i total_n(y_i):
the share of a generation's n-grams that repeat an n-gram of the same generation, pooled over generations
(the reference code sums unique and total counts over texts, then divides). diversity = prod over
n = 2, 3, 4 of (1 - rep-n). Fractions in [0, 1] here (the papers print percentages). One difference on
purpose: the reference code's loop skips each text's last n-gram (`while end_idx < len(tokens)`); every
n-gram counts here.
distinct-n (Li et al. 2016) = distinct n-grams over the whole set / all n-grams: it also falls when
different generations say the same thing, which rep-n does not see.
"""
from __future__ import annotations

import ast
import codeop
import math
import warnings
from typing import Sequence

from seqgap_lab.core.config import check_int

DIVERSITY_ORDERS = (2, 3, 4)


def _tokens(seq) -> list:
    """A str is split on whitespace; any other sequence is taken as its tokens."""
    return seq.split() if isinstance(seq, str) else list(seq)


def _sequences(sequences) -> list[list]:
    if isinstance(sequences, str):
        raise TypeError("expected a collection of sequences (e.g. a list of texts), got one str; wrap it in a list")
    return [_tokens(s) for s in sequences]


def ngrams(tokens: Sequence, n: int) -> list[tuple]:
    """The n-grams of one token sequence, in order (len(tokens) - n + 1 of them, or none)."""
    check_int("ngrams", "n", n, 1)
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def rep_n(sequences, n: int) -> float:
    """1 - (unique n-grams per sequence, summed) / (n-grams, summed); 0.0 when there is no n-gram at all."""
    unique = total = 0
    for tokens in _sequences(sequences):
        grams = ngrams(tokens, n)
        unique, total = unique + len(set(grams)), total + len(grams)
    return 0.0 if total == 0 else 1.0 - unique / total


def distinct_n(sequences, n: int) -> float:
    """Distinct n-grams over all sequences / all n-grams (Li et al. 2016); 0.0 when there is no n-gram."""
    seen: set = set()
    total = 0
    for tokens in _sequences(sequences):
        grams = ngrams(tokens, n)
        seen.update(grams)
        total += len(grams)
    return 0.0 if total == 0 else len(seen) / total


def diversity(sequences, orders: Sequence[int] = DIVERSITY_ORDERS) -> float:
    """prod over n in orders of (1 - rep_n): 1 = no repeated n-gram, 0 = nothing but repeats."""
    seqs = _sequences(sequences)
    return math.prod(1.0 - rep_n(seqs, n) for n in orders)


def length_ratio(hypotheses, references) -> float:
    """Total generated length / total reference length (words for str, tokens otherwise), pairs aligned."""
    hyps, refs = _sequences(hypotheses), _sequences(references)
    if len(hyps) != len(refs):
        raise ValueError(f"length_ratio needs aligned lists: {len(hyps)} hypotheses vs {len(refs)} references")
    ref_len = sum(len(r) for r in refs)
    if ref_len == 0:
        raise ValueError("length_ratio: the references hold no token")
    return sum(len(h) for h in hyps) / ref_len


def _ast_ok(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in generated strings warn; they still parse
            ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):  # ValueError: a NUL byte
        return False
    return True


def _valid_unfinished(text: str) -> bool:
    """True when text is an unfinished but valid start of a program (open bracket, string or block)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return codeop.compile_command(text, symbol="exec") is None
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        return False


def parses(code: str, allow_unfinished: bool = True) -> bool:
    """Whether prompt + completion still parses as Python, tolerant of the cut at max_len.

    Rule: True if `ast.parse(code)` succeeds, or `ast.parse` of the code cut after its last newline (the
    trailing partial line dropped) succeeds, or, with allow_unfinished, that cut text is a valid but
    unfinished program as the interactive interpreter judges it (`codeop`: an open bracket, string or
    indented block still waiting for its end). A syntax error in any complete line makes it False.
    """
    if not isinstance(code, str):
        raise TypeError(f"parses expects the code as a str, got {type(code).__name__}")
    if _ast_ok(code):
        return True
    cut = code[:code.rfind("\n") + 1] if "\n" in code else code
    return _ast_ok(cut) or (allow_unfinished and _valid_unfinished(cut))


def parse_rate(codes: Sequence[str], allow_unfinished: bool = True) -> float:
    """Fraction of texts (each a prompt + its completion) for which `parses` holds."""
    if isinstance(codes, str):
        raise TypeError("parse_rate expects a list of code texts, got one str; wrap it in a list")
    if not codes:
        raise ValueError("parse_rate needs at least one text")
    return sum(parses(c, allow_unfinished) for c in codes) / len(codes)


def generation_metrics(generations, references=None, code_texts: Sequence[str] | None = None) -> dict:
    """One row of headline numbers: rep-2..4, diversity, distinct-1/2, length ratio (with references),
    parse rate (with code_texts = prompt + completion for each generation)."""
    seqs = _sequences(generations)
    if not seqs:
        raise ValueError("generation_metrics needs at least one generation")
    row = {f"rep_{n}": rep_n(seqs, n) for n in DIVERSITY_ORDERS}
    row["diversity"] = math.prod(1.0 - row[f"rep_{n}"] for n in DIVERSITY_ORDERS)
    row.update({f"distinct_{n}": distinct_n(seqs, n) for n in (1, 2)})
    row["mean_length"] = sum(len(s) for s in seqs) / len(seqs)
    if references is not None:
        row["length_ratio"] = length_ratio(seqs, references)
    if code_texts is not None:
        row["parse_rate"] = parse_rate(code_texts)
    return row


__all__ = ["DIVERSITY_ORDERS", "ngrams", "rep_n", "distinct_n", "diversity", "length_ratio", "parses",
           "parse_rate", "generation_metrics"]
