"""Distillation in its regime (notebook 05, part 2): the dialects task, where every source has two valid targets
and a decoder must keep to the dialect its first token chose, with a larger teacher and a smaller student.

Settings, fixed from the papers before any student was trained (zoo/dialects.py):
- task: dialects with 10 symbols (tag "A" or "B", then the source copied; B swaps a<->b and c<->d), training
  sources of 4-48 tokens in `default`, test up to 64, 5,000 test examples, 3 seeds; the gold training targets
  are half A, half B (two modes per source, as Kim & Rush and Zhou et al. 2020 describe real translation data);
- teacher: notebook 01's Transformer recipe (d 64 x 2 layers in `default`) on the gold targets;
- students: half its width and depth, the teacher's steps and learning rate, each one of:
  - teacher forcing on the gold targets (the reference),
  - word-KD at T = 1 (Kim & Rush's word-level KD; Hinton's T^2 factor),
  - seq-KD: teacher forcing on the teacher's beam-5 outputs for the training sources (Kim & Rush 2016),
  - self-distillation as the scope defines it: word-KD at T = 2 on the teacher's top-p 0.9 samples,
  - on-policy KD: GKD with lambda = 1 and the forward KL on sequences the student samples (Agarwal et al. 2024).
Measured per test example: valid (one of the two valid targets), mixed (every token belongs to one dialect or the
other at its position, but the sequence mixes them), greedy and beam 5. Verdicts pair every student with the
teacher-forced one on the same seeds and examples: valid with greedy and with beam 5 (McNemar), and the beam-minus-
greedy gap (paired bootstrap; Kim & Rush: after seq-KD greedy is nearly as good as beam).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqgap_lab.core import seeds
from seqgap_lab.core.config import DecodeConfig, check_profile
from seqgap_lab.core.stats import SMALLEST_ACCURACY, paired_bootstrap
from seqgap_lab.data.synthetic.tasks import Task
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.lessons import common
from seqgap_lab.zoo import dialects
from seqgap_lab.zoo.synthetic import TrainedModel, trained_model

TEACHER = "teacher"
DECODINGS = {"greedy": dict(method="greedy"), "beam": dict(method="beam", beam_size=dialects.BEAM)}


@dataclass
class DialectTables:
    """Per-example outcomes of the teacher and every student (both decodings, every seed) and training facts."""

    per_example: pd.DataFrame
    training: pd.DataFrame
    train_positions: int
    runs: dict = field(default_factory=dict)


def outcome(task: Task, src: list[int], hyp: list[int]) -> str:
    """'valid' (one of the source's valid targets), 'mixed' (the right length, every token right for one dialect
    or the other at its position, tag included, but not all for one) or 'wrong'."""
    targets = task.valid_targets(src)
    if list(hyp) in targets:
        return "valid"
    same_length = all(len(hyp) == len(t) for t in targets)
    if same_length and all(any(h == t[i] for t in targets) for i, h in enumerate(hyp)):
        return "mixed"
    return "wrong"


def decode_test(run: TrainedModel, max_len: int) -> pd.DataFrame:
    """Greedy and beam outputs on the test split: one row per (example, decoding) with outcome, valid, mixed, the
    tag the output chose and src_length."""
    sources = [s for s, _ in run.splits.test]
    tags = {i: s for i, s in enumerate(run.task.vocab.itos)}
    rows = []
    for name, kw in DECODINGS.items():
        outputs = decode_sequences(run.model, sources, DecodeConfig(max_len=max_len, **kw))
        for i, (src, hyp) in enumerate(zip(sources, outputs)):
            result = outcome(run.task, src, hyp)
            rows.append({"example": i, "decoding": name, "outcome": result, "valid": result == "valid",
                         "mixed": result == "mixed", "tag": tags[hyp[0]] if hyp else "", "src_length": len(src)})
    return pd.DataFrame(rows)


def run_one(profile: str, seed: int, recipes=tuple(dialects.RECIPES), device=None,
            progress: bool = True) -> DialectTables:
    """Train (or load) the teacher and every student recipe of one seed and decode the test split."""
    task_cfg, teacher_model, teacher_train = dialects.teacher_configs(check_profile(profile), seed)
    limit = task_cfg.train_max_len + 2  # target positions seen in training: the tag, the copy, <eos>
    max_len = task_cfg.test_max_len + 5
    teacher = trained_model(task_cfg, teacher_model, teacher_train, device, progress=progress)
    runs, per_example, training = {TEACHER: teacher}, [], []
    for recipe in recipes:
        model_cfg, train_cfg = dialects.student_configs(profile, recipe, seed)
        targets = dialects.target_config(profile, recipe, seed)
        uses_teacher = train_cfg.strategy != "teacher_forcing" or targets is not None
        runs[recipe] = trained_model(task_cfg, model_cfg, train_cfg, device, progress=progress, targets=targets,
                                     teacher=(teacher_model, teacher_train) if uses_teacher else None)
    for label, run in runs.items():
        tag = {"label": label, common.BASELINE: label == dialects.TF, "params": run.model.num_parameters()}
        decoded = decode_test(run, max_len).assign(**tag)
        decoded["examples"] = np.where(decoded["src_length"] + 2 > limit, common.EXAMPLES[1], common.EXAMPLES[0])
        per_example.append(decoded)
        training.append(pd.DataFrame([{**tag, "train_seconds": run.train_seconds, "from_cache": run.from_cache,
                                       "final_loss": float(run.history["loss"].iloc[-1])}]))
    return DialectTables(pd.concat(per_example, ignore_index=True), pd.concat(training, ignore_index=True),
                         limit, runs)


def run_regime(profile: str, seed_list=(0, 1, 2), recipes=tuple(dialects.RECIPES), device=None,
               progress: bool = True) -> DialectTables:
    """run_one for every seed, stacked with a `seed` column (verdicts pair per seed and example, never pool)."""
    stacked, _ = seeds.run_seeds(lambda s: run_one(profile, s, recipes, device, progress), list(seed_list))
    return stacked


def rates(tables: DialectTables) -> pd.DataFrame:
    """Valid, mixed and dialect-B-tag shares per label, decoding and example group, all seeds: label, decoding,
    examples, valid, mixed, tag_b, count."""
    pe = tables.per_example.assign(tag_b=lambda d: d["tag"] == "B")
    g = pe.groupby(["label", "decoding", "examples"], sort=False)
    return g.agg(valid=("valid", "mean"), mixed=("mixed", "mean"), tag_b=("tag_b", "mean"),
                 count=("valid", "size")).reset_index()


def verdicts(tables: DialectTables) -> pd.DataFrame:
    """Every student against the teacher-forced one, paired on the same seeds and examples within the training
    lengths: valid with greedy and with beam (McNemar), and the beam-minus-greedy gap (paired bootstrap of
    gap_TF - gap_student, so 'helps' means the student's greedy came closer to its beam)."""
    pe = tables.per_example[tables.per_example["examples"] == common.EXAMPLES[0]]
    rows = []
    for label in pe["label"].drop_duplicates():
        if label in (dialects.TF, TEACHER):
            continue
        for decoding in DECODINGS:
            new, base = {"label": label, "decoding": decoding}, {"label": dialects.TF, "decoding": decoding}
            c = common.paired_cells(pe, new, base, column="valid")
            rows.append({"label": label, "measure": f"valid, {decoding}", **c.as_dict()})
        rows.append({"label": label, "measure": "beam-greedy gap (narrower)", **_paired_gap(pe, label).as_dict()})
    return pd.DataFrame(rows)


def _paired_gap(pe: pd.DataFrame, label: str):
    """Paired bootstrap over (seed, example) of the narrowing of the beam-minus-greedy valid rate: TF's gap minus
    the student's."""
    cols = {}
    for who, name in ((label, "new"), (dialects.TF, "base")):
        for decoding in DECODINGS:
            rows = common.cell_rows(pe, {"label": who, "decoding": decoding}, "valid")
            cols[f"{name}_{decoding}"] = rows
    joined = pd.concat(cols, axis=1, join="inner").astype(float)
    columns = {**{k: joined[k].to_numpy() for k in joined}, "examples": np.ones(len(joined))}
    return paired_bootstrap(columns, lambda t: ((t["base_beam"] - t["base_greedy"])
                                                - (t["new_beam"] - t["new_greedy"])) / t["examples"],
                            SMALLEST_ACCURACY)
