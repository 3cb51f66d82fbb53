"""The scheduled-sampling study (notebook 03): a grid of schedules x models on the reverse task, trained
through the cache, measured as error-by-position and exact match by source length, plus headline
numbers, a generated takeaway, the schedule curves and the step-cost table.

Every table is tidy with columns model, schedule, p_use_gt, label. For the constant schedule p_use_gt is
the trained value (1.0 is teacher forcing, trained with the teacher_forcing strategy as the baseline);
for a decaying schedule it is the value reached at the last training step.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from seqgap_lab.core.config import ConfigError, check_profile
from seqgap_lab.core.runtime import seed_everything
from seqgap_lab.data.batching import collate
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.lessons import common
from seqgap_lab.lessons.common import LengthTables, measure
from seqgap_lab.models import build_model
from seqgap_lab.strategies.schedules import make_schedule
from seqgap_lab.training import step_cost
from seqgap_lab.zoo import synthetic
from seqgap_lab.zoo.scheduled_sampling import GRIDS, schedule_args
from seqgap_lab.zoo.synthetic import trained_model

TASK = "reverse"
SCHEDULE_TYPES = ("constant", "inverse_sigmoid", "linear")


@dataclass(frozen=True)
class Cell:
    """One grid cell: the schedule type, its p_use_gt (constant) or final value, and the strategy args."""

    schedule: str
    p_use_gt: float
    label: str
    strategy: str
    strategy_args: dict = field(default_factory=dict, hash=False)


def cells(profile: str) -> list[Cell]:
    """Every grid cell of a profile: the constant grid (1.0 as teacher forcing), then the decaying schedules."""
    steps = synthetic.PROFILE_SIZES[check_profile(profile)]["steps"]
    out = []
    for p in GRIDS[profile]["p_grid"]:
        if p == 1.0:
            out.append(Cell("constant", 1.0, "teacher forcing (p=1)", "teacher_forcing"))
        else:
            out.append(Cell("constant", p, f"constant p={p:g}", "scheduled_sampling",
                            {"schedule": {"name": "constant", "p": p}}))
    for name, args in schedule_args(profile).items():
        final = round(_schedule_fn(args)(steps - 1), 3)
        out.append(Cell(name, final, f"{name.replace('_', ' ')} (to {final:g})", "scheduled_sampling",
                        {"schedule": args}))
    return out


def _schedule_fn(args: dict):
    params = dict(args)
    return make_schedule(params.pop("name"), **params)


def run_configs(profile: str, kind: str, cell: Cell, seed: int):
    """Task, model and train configs of one cell: notebook 01's configs with the cell's strategy."""
    task_cfg, model_cfg, train_cfg = synthetic.configs(profile, TASK, kind, seed)
    return task_cfg, model_cfg, dataclasses.replace(train_cfg, strategy=cell.strategy,
                                                    strategy_args=cell.strategy_args)


def run_grid(profile: str, kinds=("gru", "transformer"), seed: int = 0, device=None,
             progress: bool = True) -> LengthTables:
    """Train (or load) every model x cell and measure it on the test split."""
    if not kinds:
        raise ConfigError("run_grid needs at least one model kind")
    parts: dict[str, list] = {"per_position": [], "by_length": [], "training": [], "per_example": []}
    runs, limit = {}, 0
    for kind in kinds:
        for cell in cells(profile):
            run = trained_model(*run_configs(profile, kind, cell, seed), device=device, progress=progress)
            runs[(kind, cell.label)] = run
            limit = max(len(t) for _, t in run.splits.train) + 1
            tag = {"model": kind, "schedule": cell.schedule, "p_use_gt": cell.p_use_gt, "label": cell.label,
                   "baseline": cell.strategy == "teacher_forcing"}
            for name, frame in measure(run, limit).items():
                parts[name].append(frame.assign(**tag))
    frames = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    return LengthTables(frames["per_position"], frames["by_length"], frames["training"], limit, runs,
                        per_example=frames["per_example"])


def pool(tables: LengthTables) -> LengthTables:
    """Tables stacked over seeds averaged into one row per cell and position / length."""
    cell = ["model", "schedule", "p_use_gt", "label"]
    return common.pool_tables(tables, {"per_position": [*cell, "examples", "position", "mode"],
                                       "by_length": [*cell, "src_length", "examples"]})


def run_seeded(profile: str, kinds=("gru", "transformer"), seed_list=(0,), device=None,
               progress: bool = True) -> tuple[LengthTables, dict[int, LengthTables]]:
    """run_grid once per seed: (the tables pooled over seeds, {seed: that seed's tables})."""
    return common.run_seeded(lambda s: run_grid(profile, kinds, s, device, progress), seed_list, pool)


def schedule_curves(profile: str, num_points: int = 200) -> pd.DataFrame:
    """p_use_gt against training step for every cell of a profile: columns label, schedule, step, p_use_gt."""
    steps = synthetic.PROFILE_SIZES[check_profile(profile)]["steps"]
    xs = np.unique(np.linspace(0, steps - 1, num_points).astype(int))
    rows = []
    for cell in cells(profile):
        args = cell.strategy_args.get("schedule")
        fn = _schedule_fn(args) if args else (lambda s: 1.0)
        rows += [{"label": cell.label, "schedule": cell.schedule, "step": int(s), "p_use_gt": fn(int(s))} for s in xs]
    return pd.DataFrame(rows)


def cost_table(profile: str, kinds=("gru", "transformer"), repeats: int = 5, device=None) -> pd.DataFrame:
    """Step time of each SS mode over a TF step (median paired ratio), on the study's model size and its
    longest training targets: columns model, mode, step_time_over_tf, tgt_len."""
    device = device if isinstance(device, torch.device) else torch.device(device or "cpu")
    rows = []
    for kind in kinds:
        task_cfg, model_cfg, train_cfg = synthetic.configs(profile, TASK, kind, 0)
        task = make_task(task_cfg)
        longest = sorted(task.make_splits().train, key=lambda p: len(p[1]))[-train_cfg.batch_size:]
        batch = collate(longest).to(device)
        seed_everything(0)
        model = build_model(dataclasses.replace(model_cfg, dropout=0.0), len(task.vocab)).to(device).train()
        for r in step_cost.scheduled_sampling_rows(kind, model, batch, device, repeats):
            mode = r["metric"].removeprefix("ss_").removesuffix("_over_tf")
            rows.append({"model": kind, "mode": mode, "step_time_over_tf": r["value"],
                         "tgt_len": int(batch.tgt_in.shape[1])})
    return pd.DataFrame(rows)
