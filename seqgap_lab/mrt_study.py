"""The minimum-risk-training study (notebook 04), synthetic part: MRT fine-tuning of notebook 01's
teacher-forced reverse model, against teacher forcing continued for the same steps from the same
checkpoint; a grid over the sharpness alpha and the number of samples n; dev accuracy over the
fine-tuning steps; exact match by source length; the cost of an MRT step.

Tables are tidy with columns model, label (and alpha, n for MRT cells; NaN for the baseline).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from seqgap_lab import bench_mrt, compounding, seeds, ss_study
from seqgap_lab.config import ConfigError, DecodeConfig, TrainConfig, check_profile
from seqgap_lab.data.batching import collate, pad
from seqgap_lab.data.tasks import make_task
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.experiments import TrainedModel, trained_model
from seqgap_lab.models import build_model
from seqgap_lab.runtime import seed_everything
from seqgap_lab.seeds import seeds_note, spread_text
from seqgap_lab.stats import seeded_verdict
from seqgap_lab.strategies.mrt import MinimumRiskTraining, group_q, sequence_log_probs, token_error

TASK = "reverse"
BASELINE = "teacher forcing (continued)"
# Fine-tuning budgets per profile, from notebook 01's checkpoint (compounding.PROFILE_SIZES). `grid` holds
# (alpha, n) cells; `main` is the cell the headline compares (the paper's alpha = 5e-3 and the largest n).
FINETUNE = {
    "smoke": dict(steps=8, batch_size=16, lr=3e-4, log_every=4, grid=((5e-3, 2), (1.0, 2)), main=(5e-3, 2)),
    "default": dict(steps=300, batch_size=32, lr=3e-4, log_every=30,
                    grid=((5e-3, 4), (5e-3, 8), (1.0, 4), (1.0, 8)), main=(5e-3, 8)),
    "full": dict(steps=2000, batch_size=64, lr=2e-4, log_every=100,
                 grid=((5e-3, 4), (5e-3, 8), (5e-3, 16), (0.1, 8), (1.0, 8)), main=(5e-3, 16)),
}


def mrt_label(alpha: float, n: int) -> str:
    """The label of a grid cell."""
    return f"MRT alpha={alpha:g} n={n}"


@dataclass
class MRTTables:
    """Tidy results: dev curves over fine-tuning steps, per-position error, exact match by length, cells."""

    curves: pd.DataFrame
    per_position: pd.DataFrame
    by_length: pd.DataFrame
    training: pd.DataFrame
    train_positions: int
    runs: dict = field(default_factory=dict)


def finetune_config(profile: str, seed: int, alpha: float | None = None, n: int | None = None) -> TrainConfig:
    """The fine-tuning TrainConfig: MRT with (alpha, n) and token-error risk, or teacher forcing if alpha is None."""
    f = FINETUNE[check_profile(profile)]
    base = TrainConfig(steps=f["steps"], batch_size=f["batch_size"], lr=f["lr"], warmup_steps=max(1, f["steps"] // 10),
                       seed=seed, log_every=f["log_every"])
    if alpha is None:
        return base
    return dataclasses.replace(base, strategy="mrt", strategy_args={"num_samples": n, "alpha": alpha,
                                                                    "risk": "token_error"})


def dev_monitor(model, splits, max_extra: int = 4) -> dict:
    """Greedy dev exact match and mean token error (the MRT risk of synthetic tasks)."""
    sources, refs = [s for s, _ in splits.dev], [t for _, t in splits.dev]
    preds = decode_sequences(model, sources, DecodeConfig(max_len=max(len(t) for t in refs) + max_extra))
    return {"dev_exact_match": float(np.mean([p == t for p, t in zip(preds, refs)])),
            "dev_token_error": float(token_error(preds, refs).mean())}


def run_grid(profile: str, kinds=("transformer", "gru"), seed: int = 0, device=None, progress: bool = True) -> MRTTables:
    """Fine-tune every (model, cell) from the TF checkpoint (trained or loaded) and measure it on the test split."""
    if not kinds:
        raise ConfigError("run_grid needs at least one model kind")
    f = FINETUNE[check_profile(profile)]
    parts: dict[str, list] = {"curves": [], "per_position": [], "by_length": [], "training": []}
    runs, limit = {}, 0
    for kind in kinds:
        task_cfg, model_cfg, parent_cfg = compounding.configs(profile, TASK, kind, seed)
        parent = trained_model(task_cfg, model_cfg, parent_cfg, device, progress=progress)
        start = {"step": 0, **dev_monitor(parent.model, parent.splits)}
        cells = [(BASELINE, None, None)] + [(mrt_label(a, n), a, n) for a, n in f["grid"]]
        for label, alpha, n in cells:
            run = trained_model(task_cfg, model_cfg, finetune_config(profile, seed, alpha, n), device,
                                progress=progress, init=parent_cfg, monitor=dev_monitor)
            runs[(kind, label)] = run
            limit = max(len(t) for _, t in run.splits.train) + 1
            tag = {"model": kind, "label": label, "alpha": alpha, "n": n}
            parts["curves"].append(pd.concat([pd.DataFrame([start]), run.history], ignore_index=True).assign(**tag))
            for name, frame in ss_study.measure(run, limit).items():
                parts[name].append(frame.assign(**tag))
    frames = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    return MRTTables(frames["curves"], frames["per_position"], frames["by_length"], frames["training"], limit, runs)


def pool(tables: MRTTables) -> MRTTables:
    """Tables stacked over seeds (see seeds.run_seeds) averaged into one row per cell and step / position / length."""
    cell = ["model", "label", "alpha", "n"]
    return dataclasses.replace(
        tables, curves=seeds.pool_frame(tables.curves, [*cell, "step"], weight=None),
        per_position=seeds.pool_frame(tables.per_position, [*cell, "examples", "position", "mode"]),
        by_length=seeds.pool_frame(tables.by_length, [*cell, "src_length", "examples"]))


def run_seeded(profile: str, kinds=("transformer", "gru"), seed_list=(0,), device=None,
               progress: bool = True) -> tuple[MRTTables, dict[int, MRTTables]]:
    """run_grid once per seed (each from its own seed's teacher-forced checkpoint): (pooled, {seed: tables})."""
    stacked, per_seed = seeds.run_seeds(lambda s: run_grid(profile, kinds, s, device, progress), list(seed_list))
    return pool(stacked), per_seed


def cell_numbers(tables: MRTTables, model: str, label: str, min_count: int = 20) -> dict:
    """Exact match (all, within, beyond training lengths), FR/TF error and gap of one cell (see ss_study)."""
    as_ss = ss_study.SSTables(tables.per_position, tables.by_length, tables.training, tables.train_positions)
    out = ss_study.cell_numbers(as_ss, model, label, min_count)
    bl = tables.by_length[(tables.by_length["model"] == model) & (tables.by_length["label"] == label)]
    for key, group in (("within", ss_study.EXAMPLES[0]), ("beyond", ss_study.EXAMPLES[1])):
        out[f"num_examples_{key}"] = float(bl[bl["examples"] == group]["count"].sum())
    curve = tables.curves[(tables.curves["model"] == model) & (tables.curves["label"] == label)]
    last = curve.iloc[-1]
    out.update(dev_exact_match=float(last["dev_exact_match"]), dev_token_error=float(last["dev_token_error"]),
               dev_exact_match_start=float(curve.iloc[0]["dev_exact_match"]),
               dev_token_error_start=float(curve.iloc[0]["dev_token_error"]))
    if "risk" in curve:
        risks = curve["risk"].dropna()
        if len(risks):
            out.update(train_risk_first=float(risks.iloc[0]), train_risk_last=float(risks.iloc[-1]))
    return out


def headline(tables: MRTTables, profile: str, min_count: int = 20, per_seed: dict | None = None) -> dict:
    """Per model: every cell's numbers, the main cell vs the baseline, and the best cell on dev.

    `tables` pooled over seeds: pass `per_seed` ({seed: tables}) for per-seed values and the spread of every
    number (pooled counts are len(per_seed) times a seed's, so `min_count` scales with them)."""
    k = max(1, len(per_seed or {}))
    out = _headline(tables, profile, min_count * k)
    if k > 1:
        out = seeds.add_spread(out, [_headline(t, profile, min_count) for t in per_seed.values()])
    return out


def _headline(tables: MRTTables, profile: str, min_count: int) -> dict:
    out = {}
    main = mrt_label(*FINETUNE[check_profile(profile)]["main"])
    for model in tables.by_length["model"].drop_duplicates():
        labels = tables.by_length[tables.by_length["model"] == model]["label"].drop_duplicates()
        nums = {label: cell_numbers(tables, model, label, min_count) for label in labels}
        mrt = {k: v for k, v in nums.items() if k != BASELINE}
        best = max(mrt, key=lambda k: (mrt[k]["dev_exact_match"], k)) if mrt else None
        out[model] = {"cells": nums, "main": main if main in nums else best, "best_on_dev": best}
    return out


def takeaway(head: dict, seeds: list[int], steps: int) -> str:
    """The synthetic part's takeaway as Markdown, every number read from `head`."""
    lines = [seeds_note(seeds) + f"; every cell fine-tunes the same teacher-forced checkpoint for {steps} "
             "steps. A difference is called a help or a harm only beyond two binomial standard errors."]
    for model, h in head.items():
        cells = h["cells"]
        if BASELINE not in cells or not h["main"]:
            lines.append(f"- **{model}**: the grid lacks the baseline or an MRT cell.")
            continue
        b, m = cells[BASELINE], cells[h["main"]]

        def pair(key: str, n_key: str, who: str = "") -> str:
            return (f"{m[key]:.3f}{spread_text(m, key)} vs {b[key]:.3f}{spread_text(b, key)} "
                    f"({who}{seeded_verdict(m, b, key, b[n_key])}")

        lines.append(
            f"- **{model}, {h['main']}**, against teacher forcing continued for the same steps: test exact match "
            f"{pair('exact_match', 'num_examples', 'MRT ')}); within the training lengths "
            f"{pair('exact_match_within', 'num_examples_within')}, {b['num_examples_within']:.0f} examples); "
            f"beyond them {pair('exact_match_beyond', 'num_examples_beyond')}, {b['num_examples_beyond']:.0f} "
            f"examples). Greedy dev token error went {m['dev_token_error_start']:.3f} -> "
            f"{m['dev_token_error']:.3f} (baseline -> {b['dev_token_error']:.3f}).")
        if "train_risk_first" in m:
            lines.append(f"  The expected risk on training batches moved {m['train_risk_first']:.3f} -> "
                         f"{m['train_risk_last']:.3f} (first and last log point).")
        grid = ", ".join(f"{k.removeprefix('MRT ')}: {v['exact_match']:.3f}{spread_text(v, 'exact_match')}"
                         for k, v in cells.items() if k != BASELINE)
        lines.append(f"  Exact match by cell: {grid}; best on dev: *{h['best_on_dev']}*.")
    return "\n".join(lines)


def step_cost(profile: str, kind: str = "transformer", repeats: int = 5, device=None) -> pd.DataFrame:
    """Time of one MRT step (each n of the grid) over one TF step, median of paired repeats, at the study size."""
    device = device if isinstance(device, torch.device) else torch.device(device or "cpu")
    task_cfg, model_cfg, _ = compounding.configs(profile, TASK, kind, 0)
    f = FINETUNE[check_profile(profile)]
    task = make_task(task_cfg)
    batch = collate(task.make_splits().train[: f["batch_size"]]).to(device)
    seed_everything(0)
    model = build_model(model_cfg, len(task.vocab)).to(device).train()
    samples = sorted({n for _, n in f["grid"]})
    ratios = bench_mrt.mrt_step_ratios(model, batch, device, repeats, samples, max_len_ratio=1.5)
    return pd.DataFrame([{"model": kind, "strategy": f"mrt n={n}", "step_time_over_tf": ratio, "tf_step_ms": tf_ms,
                          "batch_size": f["batch_size"]} for n, (ratio, tf_ms) in ratios.items()])


def candidate_table(run: TrainedModel, example: int = 0, n: int = 8, alphas=(5e-3, 0.1, 1.0), seed: int = 0) -> pd.DataFrame:
    """One test source's sampled candidate set: log P(y|x), token-error risk and Q(y) for each alpha (the lesson)."""
    src, tgt = run.splits.test[example]
    batch = collate([(src, tgt)]).to(next(run.model.parameters()).device)
    seed_everything(seed)
    strategy = MinimumRiskTraining(num_samples=n, include_reference=True)
    cands, owner = strategy.candidates(run.model, batch)
    with torch.no_grad():
        owner_t = torch.tensor(owner, device=batch.src.device)
        lp = sequence_log_probs(run.model.eval(), batch.src, batch.src_mask, owner_t, pad(cands).to(batch.src.device))
        table = pd.DataFrame({"candidate": [" ".join(run.task.vocab.decode(c)) for c in cands],
                              "is_reference": [i == 0 for i in range(len(cands))],
                              "log_p": lp.cpu().numpy(), "risk": strategy.risks(cands, [cands[0]] * len(cands))})
        for alpha in alphas:
            table[f"Q alpha={alpha:g}"] = group_q(lp, owner_t, 1, alpha).cpu().numpy()
    return table.sort_values("log_p", ascending=False).reset_index(drop=True)
