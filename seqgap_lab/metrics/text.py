"""Corpus BLEU and chrF with sacrebleu (default 13a tokenisation), overall and per source-length bucket.

Scores are sacrebleu's own, on detokenised text (decode subwords first): a bucket's BLEU is
`sacrebleu.corpus_bleu` on that bucket's sentences, not an average of sentence scores.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Sequence

import numpy as np
import pandas as pd
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

from seqgap_lab.core.stats import MIN_EXAMPLES, Comparison, paired_bootstrap

BUCKET_COLUMNS = ("bucket", "n", "bleu", "chrf", "length_ratio")


def corpus_scores(hyps: Sequence[str], refs: Sequence[str]) -> dict:
    """Corpus BLEU, chrF, hypothesis/reference length ratio and both sacrebleu signatures (one reference each)."""
    _check_pairs(hyps, refs)
    # Metric objects rather than sacrebleu.corpus_bleu/corpus_chrf: same defaults and scores, plus signatures.
    bleu_metric, chrf_metric = BLEU(), CHRF()
    bleu = bleu_metric.corpus_score(list(hyps), [list(refs)])
    chrf = chrf_metric.corpus_score(list(hyps), [list(refs)])
    return {
        "n": len(hyps),
        "bleu": bleu.score,
        "chrf": chrf.score,
        # sacrebleu's ratio is sys_len / ref_len on 13a tokens (0 when every reference is empty).
        "length_ratio": bleu.ratio,
        "sys_len": bleu.sys_len,
        "ref_len": bleu.ref_len,
        "bleu_signature": str(bleu_metric.get_signature()),
        "chrf_signature": str(chrf_metric.get_signature()),
    }


def sentence_chrf(hyps: Sequence[str], refs: Sequence[str]) -> list[float]:
    """sacrebleu chrF of each hypothesis against its reference (for picking the worst examples)."""
    if len(hyps) != len(refs):
        raise ValueError(f"hyps and refs differ in length: {len(hyps)} hypotheses vs {len(refs)} references")
    metric = CHRF()
    return [metric.sentence_score(h, [r]).score for h, r in zip(hyps, refs)]


def bucket_labels(edges: Sequence[int]) -> list[str]:
    """All bucket labels for edges, in order: (10, 20) -> ["1-10", "11-20", "21+"]."""
    edges = _check_edges(edges)
    lows = [1] + [e + 1 for e in edges]
    return [f"{lo}-{hi}" for lo, hi in zip(lows, edges)] + [f"{lows[-1]}+"]


def length_bucket_labels(lengths: Sequence[int], edges: Sequence[int]) -> list[str]:
    """The bucket label of each length: up to edges[0] (0 included) is the first, above edges[-1] the last."""
    labels = bucket_labels(edges)
    edges = [int(e) for e in edges]
    out = []
    for i, length in enumerate(lengths):
        length = int(length)
        if length < 0:
            raise ValueError(f"lengths[{i}] = {length} is negative")
        out.append(labels[bisect_left(edges, length)])
    return out


def scores_by_bucket(hyps: Sequence[str], refs: Sequence[str], src_lengths: Sequence[int],
                     edges: Sequence[int]) -> pd.DataFrame:
    """Corpus BLEU, chrF and length ratio per source-length bucket, in bucket order; empty buckets omitted."""
    _check_pairs(hyps, refs)
    if len(src_lengths) != len(hyps):
        raise ValueError(f"src_lengths has {len(src_lengths)} entries but there are {len(hyps)} hypotheses")
    labels = length_bucket_labels(src_lengths, edges)
    rows = []
    for label in bucket_labels(edges):
        idx = [i for i, lab in enumerate(labels) if lab == label]
        if not idx:
            continue
        scores = corpus_scores([hyps[i] for i in idx], [refs[i] for i in idx])
        rows.append({"bucket": label, "n": len(idx), "bleu": scores["bleu"], "chrf": scores["chrf"],
                     "length_ratio": scores["length_ratio"]})
    return pd.DataFrame(rows, columns=list(BUCKET_COLUMNS))


def _check_pairs(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if isinstance(hyps, str) or isinstance(refs, str):
        raise TypeError("hyps and refs must be sequences of strings, not a single str")
    if len(hyps) != len(refs) or not hyps:
        raise ValueError(f"hyps and refs must be non-empty and of equal length: "
                         f"got {len(hyps)} hypotheses and {len(refs)} references")


def _check_edges(edges: Sequence[int]) -> list[int]:
    """Edges must be positive, strictly increasing integers."""
    try:
        values = [int(e) for e in edges]
    except (TypeError, ValueError):
        raise ValueError(f"edges = {edges!r} must be integers") from None
    if not values or values[0] < 1 or any(b <= a for a, b in zip(values, values[1:])) \
            or any(v != e for v, e in zip(values, edges)):
        raise ValueError(f"edges = {tuple(edges)!r} must be positive, strictly increasing integers, e.g. (10, 20, 30, 40)")
    return values


def paired_bleu_test(baseline: Sequence[str], system: Sequence[str], refs: Sequence[str],
                     n_samples: int = 1000) -> dict:
    """sacrebleu's paired bootstrap resampling (Koehn 2004) of system vs baseline BLEU on the same references:
    both scores, their 95% half-widths, and the p-value of the difference (SACREBLEU_SEED fixes the draws)."""
    _check_pairs(system, refs)
    _check_pairs(baseline, refs)
    if list(system) == list(baseline):  # no difference to test (sacrebleu would report its minimum p-value)
        score = corpus_scores(list(system), list(refs))["bleu"]
        return {"baseline_bleu": score, "baseline_ci": float("nan"), "system_bleu": score, "system_ci": float("nan"),
                "p_value": 1.0}
    test = PairedTest([("baseline", list(baseline)), ("system", list(system))], {"BLEU": BLEU()}, [list(refs)],
                      test_type="bs", n_samples=n_samples)
    base, sys = test()[1]["BLEU"]
    return {"baseline_bleu": base.score, "baseline_ci": float(base.ci), "system_bleu": sys.score,
            "system_ci": float(sys.ci), "p_value": float(sys.p_value)}


SCORERS = {"bleu": BLEU, "chrf": CHRF}


def sentence_stats(hyps: Sequence[str], refs: Sequence[str], metric: str = "bleu") -> np.ndarray:
    """sacrebleu's sufficient statistics of each sentence (N, K): corpus scores are computed from their sums,
    which is what makes a paired bootstrap over sentences exact (and lets a sweep cache them)."""
    _check_pairs(hyps, refs)
    return np.asarray(SCORERS[metric]()._extract_corpus_statistics(list(hyps), [list(refs)]), dtype=float)


def paired_stats(base: np.ndarray, new: np.ndarray, metric: str = "bleu", smallest: float = 1.0, draws: int = 1000,
                 seed: int = 0, min_n: int = MIN_EXAMPLES) -> Comparison:
    """Paired bootstrap of corpus `metric` new - base from per-sentence statistics of the same sentences
    (sentence_stats; rows aligned): each draw resamples sentences and rescores both corpora with sacrebleu."""
    if base.shape != new.shape:
        raise ValueError(f"paired_stats needs statistics of the same sentences: shapes {base.shape} vs {new.shape}")
    scorer = SCORERS[metric]()

    def difference(totals: dict) -> np.ndarray:
        score = lambda rows: np.array([scorer._compute_score_from_stats(list(r)).score for r in rows])  # noqa: E731
        return score(totals["new"]) - score(totals["base"])

    return paired_bootstrap({"new": new, "base": base}, difference, smallest, draws, seed, min_n,
                            test=f"paired bootstrap of corpus {metric.upper() if metric == 'bleu' else 'chrF'}")


def paired_bleu(baseline: Sequence[str], system: Sequence[str], refs: Sequence[str], smallest: float = 1.0,
                metric: str = "bleu", draws: int = 1000, seed: int = 0, min_n: int = MIN_EXAMPLES) -> Comparison:
    """Paired bootstrap (Koehn 2004) of corpus BLEU (or chrF) system - baseline over the same sentences, every
    score sacrebleu's (see paired_stats). `smallest`: the smallest difference the lesson counts (1 point)."""
    return paired_stats(sentence_stats(baseline, refs, metric), sentence_stats(system, refs, metric), metric,
                        smallest, draws, seed, min_n)
