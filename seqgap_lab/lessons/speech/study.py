"""Notebook 11's measurements: CER by length bucket for every model and decoding (with decoding cost), the
teacher-forced vs free-running tables, and the headline and takeaway read from them (never typed).

Buckets: short and medium come from the test split (lengths seen in training), long from test_long (past them).
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import pandas as pd

from seqgap_lab.core.stats import paired_bootstrap
from seqgap_lab.metrics.cer import cer, edit_distance
from seqgap_lab.probes import speech_exposure as exposure
from seqgap_lab.probes.speech_eval import transcribe

BUCKET_SPLITS = {"short": "test", "medium": "test", "long": "test_long"}
AR_MODELS = ("attention_tf", "transducer")
GROWTH_MARGIN = 0.05  # error (or gap) change under this is called flat / no growth
CER_TOLERANCE = 0.01  # the smallest CER difference the lesson counts (a verdict's "no clear difference" excludes it)


def eval_sets(corpus) -> dict[str, dict]:
    """Per bucket: its pairs (features, char ids) and manifest rows."""
    out = {}
    for bucket, split in BUCKET_SPLITS.items():
        keep = [i for i, r in enumerate(corpus.split_rows(split)) if r["bucket"] == bucket]
        pairs, rows = corpus.split(split), corpus.split_rows(split)
        out[bucket] = {"pairs": [pairs[i] for i in keep], "rows": [rows[i] for i in keep], "split": split}
    return out


def _decode_bucket(model, pairs: Sequence, method: str, beam_size: int) -> tuple[list[list[int]], float]:
    start = time.perf_counter()
    hyps = transcribe(model, pairs, method, beam_size) if pairs else []
    return hyps, time.perf_counter() - start


def evaluate(models: dict, sets: dict, beam_size: int = 4,
             transducer_beam_subset: int = 20) -> tuple[pd.DataFrame, dict]:
    """CER and seconds per utterance for every (model, decoding, bucket) -> (table, hypotheses).

    The transducer's beam search decodes one utterance at a time, so it runs on the first
    transducer_beam_subset utterances of each bucket (column `utterances` says how many were decoded).
    hypotheses[(model, decoding)][bucket] holds char-id transcripts aligned with sets[bucket]["pairs"].
    """
    rows, hyps = [], {}
    for name, model in models.items():
        for method in ("greedy", "beam"):
            for bucket, s in sets.items():
                pairs = s["pairs"]
                if name == "transducer" and method == "beam":
                    pairs = pairs[:transducer_beam_subset]
                out, seconds = _decode_bucket(model, pairs, method, beam_size)
                hyps.setdefault((name, method), {})[bucket] = out
                refs = [t for _, t in pairs]
                rows.append({"model": name, "decoding": method, "bucket": bucket, "split": s["split"],
                             "cer": cer(out, refs) if refs else float("nan"), "utterances": len(refs),
                             "errors": sum(edit_distance(h, r) for h, r in zip(out, refs)),
                             "chars": sum(len(r) for r in refs), "seconds": seconds})
    return pd.DataFrame(rows), hyps


def ss_vs_tf_tests(hyps: dict, sets: dict) -> dict:
    """Per bucket: greedy CER of attention TF minus attention SS (positive: SS helps) over the same utterances,
    with a 95% paired-bootstrap interval and its verdict (core/stats.py), as Comparison records."""
    out = {}
    tf, ss = hyps.get(("attention_tf", "greedy"), {}), hyps.get(("attention_ss", "greedy"), {})
    for bucket, s in sets.items():
        if bucket not in tf or bucket not in ss:
            continue
        refs = [t for _, t in s["pairs"]]
        columns = {"tf": np.array([edit_distance(h, r) for h, r in zip(tf[bucket], refs)], dtype=float),
                   "ss": np.array([edit_distance(h, r) for h, r in zip(ss[bucket], refs)], dtype=float),
                   "chars": np.array([len(r) for r in refs], dtype=float)}
        out[bucket] = paired_bootstrap(columns, lambda t: (t["tf"] - t["ss"]) / t["chars"], CER_TOLERANCE,
                                       test="paired bootstrap of CER").as_dict()
    return out


def exposure_errors(models: dict, sets: dict, hyps: dict) -> pd.DataFrame:
    """Tidy per-position errors: free-running (greedy) for every model, teacher-forced for the AR models."""
    parts = []
    for name, model in models.items():
        for bucket, s in sets.items():
            buckets = [bucket] * len(s["pairs"])
            parts.append(exposure.free_running(name, hyps[(name, "greedy")][bucket], s["pairs"], buckets))
            forced = exposure.attention_teacher_forced if name.startswith("attention") else \
                exposure.transducer_teacher_forced if name == "transducer" else None
            if forced is not None:
                parts.append(exposure.teacher_forced(name, forced(model, s["pairs"]), buckets))
    return pd.concat(parts, ignore_index=True)


def subset_greedy_cer(hyps: dict, sets: dict, n: int) -> dict:
    """The transducer's greedy CER on the beam subset (the first n utterances per bucket), for a fair comparison."""
    out = {}
    for bucket, s in sets.items():
        refs = [t for _, t in s["pairs"][:n]]
        out[bucket] = cer(hyps[("transducer", "greedy")][bucket][:n], refs) if refs else None
    return out


