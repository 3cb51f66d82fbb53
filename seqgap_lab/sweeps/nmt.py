"""Sweep cells on real translation (task "es-en": Spanish -> English Bible verses, notebook 02's data).

Every strategy starts from notebook 02's teacher-forced Transformer or GRU and fine-tunes it for the same
budget (translation_mrt.NMT_FINETUNE), so the three compare at equal total steps and share notebook 04's caches:
  tf   teacher forcing continued (notebook 04's baseline)
  ss   scheduled sampling continued: p_use_gt falls linearly from 1 to SS_FLOOR over the fine-tuning steps
       (the parent's own training is the teacher-forcing warm-up of the default recipe)
  mrt  minimum risk training with 1 - sentence-BLEU (notebook 04's MRT run)
Decodings: greedy; beam 5 with the GNMT length penalty alpha 0.7. Scores: sacrebleu BLEU, chrF and length
ratio per source-length bucket (notebook 02's buckets) on notebook 06's fixed test subset.
"""
from __future__ import annotations

import dataclasses
import functools

import pandas as pd

from seqgap_lab.core import config
from seqgap_lab.core.config import ConfigError, TrainConfig, check_choice
from seqgap_lab.metrics import text as tm
from seqgap_lab.probes import decode_cells
from seqgap_lab.sweeps.cells import BEAM, EXAMPLE, GNMT_ALPHA, row
from seqgap_lab.zoo import translation, translation_mrt

TASK = "es-en"
STRATEGIES = ("tf", "ss", "mrt")
DECODINGS = ("greedy", "beam")
SS_FLOOR = 0.75


def check(strategy: str, decoding: str) -> None:
    """Raise ConfigError for a strategy or decoding the translation cells do not have."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"SweepSpec.strategies: {strategy!r} is not available for task {TASK!r}: expected a "
                          f"subset of {' | '.join(STRATEGIES)}")
    if decoding not in DECODINGS:
        raise ConfigError(f"SweepSpec.decodings: {decoding!r} is not available for task {TASK!r}: expected a "
                          f"subset of {' | '.join(DECODINGS)}")


def finetune_config(profile: str, strategy: str, seed: int) -> TrainConfig:
    """The fine-tuning TrainConfig of a strategy (notebook 04's for tf and mrt)."""
    check_choice("sweep", "strategy", strategy, STRATEGIES)
    cfg = translation_mrt.finetune_config(profile, seed, mrt=strategy == "mrt")
    if strategy != "ss":
        return cfg
    steps = cfg.steps
    schedule = {"name": "linear", "warmup_steps": 0, "k": 1.0, "eps_min": SS_FLOOR,
                "c": (1.0 - SS_FLOOR) / max(1, steps - 1)}
    return dataclasses.replace(cfg, strategy="scheduled_sampling", strategy_args={"schedule": schedule})


@functools.lru_cache(maxsize=4)
def data(profile: str) -> translation.NMTData:
    """Notebook 02's data of a profile (read once per process)."""
    return translation.load_data(profile, seed=0)


def test_pairs(profile: str) -> list:
    """Notebook 06's fixed test subset of the profile."""
    return decode_cells.fixed_subset(data(profile).test, decode_cells.GRIDS[profile]["num_sentences"])


def cell_key(profile: str, kind: str, strategy: str, decoding: str, seed: int) -> dict:
    """What identifies a translation cell: the parent's key, the fine-tuning config, decoding and test subset."""
    check(strategy, decoding)
    return {"nmt": translation.run_key(data(profile), profile, kind, seed),
            "finetune": finetune_config(profile, strategy, seed).to_dict(), "decoding": setting(decoding).label,
            "test": decode_cells.GRIDS[profile]["num_sentences"]}


def setting(decoding: str) -> config.DecodeSetting:
    """notebook 06's decoding cell for a sweep decoding."""
    return config.DecodeSetting() if decoding == "greedy" else config.beam_setting(BEAM, "gnmt", GNMT_ALPHA)


def measure_cell(profile: str, kind: str, strategy: str, decoding: str, seed: int, device) -> pd.DataFrame:
    """Fine-tune (or load) the cell's model, decode the test subset, and score it by source-length bucket."""
    check(strategy, decoding)
    parent = translation.train_run(data(profile), profile, kind, seed, device, progress=False)
    run = translation_mrt.finetune(data(profile), parent, profile, finetune_config(profile, strategy, seed), seed, device,
                           progress=False)
    pairs = test_pairs(profile)
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    out = decode_cells.decode_setting(run.model, run.vocab.encode_batch(sources), setting(decoding), device)
    hyps = [run.vocab.decode(ids) for ids in out["ids"]]
    words = translation.source_words(sources)
    rows = []
    for bucket in tm.scores_by_bucket(hyps, refs, words, translation.BUCKET_EDGES).to_dict("records"):
        lo, _, hi = str(bucket["bucket"]).partition("-")
        rows += [row(str(bucket["bucket"]), int(lo.rstrip("+")), int(hi) if hi else max(words), False, metric,
                     bucket[metric], int(bucket["n"])) for metric in ("bleu", "chrf", "length_ratio")]
    stats, labels = tm.sentence_stats(hyps, refs), tm.length_bucket_labels(words, translation.BUCKET_EDGES)
    # Per sentence (bucket 'example:<its length bucket>', bucket_lo = its index): sacrebleu's BLEU statistics, so
    # that notebook 08 can bootstrap corpus BLEU differences between cells sentence by sentence.
    rows += [row(f"{EXAMPLE}:{label}", i, i, False, f"bleu_stat_{k}", v, 1)
             for i, (sent, label) in enumerate(zip(stats, labels)) for k, v in enumerate(sent)]
    overall = tm.corpus_scores(hyps, refs)
    rows += [row("all", min(words), max(words), False, metric, overall[metric], len(hyps))
             for metric in ("bleu", "chrf", "length_ratio")]
    rows.append(row("all", min(words), max(words), False, "decode_seconds", out["seconds"], len(hyps)))
    rows.append(row("all", min(words), max(words), False, "train_seconds", parent.train_seconds + run.train_seconds,
                    len(data(profile).train)))
    return pd.DataFrame(rows)
