"""What one sweep cell is: the trained model of a (task, model, training strategy, seed) and its measurement
under one decoding, as tidy rows by source-length bucket.

Training strategies reuse the studies' recipes (zoo/) so that a sweep and notebooks 03-05 share cached models:
  tf            notebook 01's teacher-forced model (zoo/synthetic.py configs)
  ss            scheduled sampling with the profile's inverse-sigmoid schedule (zoo/scheduled_sampling.py)
  mrt           MRT fine-tuning of the tf model, alpha 5e-3 and the profile's largest n (zoo/mrt.py)
  seq_kd        sequence-level KD: the same architecture trained on the tf model's beam-5 outputs
  self_distill  word-level KD (T = 1) from the tf model into the same architecture
Decodings: greedy; beam (size 5, GNMT length penalty alpha 0.7); contrastive (Li et al. 2022 form, greedy,
amateur = the profile's small teacher-forced model of the same task and seed, see zoo/distillation.py SIZES).
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pandas as pd

from seqgap_lab.core.config import DecodeConfig, check_choice
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.probes import exposure as ex
from seqgap_lab.probes.exposure_tables import exaccerr
from seqgap_lab.strategies.mrt import token_error
from seqgap_lab.training.runs import run_config
from seqgap_lab.zoo import distillation, mrt, scheduled_sampling, synthetic
from seqgap_lab.zoo.synthetic import TrainedModel, trained_model

STRATEGIES = ("tf", "ss", "mrt", "seq_kd", "self_distill")
DECODINGS = ("greedy", "beam", "contrastive")
BEAM, GNMT_ALPHA = 5, 0.7
NUM_BUCKETS = 6  # source-length buckets over the test split (about half beyond the training lengths)


def recipe(profile: str, task: str, kind: str, strategy: str, seed: int) -> dict:
    """The trained_model arguments of a cell (configs, parent, teacher, targets) and the configs that identify it."""
    check_choice("sweep", "strategy", strategy, STRATEGIES)
    task_cfg, model_cfg, tf_cfg = synthetic.configs(profile, task, kind, seed)
    args: dict = {"task_cfg": task_cfg, "model_cfg": model_cfg, "train_cfg": tf_cfg, "extra": {}}
    if strategy == "ss":
        schedule = scheduled_sampling.schedule_args(profile)["inverse_sigmoid"]
        args["train_cfg"] = dataclasses.replace(tf_cfg, strategy="scheduled_sampling",
                                                strategy_args={"schedule": schedule})
    elif strategy == "mrt":
        alpha, n = mrt.FINETUNE[profile]["main"]
        args["train_cfg"] = mrt.finetune_config(profile, seed, alpha, n)
        args["extra"] = {"init": tf_cfg}
    elif strategy in ("seq_kd", "self_distill"):
        kd = strategy == "self_distill"
        r = distillation.RECIPES["word-KD" if kd else f"seq-KD (beam {distillation.BEAM})"]
        args["train_cfg"] = dataclasses.replace(tf_cfg, strategy=r["strategy"], strategy_args=r["args"])
        limit = max(len(t) for _, t in make_task(task_cfg).make_splits().train) + 1  # as notebook 05: shared cache
        args["extra"] = {"teacher": (model_cfg, tf_cfg),
                         "targets": None if kd else distillation.target_config("beam", limit + 4, seed)}
    return args


def recipe_key(args: dict) -> dict:
    """The JSON-able identity of a cell's trained model (its full config plus parent / teacher / targets)."""
    key = run_config(args["task_cfg"], args["model_cfg"], args["train_cfg"])
    extra = args["extra"]
    if extra.get("init") is not None:
        key["init"] = extra["init"].to_dict()
    if extra.get("teacher") is not None:
        key["teacher"] = {"model": extra["teacher"][0].to_dict(), "train": extra["teacher"][1].to_dict()}
    if extra.get("targets") is not None:
        key["targets"] = extra["targets"].to_dict()
    return key


def train_cell(args: dict, device, progress: bool) -> tuple[TrainedModel, float]:
    """The cell's trained model (cached) and its training seconds including a parent's or teacher's."""
    extra = {k: v for k, v in args["extra"].items() if v is not None}
    run = trained_model(args["task_cfg"], args["model_cfg"], args["train_cfg"], device, progress=progress, **extra)
    before = extra.get("init") or (extra["teacher"][1] if "teacher" in extra else None)
    seconds = run.train_seconds
    if before is not None:
        seconds += trained_model(args["task_cfg"], args["model_cfg"], before, device, progress=progress).train_seconds
    return run, seconds


def decode_config(decoding: str, max_len: int) -> DecodeConfig:
    """The DecodeConfig of a sweep decoding."""
    check_choice("sweep", "decoding", decoding, DECODINGS)
    if decoding == "beam":
        return DecodeConfig(method="beam", beam_size=BEAM, alpha=GNMT_ALPHA, length_penalty="gnmt", max_len=max_len)
    if decoding == "contrastive":
        return DecodeConfig(method="contrastive", max_len=max_len)
    return DecodeConfig(max_len=max_len)


def amateur_recipe(profile: str, task: str, seed: int) -> dict:
    """Contrastive decoding's amateur: the small teacher-forced Transformer of the task (same vocabulary)."""
    task_cfg, _, tf_cfg = synthetic.configs(profile, task, "transformer", seed)
    return {"task_cfg": task_cfg, "model_cfg": distillation.student_model(profile, "small"), "train_cfg": tf_cfg,
            "extra": {}}


def buckets(lengths: np.ndarray, train_max: int, num: int = NUM_BUCKETS) -> list[tuple[int, int]]:
    """Equal-width source-length buckets (lo, hi) over `lengths`, one edge at the longest training length."""
    lo, hi = int(lengths.min()), int(lengths.max())
    width = max(1, math.ceil((hi - lo + 1) / num))
    edges = sorted({train_max + 1 + k * width for k in range(-num, num + 1)} | {lo, hi + 1})
    edges = [e for e in edges if lo <= e <= hi + 1]
    return [(a, b - 1) for a, b in zip(edges, edges[1:])]


def measure(run: TrainedModel, config: DecodeConfig, amateur_model=None) -> pd.DataFrame:
    """Rows (bucket, bucket_lo, bucket_hi, beyond_training, metric, value, count) of one decoding on the test
    split: exact match and token error per bucket and overall, ExAccErr (greedy only), decoding seconds."""
    test = run.splits.test
    sources, refs = [s for s, _ in test], [t for _, t in test]
    start = time.perf_counter()
    hyps = decode_sequences(run.model, sources, config, amateur=amateur_model)
    seconds = time.perf_counter() - start
    lengths = np.array([len(s) for s in sources])
    train_max = max(len(s) for s, _ in run.splits.train)
    frame = pd.DataFrame({"length": lengths, "exact_match": [float(h == r) for h, r in zip(hyps, refs)],
                          "token_error": token_error(hyps, refs)})
    rows = []
    for lo, hi in buckets(lengths, train_max):
        part = frame[(frame["length"] >= lo) & (frame["length"] <= hi)]
        for metric in ("exact_match", "token_error"):
            rows.append(row(f"{lo}-{hi}", lo, hi, lo > train_max, metric, part[metric].mean(), len(part)))
        # One row per example (bucket_lo = bucket_hi = its index in the test split): the paired verdicts of
        # notebook 08 match cells example by example.
        rows += [row(f"{EXAMPLE}:{lo}-{hi}", i, i, lo > train_max, "correct", v, 1) for i, v in part["exact_match"].items()]
    for metric in ("exact_match", "token_error"):
        rows.append(row("all", int(lengths.min()), int(lengths.max()), False, metric, frame[metric].mean(), len(frame)))
    rows.append(row("all", int(lengths.min()), int(lengths.max()), False, "decode_seconds", seconds, len(frame)))
    if config.method == "greedy":
        rows += _exaccerr_rows(run, train_max)
    return pd.DataFrame(rows)


def _exaccerr_rows(run: TrainedModel, train_max: int) -> list[dict]:
    """ExAccErr at the longest output length reached by at least 20 test examples, within and beyond training."""
    table = exaccerr(*ex.step_errors(run.model, run.splits.test))
    table = table[table["count"] >= 20]
    rows = []
    for beyond, part in ((False, table[table["length"] <= train_max + 1]), (True, table[table["length"] > train_max + 1])):
        if len(part):
            last = part.iloc[-1]
            rows.append(row(f"len {int(last['length'])}", int(last["length"]), int(last["length"]), beyond,
                             "exaccerr_pct", float(last["exaccerr_pct"]), int(last["count"])))
    return rows


def row(bucket: str, lo: int, hi: int, beyond: bool, metric: str, value: float, count: int) -> dict:
    """One tidy result row of a cell (the sweep adds the cell's keys)."""
    return {"bucket": bucket, "bucket_lo": lo, "bucket_hi": hi, "beyond_training": bool(beyond), "metric": metric,
            "value": float(value) if count else float("nan"), "count": int(count)}


BASE = ("tf", "greedy")  # the reference every remedy is compared with
EXAMPLE = "example"  # per-example rows: bucket 'example:<length bucket>', bucket_lo = bucket_hi = the index
