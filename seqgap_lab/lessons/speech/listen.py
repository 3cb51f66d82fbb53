"""Listening examples for notebook 11: which utterances to play (a stated rule), their audio re-synthesized
exactly as the corpus rendered it, and each model's transcript.

The corpus stores log-mel features, not audio; espeak-ng is deterministic and the noise is seeded by the corpus
seed and the utterance's index, so data/speech/corpus.py `render`'s steps give back the same waveform the features
came from.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from seqgap_lab.data.speech.synth import SAMPLE_RATE, add_noise, resample, synthesize
from seqgap_lab.lessons.speech.summary import LABELS
from seqgap_lab.metrics.cer import cer

AGREE_MODELS = ("ctc", "transducer", "attention_tf")


def _per_utterance_cer(hyps: list, pairs: list) -> np.ndarray:
    return np.array([cer([h], [t]) for h, (_, t) in zip(hyps, pairs)])


def choose(sets: dict, hyps: dict) -> list[dict]:
    """Up to two examples: (1) the test_long utterance where the attention (TF) model's CER exceeds CTC's the most;
    (2) the longest utterance of any bucket where CTC, transducer and attention (TF) greedy transcripts agree
    exactly (if none, the one with the smallest spread of their CERs)."""
    picks = []
    long = sets["long"]
    if long["pairs"]:
        diff = (_per_utterance_cer(hyps[("attention_tf", "greedy")]["long"], long["pairs"])
                - _per_utterance_cer(hyps[("ctc", "greedy")]["long"], long["pairs"]))
        i = int(np.argmax(diff))
        picks.append({"rule": f"test_long: attention (TF) CER minus CTC CER is largest ({diff[i]:+.2f})",
                      "bucket": "long", "index": i})
    candidates = []
    for bucket, s in sets.items():
        for i, (_, ref) in enumerate(s["pairs"]):
            outs = [tuple(hyps[(m, "greedy")][bucket][i]) for m in AGREE_MODELS]
            cers = [cer([o], [ref]) for o in outs]
            candidates.append((len(set(outs)) == 1, -(max(cers) - min(cers)), len(ref), bucket, i))
    if candidates:
        agree, _, _, bucket, i = max(candidates)
        rule = "the longest utterance where all three models' greedy transcripts agree" if agree else \
            "no utterance where all three agree: the one with the smallest spread of their CERs"
        picks.append({"rule": rule, "bucket": bucket, "index": i})
    return picks


def audio(corpus, row: dict) -> np.ndarray:
    """The waveform (float, 16 kHz) of one manifest row, re-rendered as the corpus built it."""
    index = next(k for k, r in enumerate(corpus.rows) if r["id"] == row["id"])
    samples, rate = synthesize(row["text"], row["voice"], row["speed"], row["pitch"])
    samples = resample(samples, rate, SAMPLE_RATE)
    if row["snr_db"] is not None:
        rng = np.random.default_rng([corpus.config.seed, 11, index])  # as data/speech/corpus.py render seeds it
        samples = add_noise(samples, row["snr_db"], row["noise"], rng)
    return np.asarray(samples, dtype=np.float32)


def transcripts(pick: dict, sets: dict, hyps: dict, vocab) -> pd.DataFrame:
    """One row per model (and the reference): its greedy transcript and CER on the picked utterance."""
    s = sets[pick["bucket"]]
    ref = s["pairs"][pick["index"]][1]
    rows = [{"model": "reference", "transcript": "".join(vocab.decode(ref)), "cer": 0.0}]
    for (model, method), per_bucket in hyps.items():
        if method == "greedy":
            hyp = per_bucket[pick["bucket"]][pick["index"]]
            rows.append({"model": LABELS[model], "transcript": "".join(vocab.decode(hyp)), "cer": cer([hyp], [ref])})
    return pd.DataFrame(rows).set_index("model")
