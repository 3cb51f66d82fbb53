"""The minimum-risk-training study (notebook 04), synthetic part: MRT fine-tuning of notebook 01's
teacher-forced reverse model, against teacher forcing continued for the same steps from the same
checkpoint; a grid over the sharpness alpha and the number of samples n; dev accuracy over the
fine-tuning steps; exact match by source length; the cost of an MRT step.

Tables are tidy with columns model, label (and alpha, n for MRT cells; NaN for the baseline).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from seqgap_lab.core.config import ConfigError, DecodeConfig, check_profile
from seqgap_lab.core.runtime import seed_everything
from seqgap_lab.data.batching import collate, pad
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.lessons import common
from seqgap_lab.models import build_model
from seqgap_lab.strategies.mrt import MinimumRiskTraining, group_q, sequence_log_probs, token_error
from seqgap_lab.training import step_cost as cost
from seqgap_lab.zoo import synthetic
from seqgap_lab.zoo.mrt import FINETUNE, finetune_config
from seqgap_lab.zoo.synthetic import TrainedModel, trained_model

TASK = "reverse"
BASELINE = "teacher forcing (continued)"


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
    per_example: pd.DataFrame = field(default_factory=pd.DataFrame)  # stacked over seeds, never pooled


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
    parts: dict[str, list] = {"curves": [], "per_position": [], "by_length": [], "training": [], "per_example": []}
    runs, limit = {}, 0
    for kind in kinds:
        task_cfg, model_cfg, parent_cfg = synthetic.configs(profile, TASK, kind, seed)
        parent = trained_model(task_cfg, model_cfg, parent_cfg, device, progress=progress)
        start = {"step": 0, **dev_monitor(parent.model, parent.splits)}
        cells = [(BASELINE, None, None)] + [(mrt_label(a, n), a, n) for a, n in f["grid"]]
        for label, alpha, n in cells:
            run = trained_model(task_cfg, model_cfg, finetune_config(profile, seed, alpha, n), device,
                                progress=progress, init=parent_cfg, monitor=dev_monitor)
            runs[(kind, label)] = run
            limit = max(len(t) for _, t in run.splits.train) + 1
            tag = {"model": kind, "label": label, "alpha": alpha, "n": n, "baseline": label == BASELINE}
            parts["curves"].append(pd.concat([pd.DataFrame([start]), run.history], ignore_index=True).assign(**tag))
            for name, frame in common.measure(run, limit).items():
                parts[name].append(frame.assign(**tag))
    frames = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    return MRTTables(frames["curves"], frames["per_position"], frames["by_length"], frames["training"], limit, runs,
                     per_example=frames["per_example"])


def pool(tables: MRTTables) -> MRTTables:
    """Tables stacked over seeds averaged into one row per cell and step / position / length."""
    cell = ["model", "label", "alpha", "n"]
    return common.pool_tables(tables, {"curves": [*cell, "step"], "per_position": [*cell, "examples", "position", "mode"],
                                       "by_length": [*cell, "src_length", "examples"]}, weights={"curves": None})


def run_seeded(profile: str, kinds=("transformer", "gru"), seed_list=(0,), device=None,
               progress: bool = True) -> tuple[MRTTables, dict[int, MRTTables]]:
    """run_grid once per seed (each from its own seed's teacher-forced checkpoint): (pooled, {seed: tables})."""
    return common.run_seeded(lambda s: run_grid(profile, kinds, s, device, progress), seed_list, pool)


def cell_numbers(tables: MRTTables, model: str, label: str, min_count: int = 20) -> dict:
    """Exact match (all, within, beyond training lengths), FR/TF error and gap of one cell (see ss_study)."""
    as_ss = common.LengthTables(tables.per_position, tables.by_length, tables.training, tables.train_positions)
    out = common.cell_numbers(as_ss, model, label, min_count)
    bl = tables.by_length[(tables.by_length["model"] == model) & (tables.by_length["label"] == label)]
    for key, group in (("within", common.EXAMPLES[0]), ("beyond", common.EXAMPLES[1])):
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


def step_cost(profile: str, kind: str = "transformer", repeats: int = 5, device=None) -> pd.DataFrame:
    """Time of one MRT step (each n of the grid) over one TF step, median of paired repeats, at the study size."""
    device = device if isinstance(device, torch.device) else torch.device(device or "cpu")
    task_cfg, model_cfg, _ = synthetic.configs(profile, TASK, kind, 0)
    f = FINETUNE[check_profile(profile)]
    task = make_task(task_cfg)
    batch = collate(task.make_splits().train[: f["batch_size"]]).to(device)
    seed_everything(0)
    model = build_model(model_cfg, len(task.vocab)).to(device).train()
    samples = sorted({n for _, n in f["grid"]})
    ratios = cost.mrt_step_ratios(model, batch, device, repeats, samples, max_len_ratio=1.5)
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
