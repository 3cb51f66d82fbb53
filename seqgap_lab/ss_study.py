"""The scheduled-sampling study (notebook 03): a grid of schedules x models on the reverse task, trained
through the cache, measured as error-by-position and exact match by source length, plus headline
numbers, a generated takeaway, the schedule curves and the step-cost table.

Every table is tidy with columns model, schedule, p_use_gt, label. For the constant schedule p_use_gt is
the trained value (1.0 is teacher forcing, trained with the teacher_forcing strategy as the baseline);
for a decaying schedule it is the value reached at the last training step.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from seqgap_lab import bench, compounding, seeds
from seqgap_lab.config import ConfigError, check_profile
from seqgap_lab.data.batching import collate
from seqgap_lab.data.tasks import make_task
from seqgap_lab.experiments import TrainedModel, trained_model
from seqgap_lab.metrics import exposure as ex
from seqgap_lab.models import build_model
from seqgap_lab.runtime import seed_everything
from seqgap_lab.seeds import seeds_note, spread_text
from seqgap_lab.stats import seeded_verdict
from seqgap_lab.strategies.schedules import DEFAULT_INVERSE_SIGMOID_K, DEFAULT_WARMUP_STEPS, make_schedule

TASK = "reverse"
SCHEDULE_TYPES = ("constant", "inverse_sigmoid", "linear")
# Per profile: the constant p_use_gt grid (1.0 = teacher forcing) and the decaying schedules' shape.
# Steps and sizes are notebook 01's (compounding.PROFILE_SIZES), so the TF baseline is the same cached
# checkpoint. The library default (1,000 TF steps, then inverse sigmoid k=500) would never decay within
# the smoke (80) or default (1,500) budgets, so those profiles shrink warmup and k: default warms up 300
# steps and k=200 takes p_use_gt from 1 to about 0.33 by step 1,500 (0.5 near step 1,360).
# full (8,000 steps) uses the library default itself. Linear falls from 1 to `linear_floor` after warmup.
GRIDS = {
    "smoke": dict(p_grid=(1.0, 0.5), warmup=16, k=15.0, linear_floor=0.5),
    "default": dict(p_grid=(1.0, 0.9, 0.75, 0.5), warmup=300, k=200.0, linear_floor=0.5),
    "full": dict(p_grid=(1.0, 0.9, 0.75, 0.5, 0.25), warmup=DEFAULT_WARMUP_STEPS, k=DEFAULT_INVERSE_SIGMOID_K,
                 linear_floor=0.5),
}
EXAMPLES = ("within training lengths", "longer than training")


@dataclass(frozen=True)
class Cell:
    """One grid cell: the schedule type, its p_use_gt (constant) or final value, and the strategy args."""

    schedule: str
    p_use_gt: float
    label: str
    strategy: str
    strategy_args: dict = field(default_factory=dict, hash=False)


@dataclass
class SSTables:
    """Tidy results of the grid plus the trained runs (kept for follow-up cells)."""

    per_position: pd.DataFrame
    by_length: pd.DataFrame
    training: pd.DataFrame
    train_positions: int
    runs: dict = field(default_factory=dict)


def schedule_args(profile: str) -> dict[str, dict]:
    """The strategy_args 'schedule' dict of each decaying schedule in a profile."""
    g, steps = GRIDS[check_profile(profile)], compounding.PROFILE_SIZES[profile]["steps"]
    decay_steps = max(1, steps - 1 - g["warmup"])  # reaches the floor at the last step
    return {"inverse_sigmoid": {"name": "inverse_sigmoid", "warmup_steps": g["warmup"], "k": g["k"]},
            "linear": {"name": "linear", "warmup_steps": g["warmup"], "k": 1.0, "eps_min": g["linear_floor"],
                       "c": (1.0 - g["linear_floor"]) / decay_steps}}


def cells(profile: str) -> list[Cell]:
    """Every grid cell of a profile: the constant grid (1.0 as teacher forcing), then the decaying schedules."""
    steps = compounding.PROFILE_SIZES[check_profile(profile)]["steps"]
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
    task_cfg, model_cfg, train_cfg = compounding.configs(profile, TASK, kind, seed)
    return task_cfg, model_cfg, dataclasses.replace(train_cfg, strategy=cell.strategy,
                                                    strategy_args=cell.strategy_args)


def run_grid(profile: str, kinds=("gru", "transformer"), seed: int = 0, device=None,
             progress: bool = True) -> SSTables:
    """Train (or load) every model x cell and measure it on the test split."""
    if not kinds:
        raise ConfigError("run_grid needs at least one model kind")
    parts: dict[str, list] = {"per_position": [], "by_length": [], "training": []}
    runs, limit = {}, 0
    for kind in kinds:
        for cell in cells(profile):
            run = trained_model(*run_configs(profile, kind, cell, seed), device=device, progress=progress)
            runs[(kind, cell.label)] = run
            limit = max(len(t) for _, t in run.splits.train) + 1
            tag = {"model": kind, "schedule": cell.schedule, "p_use_gt": cell.p_use_gt, "label": cell.label}
            for name, frame in measure(run, limit).items():
                parts[name].append(frame.assign(**tag))
    frames = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    return SSTables(frames["per_position"], frames["by_length"], frames["training"], limit, runs)


def pool(tables: SSTables) -> SSTables:
    """Tables stacked over seeds (see seeds.run_seeds) averaged into one row per cell and position / length."""
    cell = ["model", "schedule", "p_use_gt", "label"]
    return dataclasses.replace(
        tables, per_position=seeds.pool_frame(tables.per_position, [*cell, "examples", "position", "mode"]),
        by_length=seeds.pool_frame(tables.by_length, [*cell, "src_length", "examples"]))


def run_seeded(profile: str, kinds=("gru", "transformer"), seed_list=(0,), device=None,
               progress: bool = True) -> tuple[SSTables, dict[int, SSTables]]:
    """run_grid once per seed: (the tables pooled over seeds, {seed: that seed's tables})."""
    stacked, per_seed = seeds.run_seeds(lambda s: run_grid(profile, kinds, s, device, progress), list(seed_list))
    return pool(stacked), per_seed


def measure(run: TrainedModel, train_positions: int) -> dict[str, pd.DataFrame]:
    """Per-position error (both modes, by example group), exact match by source length, training facts."""
    start = time.perf_counter()
    test = run.splits.test
    errors = ex.token_errors(run.model, test)
    errors["examples"] = np.where(errors["length"] + 1 > train_positions, EXAMPLES[1], EXAMPLES[0])
    per_example = errors.groupby("example").agg(wrong=("fr_error", "any"), examples=("examples", "first"))
    per_example["src_length"] = [len(test[i][0]) for i in per_example.index]
    by_length = (per_example.groupby(["src_length", "examples"])["wrong"]
                 .agg(exact_match=lambda w: 1.0 - w.mean(), count="size").reset_index())
    last = run.history.iloc[-1] if len(run.history) else {}
    training = pd.DataFrame([{"train_seconds": run.train_seconds, "from_cache": run.from_cache,
                              "final_loss": float(last.get("loss", np.nan)),
                              "dev_token_acc": float(last.get("dev_token_acc", np.nan)),
                              "measure_seconds": time.perf_counter() - start}])
    return {"per_position": ex.per_position_error(errors, by=["examples"]), "by_length": by_length,
            "training": training}


def cell_numbers(tables: SSTables, model: str, label: str, min_count: int = 20) -> dict:
    """The numbers of one cell: FR/TF error at the last in-range position, gaps, exact match in/beyond range."""
    pp = tables.per_position
    pp = pp[(pp["model"] == model) & (pp["label"] == label) & (pp["count"] >= min_count)]
    wide = pp.pivot_table(index=["examples", "position"], columns="mode", values="error_rate")
    out = {}
    if EXAMPLES[0] in wide.index.get_level_values(0):
        within = wide.loc[EXAMPLES[0]]
        pos = within.index.max()
        out.update(last_in_range_position=int(pos), fr_error_last_in_range=within.loc[pos, "free-running"],
                   tf_error_last_in_range=within.loc[pos, "teacher-forced"])
    gap = (wide["free-running"] - wide["teacher-forced"]).reset_index(name="gap")
    beyond = gap[gap["position"] > tables.train_positions]["gap"]
    out["gap_beyond_range"] = beyond.mean() if len(beyond) else float("nan")
    bl = tables.by_length
    bl = bl[(bl["model"] == model) & (bl["label"] == label)]
    out["num_examples"] = bl["count"].sum()
    for key, rows in (("exact_match", bl), ("exact_match_within", bl[bl["examples"] == EXAMPLES[0]]),
                      ("exact_match_beyond", bl[bl["examples"] == EXAMPLES[1]])):
        n = rows["count"].sum()
        out[key] = float((rows["exact_match"] * rows["count"]).sum() / n) if n else float("nan")
    return {k: float(v) for k, v in out.items()}


def headline(tables: SSTables, min_count: int = 20, per_seed: dict | None = None) -> dict:
    """Per model: teacher forcing vs the best scheduled-sampling cell (highest exact match over the test set).

    `tables` pooled over seeds: pass `per_seed` ({seed: tables}) for the per-seed values and spread of every
    number (the best cell is picked once, on the pooled tables). The test split is the same for every seed,
    so pooled counts are len(per_seed) times a seed's and `min_count` scales with them."""
    k = max(1, len(per_seed or {}))
    out = _headline(tables, min_count * k, best=None)
    if k > 1:
        best = {model: h.get("best_ss") for model, h in out.items()}
        out = seeds.add_spread(out, [_headline(t, min_count, best) for t in per_seed.values()],
                               maps=("exact_match_by_cell",))
    return out


def _headline(tables: SSTables, min_count: int, best: dict | None) -> dict:
    out = {}
    labels = tables.by_length.drop_duplicates("label").set_index("label")["schedule"]
    for model in tables.by_length["model"].drop_duplicates():
        nums = {label: cell_numbers(tables, model, label, min_count) for label in labels.index}
        tf_label = next((lab for lab in nums if lab.startswith("teacher forcing")), None)
        ss = {lab: v for lab, v in nums.items() if lab != tf_label}
        row = {"train_positions": tables.train_positions,
               "exact_match_by_cell": {lab: v["exact_match"] for lab, v in nums.items()}}
        if tf_label is not None:
            row.update({f"tf_{k}": v for k, v in nums[tf_label].items()})
        if ss:
            pick = (best or {}).get(model) or max(
                ss, key=lambda lab: (np.nan_to_num(ss[lab]["exact_match"], nan=-1.0), lab))
            row["best_ss"] = pick
            row.update({f"best_ss_{k}": v for k, v in ss[pick].items()})
        out[model] = row
    return out


def takeaway(head: dict, seeds: list[int]) -> str:
    """The notebook's takeaway as Markdown, every number read from `head` (see headline())."""
    lines = [seeds_note(seeds) + ".",
             "The best cell is picked on the test set itself, which flatters it; a difference is called a help "
             "or a harm only beyond two standard errors (binomial, over the test examples)."]
    for model, h in head.items():
        if "best_ss" not in h or "tf_exact_match" not in h:
            lines.append(f"- **{model}**: the grid lacks teacher forcing or a scheduled-sampling cell.")
            continue

        def num(key: str) -> str:
            return f"{h[key]:.3f}{spread_text(h, key)}"

        parts = [f"**{model}**: the best scheduled-sampling cell is *{h['best_ss']}*; against teacher forcing it "
                 f"{seeded_verdict(h, h, 'tf_exact_match', h.get('tf_num_examples', 0), 'best_ss_exact_match')} "
                 f"in exact match over the test set ({num('best_ss_exact_match')} vs {num('tf_exact_match')});",
                 f"on sources longer than training: {num('best_ss_exact_match_beyond')} vs "
                 f"{num('tf_exact_match_beyond')};"]
        if "tf_fr_error_last_in_range" in h and "best_ss_fr_error_last_in_range" in h:
            parts.append(f"free-running error at position {h['tf_last_in_range_position']:.0f} of in-range examples "
                         f"{num('best_ss_fr_error_last_in_range')} vs {num('tf_fr_error_last_in_range')};")
        parts.append(f"free-running minus teacher-forced gap beyond the training lengths "
                     f"{num('best_ss_gap_beyond_range')} vs {num('tf_gap_beyond_range')}.")
        lines.append("- " + " ".join(parts))
    return "\n".join(lines)


def schedule_curves(profile: str, num_points: int = 200) -> pd.DataFrame:
    """p_use_gt against training step for every cell of a profile: columns label, schedule, step, p_use_gt."""
    steps = compounding.PROFILE_SIZES[check_profile(profile)]["steps"]
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
        task_cfg, model_cfg, train_cfg = compounding.configs(profile, TASK, kind, 0)
        task = make_task(task_cfg)
        longest = sorted(task.make_splits().train, key=lambda p: len(p[1]))[-train_cfg.batch_size:]
        batch = collate(longest).to(device)
        seed_everything(0)
        model = build_model(dataclasses.replace(model_cfg, dropout=0.0), len(task.vocab)).to(device).train()
        for r in bench.scheduled_sampling_rows(kind, model, batch, device, repeats):
            mode = r["metric"].removeprefix("ss_").removesuffix("_over_tf")
            rows.append({"model": kind, "mode": mode, "step_time_over_tf": r["value"],
                         "tgt_len": int(batch.tgt_in.shape[1])})
    return pd.DataFrame(rows)
