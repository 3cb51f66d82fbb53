"""The distillation study (notebook 05): students of notebook 01's teacher-forced reverse Transformer
trained with word-level KD, sequence-level KD (the teacher's beam outputs) and word-KD on the teacher's
own top-p samples, against teacher forcing on the gold data with the same steps; a student of the
teacher's own size (self-distillation) and a smaller one; greedy vs beam exact match before and after
(Kim & Rush 2016 report that seq-KD narrows the gap).

Tables are tidy with columns size ("same" | "small"), label, decoding ("greedy" | "beam").
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqgap_lab.core.config import ConfigError, DecodeConfig
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.lessons import common
from seqgap_lab.zoo import synthetic
from seqgap_lab.zoo.distillation import BEAM, KIND, RECIPES, SIZES, TASK, TF, student_model, target_config
from seqgap_lab.zoo.synthetic import TrainedModel, trained_model


@dataclass
class DistillTables:
    """Tidy results: exact match by source length and decoding, per-position error (greedy), training facts."""

    by_length: pd.DataFrame
    per_position: pd.DataFrame
    training: pd.DataFrame
    train_positions: int
    runs: dict = field(default_factory=dict)
    per_example: pd.DataFrame = field(default_factory=pd.DataFrame)  # decode_test rows per student, never pooled


def decode_test(run: TrainedModel, max_len: int) -> pd.DataFrame:
    """Greedy and beam outputs on the test split: one row per (example, decoding) with correct and src_length."""
    sources, refs = [s for s, _ in run.splits.test], [t for _, t in run.splits.test]
    rows = []
    outputs = {}
    for name, cfg in (("greedy", DecodeConfig(max_len=max_len)),
                      ("beam", DecodeConfig(method="beam", beam_size=BEAM, max_len=max_len))):
        outputs[name] = decode_sequences(run.model, sources, cfg)
        rows += [{"example": i, "decoding": name, "correct": p == t, "src_length": len(s)}
                 for i, (p, t, s) in enumerate(zip(outputs[name], refs, sources))]
    frame = pd.DataFrame(rows)
    same = [g == b for g, b in zip(outputs["greedy"], outputs["beam"])]
    return frame.assign(greedy_equals_beam=np.tile(same, 2))


def run_study(profile: str, sizes=SIZES, seed: int = 0, device=None, progress: bool = True) -> DistillTables:
    """Train (or load) the teacher and every size x recipe student; measure greedy and beam on the test split."""
    if not sizes:
        raise ConfigError("run_study needs at least one student size")
    task_cfg, teacher_cfg, train_cfg = synthetic.configs(profile, TASK, KIND, seed)
    teacher = trained_model(task_cfg, teacher_cfg, train_cfg, device, progress=progress)
    limit = max(len(t) for _, t in teacher.splits.train) + 1
    max_len = task_cfg.test_max_len + 4
    parts: dict[str, list] = {"by_length": [], "per_position": [], "training": [], "per_example": []}
    runs = {}
    for size in sizes:
        model_cfg = student_model(profile, size)
        for label, r in RECIPES.items():
            cfg = dataclasses.replace(train_cfg, strategy=r["strategy"], strategy_args=r["args"])
            targets = target_config(r["targets"], limit + 4, seed)
            uses_teacher = r["strategy"] == "word_kd" or targets is not None
            run = trained_model(task_cfg, model_cfg, cfg, device, progress=progress,
                                teacher=(teacher_cfg, train_cfg) if uses_teacher else None, targets=targets)
            runs[(size, label)] = run
            tag = {"size": size, "label": label, "params": run.model.num_parameters(), "baseline": label == TF}
            decoded = decode_test(run, max_len).assign(**tag)
            decoded["examples"] = np.where(decoded["src_length"] + 1 > limit, common.EXAMPLES[1], common.EXAMPLES[0])
            parts["per_example"].append(decoded)
            parts["by_length"].append(_by_length(decoded.drop(columns=list(tag)), limit).assign(**tag))
            measured = common.measure(run, limit)
            parts["per_position"].append(measured["per_position"].assign(**tag))
            parts["training"].append(measured["training"].assign(**tag))
    frames = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    return DistillTables(frames["by_length"], frames["per_position"], frames["training"], limit, runs,
                         per_example=frames["per_example"])


def pool(tables: DistillTables) -> DistillTables:
    """Tables stacked over seeds averaged into one row per student, decoding and length."""
    cell = ["size", "label", "params"]
    return common.pool_tables(tables, {"by_length": [*cell, "decoding", "src_length", "examples"],
                                       "per_position": [*cell, "examples", "position", "mode"]})


def run_seeded(profile: str, sizes=SIZES, seed_list=(0,), device=None,
               progress: bool = True) -> tuple[DistillTables, dict[int, DistillTables]]:
    """run_study once per seed (teacher and students of that seed): (pooled tables, {seed: tables})."""
    return common.run_seeded(lambda s: run_study(profile, sizes, s, device, progress), seed_list, pool)


def _by_length(decoded: pd.DataFrame, train_positions: int) -> pd.DataFrame:
    decoded = decoded.assign(examples=np.where(decoded["src_length"] + 1 > train_positions, common.EXAMPLES[1],
                                               common.EXAMPLES[0]))
    return (decoded.groupby(["decoding", "src_length", "examples"])
            .agg(exact_match=("correct", "mean"), greedy_equals_beam=("greedy_equals_beam", "mean"),
                 count=("correct", "size")).reset_index())


def grid_tables(tables: DistillTables) -> common.LengthTables:
    """The greedy results in notebook 03's grid shape (model = student size), for common.length_grid."""
    by_length = tables.by_length[tables.by_length["decoding"] == "greedy"]
    rename = lambda f: f.assign(model=f["size"] + "-size student")  # noqa: E731
    return common.LengthTables(rename(tables.per_position), rename(by_length), rename(tables.training),
                             tables.train_positions)
