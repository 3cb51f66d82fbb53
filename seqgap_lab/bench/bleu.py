"""Benchmark rows: batched sentence-BLEU (metrics/sentence_bleu.py) vs a loop of sacrebleu.sentence_bleu.

The MRT case: each reference scored against n_hyps candidate hypotheses (the source-side sentence
and perturbations of it). Both sides score the same pairs and the scores must agree to 1e-9.
A and B are interleaved in one process and the median of the paired ratios is reported, since
wall times on shared machines swing 2-4x. The batched side is timed cold (its chunk memo
cleared before every run, so tokenisation is paid in full) and warm (the same call repeated,
as in training once the model's vocabulary has been seen).

    python -m seqgap_lab.bench.bleu   # prints the rows
"""
from __future__ import annotations

import random
import statistics
import time
from typing import Sequence

import numpy as np
import sacrebleu

from seqgap_lab.core.timing import bench_row  # one row format for every benchmark row
from seqgap_lab.data.text import corpora
from seqgap_lab.metrics.sentence_bleu import clear_cache, sentence_bleu_multi

_WORDS = ("the of and to in he that it was for on are as with his they at be this from have or by one "
          "had not but what all were when we there can an your which their said if do will each about how "
          "up out them then she many some so these would other into has more her two like him see time "
          "could no make than first been its who now people my made over did down only way find use may "
          "water long little very after words called just where most know").split()


def generated_pairs(n: int = 250, seed: int = 0) -> list[tuple[str, str]]:
    """(hypothesis-side, reference) English-like sentence pairs with punctuation, for when no corpus is prepared."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ref = [rng.choice(_WORDS) for _ in range(rng.randint(8, 45))]
        for i in range(len(ref)):
            if rng.random() < 0.08:
                ref[i] += rng.choice([",", ";", ":"])
        ref[0] = ref[0].capitalize()
        hyp = [w if rng.random() > 0.25 else rng.choice(_WORDS) for w in ref]
        out.append((" ".join(hyp) + ".", " ".join(ref) + "."))
    return out


def corpus_pairs(n: int = 250) -> tuple[list[tuple[str, str]], str]:
    """Up to n modernize test pairs (KJV, WEB) when that corpus is prepared, else generated ones."""
    if corpora.available("modernize"):
        return corpora.load_parallel("modernize", "test")[:n], "modernize test (KJV hyp side, WEB ref)"
    return generated_pairs(n), "generated sentences (modernize corpus not prepared)"


def _perturb(sentence: str, rng: random.Random) -> str:
    words = sentence.split()
    if len(words) < 3:
        return sentence
    kind = rng.randrange(4)
    if kind == 0:
        del words[rng.randrange(len(words))]
    elif kind == 1:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif kind == 2:
        i = rng.randrange(len(words) - 1)
        words[i:i] = words[i:i + 2]
    else:
        words = words[:rng.randint(1, len(words))]
    return " ".join(words)


def candidate_sets(pairs: Sequence[tuple[str, str]], n_hyps: int, seed: int = 0) -> tuple[list[list[str]], list[str]]:
    """For each (hyp, ref) pair: n_hyps hypotheses (hyp and n_hyps-1 perturbations of it), and the refs."""
    rng = random.Random(seed)
    groups = [[h] + [_perturb(h, rng) for _ in range(n_hyps - 1)] for h, _ in pairs]
    return groups, [r for _, r in pairs]


def bench_sentence_bleu(pairs: Sequence[tuple[str, str]] | None = None, n_hyps: int = 8,
                        repeats: int = 5) -> list[dict]:
    """Rows: sentence_bleu_speedup (cold), sentence_bleu_warm_speedup, and per-sentence costs in us.

    pairs: (hypothesis-side sentence, reference) pairs; default: 250 modernize test pairs when
    prepared, else generated ones. Raises if any score differs from sacrebleu's by more than 1e-9.
    """
    if not 1 <= int(n_hyps) <= 1000:
        raise ValueError(f"n_hyps = {n_hyps!r} is not allowed: expected an integer in [1, 1000]")
    if not 1 <= int(repeats) <= 1000:
        raise ValueError(f"repeats = {repeats!r} is not allowed: expected an integer in [1, 1000]")
    source = "given pairs"
    if pairs is None:
        pairs, source = corpus_pairs()
    if not pairs:
        raise ValueError("pairs is empty: nothing to time")
    groups, refs = candidate_sets(pairs, n_hyps)
    flat_h = [h for g in groups for h in g]
    flat_r = [r for g, r in zip(groups, refs) for _ in g]
    n = len(flat_h)

    def run_sacrebleu():
        return np.array([sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(flat_h, flat_r)])

    def run_ours():
        return np.concatenate(sentence_bleu_multi(groups, refs))

    theirs, ours = run_sacrebleu(), run_ours()
    max_diff = float(np.abs(theirs - ours).max())
    if max_diff > 1e-9:
        raise AssertionError(f"batched sentence-BLEU differs from sacrebleu by {max_diff} on the benchmark pairs")

    t_sacre, t_cold, t_warm = [], [], []
    for _ in range(repeats):  # interleaved: A, B cold, B warm, A, ...
        start = time.perf_counter()
        run_sacrebleu()
        t_sacre.append(time.perf_counter() - start)
        clear_cache()
        start = time.perf_counter()
        run_ours()
        t_cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_ours()
        t_warm.append(time.perf_counter() - start)
    cold = statistics.median(a / b for a, b in zip(t_sacre, t_cold))
    warm = statistics.median(a / b for a, b in zip(t_sacre, t_warm))
    what = f"{n} hyps ({len(refs)} refs x {n_hyps}) from {source}; identical scores (max |diff| {max_diff:.1e})"
    us = lambda times: statistics.median(times) / n * 1e6  # noqa: E731
    return [
        bench_row("sentence_bleu", "sentence_bleu_speedup", cold, "x",
             f"median paired ratio sacrebleu loop / batched, memo cleared each run; {what}"),
        bench_row("sentence_bleu", "sentence_bleu_warm_speedup", warm, "x",
             "same, chunk memo warm (tokenisations seen before, as in training)"),
        bench_row("sentence_bleu", "sacrebleu_us_per_sentence", us(t_sacre), "us",
             "sacrebleu.sentence_bleu(h, [r]) in a loop (smooth exp, effective order, 13a)"),
        bench_row("sentence_bleu", "batched_us_per_sentence", us(t_cold), "us", "sentence_bleu_multi, cold memo"),
        bench_row("sentence_bleu", "batched_warm_us_per_sentence", us(t_warm), "us", "sentence_bleu_multi, warm memo"),
    ]


if __name__ == "__main__":
    for row in bench_sentence_bleu():
        print(f"{row['metric']:32s} {row['value']:>10} {row['unit']:3s}  {row['note']}")
