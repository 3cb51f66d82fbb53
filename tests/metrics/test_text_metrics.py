"""Text metrics: corpus and per-bucket scores equal sacrebleu on the same sentences; labels and errors; the paired
bootstrap BLEU test."""
from __future__ import annotations

import random

import pytest
import sacrebleu

from seqgap_lab.metrics.text import (bucket_labels, corpus_scores, length_bucket_labels, paired_bleu_test, scores_by_bucket,
                                      sentence_chrf)

# World English Bible, Psalm 23 and Genesis 1:11-13 (public domain), split into sentences of varied length.
PASSAGE = """\
Yahweh is my shepherd; I shall lack nothing. He makes me lie down in green pastures. He leads me
beside still waters. He restores my soul. He guides me in the paths of righteousness for his name's
sake. Even though I walk through the valley of the shadow of death, I will fear no evil, for you are
with me. Your rod and your staff, they comfort me. You prepare a table before me in the presence of
my enemies. You anoint my head with oil. My cup runs over. Surely goodness and loving kindness shall
follow me all the days of my life, and I will dwell in Yahweh's house forever. God said, "Let the
earth yield grass, herbs yielding seeds, and fruit trees bearing fruit after their kind, with their
seeds in it, on the earth"; and it was so. The earth yielded grass, herbs yielding seed after their
kind, and trees bearing fruit, with their seeds in it, after their kind; and God saw that it was good.
There was evening and there was morning, a third day."""


def make_pairs(num: int = 240, seed: int = 0):
    """References of 1-60 words from the passage, hypotheses perturbed more as the sentence grows."""
    rng = random.Random(seed)
    words = PASSAGE.split()
    refs, hyps, src_lengths = [], [], []
    for _ in range(num):
        n = rng.randint(1, 60)
        start = rng.randrange(len(words) - n)
        ref = words[start:start + n]
        hyp = [w for w in ref if rng.random() > n / 150]  # drop words, more often in long sentences
        if hyp and rng.random() < 0.3:
            hyp.insert(rng.randrange(len(hyp)), rng.choice(words))
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp))
        src_lengths.append(n + rng.randint(-2, 2))
    return hyps, refs, [max(1, s) for s in src_lengths]


EDGES = (10, 20, 30, 40)


def test_corpus_scores_equal_sacrebleu():
    hyps, refs, _ = make_pairs()
    scores = corpus_scores(hyps, refs)
    bleu = sacrebleu.corpus_bleu(hyps, [refs])
    chrf = sacrebleu.corpus_chrf(hyps, [refs])
    assert scores["bleu"] == pytest.approx(bleu.score, abs=1e-9)
    assert scores["chrf"] == pytest.approx(chrf.score, abs=1e-9)
    assert scores["length_ratio"] == pytest.approx(bleu.sys_len / bleu.ref_len, abs=1e-12)
    assert (scores["sys_len"], scores["ref_len"], scores["n"]) == (bleu.sys_len, bleu.ref_len, len(hyps))
    assert 0 < scores["bleu"] < 100 and scores["length_ratio"] < 1
    assert "tok:13a" in scores["bleu_signature"] and "version:" in scores["bleu_signature"]
    assert scores["chrf_signature"].startswith("nrefs:1") and "nc:6" in scores["chrf_signature"]


def test_identical_text_scores_100():
    refs = ["the cat sat on the mat", "a dog barked at the moon tonight"]
    scores = corpus_scores(refs, refs)
    assert scores["bleu"] == pytest.approx(100.0) and scores["chrf"] == pytest.approx(100.0)
    assert scores["length_ratio"] == 1.0


def test_scores_by_bucket_equal_sacrebleu_on_each_subset():
    hyps, refs, src_lengths = make_pairs()
    table = scores_by_bucket(hyps, refs, src_lengths, EDGES)
    assert list(table.columns) == ["bucket", "n", "bleu", "chrf", "length_ratio"]
    assert list(table["bucket"]) == ["1-10", "11-20", "21-30", "31-40", "41+"]
    assert table["n"].sum() == len(hyps)
    bounds = {"1-10": (1, 10), "11-20": (11, 20), "21-30": (21, 30), "31-40": (31, 40), "41+": (41, 10**9)}
    for row in table.itertuples():
        lo, hi = bounds[row.bucket]
        idx = [i for i, s in enumerate(src_lengths) if lo <= s <= hi]
        sub_h, sub_r = [hyps[i] for i in idx], [refs[i] for i in idx]
        bleu = sacrebleu.corpus_bleu(sub_h, [sub_r])
        assert row.n == len(idx)
        assert abs(row.bleu - bleu.score) <= 1e-9
        assert abs(row.chrf - sacrebleu.corpus_chrf(sub_h, [sub_r]).score) <= 1e-9
        assert abs(row.length_ratio - bleu.sys_len / bleu.ref_len) <= 1e-12
    # The perturbation grows with length, so BLEU falls from the shortest to the longest bucket.
    assert table["bleu"].iloc[0] > table["bleu"].iloc[-1]


def test_empty_bucket_is_omitted():
    hyps, refs = ["a b c", "d e f g", "h i"], ["a b c", "d e f", "h i j"]
    table = scores_by_bucket(hyps, refs, [3, 45, 5], EDGES)
    assert list(table["bucket"]) == ["1-10", "41+"] and list(table["n"]) == [2, 1]


def test_bucket_labels():
    assert bucket_labels(EDGES) == ["1-10", "11-20", "21-30", "31-40", "41+"]
    assert length_bucket_labels([1, 10, 11, 20, 21, 40, 41, 500, 0], EDGES) == \
        ["1-10", "1-10", "11-20", "11-20", "21-30", "31-40", "41+", "41+", "1-10"]
    assert length_bucket_labels([5, 6], (5,)) == ["1-5", "6+"]
    for bad in ((), (10, 10), (20, 10), (0, 10), (10.5, 20)):
        with pytest.raises(ValueError, match="edges"):
            bucket_labels(bad)
    with pytest.raises(ValueError, match=r"lengths\[1\] = -1"):
        length_bucket_labels([3, -1], EDGES)


def test_length_mismatch_and_empty_errors_name_both_lengths():
    with pytest.raises(ValueError, match="3 hypotheses and 2 references"):
        corpus_scores(["a", "b", "c"], ["a", "b"])
    with pytest.raises(ValueError, match="0 hypotheses and 0 references"):
        corpus_scores([], [])
    with pytest.raises(ValueError, match="2 hypotheses and 1 references"):
        scores_by_bucket(["a", "b"], ["a"], [1, 2], EDGES)
    with pytest.raises(ValueError, match="src_lengths has 1 entries"):
        scores_by_bucket(["a", "b"], ["a", "b"], [1], EDGES)
    with pytest.raises(ValueError, match="2 hypotheses vs 1 references"):
        sentence_chrf(["a", "b"], ["a"])


def test_sentence_chrf_equals_sacrebleu():
    hyps, refs, _ = make_pairs(num=50)
    scores = sentence_chrf(hyps, refs)
    assert len(scores) == 50
    for h, r, s in zip(hyps, refs, scores):
        assert s == pytest.approx(sacrebleu.sentence_chrf(h, [r]).score, abs=1e-9)
    assert sentence_chrf([], []) == []


def test_paired_bleu_test_on_identical_and_different_systems():
    refs = ["the cat sat on the mat", "a dog barked at night", "we went home early"] * 10
    same = paired_bleu_test(refs, refs, refs, n_samples=100)
    assert same["p_value"] == 1.0 and same["system_bleu"] == same["baseline_bleu"] == pytest.approx(100.0)
    worse = ["the cat", "a dog", "we went"] * 10
    test = paired_bleu_test(worse, refs, refs, n_samples=100)
    assert test["system_bleu"] > test["baseline_bleu"] and test["p_value"] < 0.05
