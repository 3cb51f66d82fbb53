"""The error-compounding study (notebook 01): profile sizes, the run over tasks x models x seeds,
and its headline numbers. Every table is tidy, with task, model and seed columns."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqgap_lab.core.config import ConfigError, check_int, check_profile
from seqgap_lab.probes import exposure as ex
from seqgap_lab.zoo.synthetic import PROFILE_SIZES, TrainedModel, configs, trained_model


@dataclass
class StudyResult:
    """Tidy tables of the study plus the trained runs (for widgets and follow-up cells)."""

    per_position: pd.DataFrame
    conditional: pd.DataFrame
    injection: pd.DataFrame
    exaccerr: pd.DataFrame
    training: pd.DataFrame
    runs: dict = field(default_factory=dict)
    train_positions: dict = field(default_factory=dict)


def run_study(profile: str, tasks=("reverse", "addition"), kinds=("transformer", "gru"), seed: int = 0,
              num_seeds: int | None = None, inject_at: int = 2, inject_k: int = 1,
              device=None, progress: bool = True) -> StudyResult:
    """Train (or load) every task x model x seed and measure error compounding on the test split."""
    num_seeds = PROFILE_SIZES[check_profile(profile)]["seeds"] if num_seeds is None else num_seeds
    check_int("run_study", "num_seeds", num_seeds, 1, 100)
    check_int("run_study", "inject_at", inject_at, 0, 1000)
    check_int("run_study", "inject_k", inject_k, 1, 1000)
    if not tasks or not kinds:
        raise ConfigError("run_study needs at least one task and one model kind")
    tables: dict[str, list] = {k: [] for k in ("per_position", "conditional", "injection", "exaccerr", "training")}
    result = StudyResult(*(pd.DataFrame() for _ in range(5)))
    for task in tasks:
        for kind in kinds:
            for s in range(seed, seed + num_seeds):
                run = trained_model(*configs(profile, task, kind, s), device=device, progress=progress)
                tag = {"task": task, "model": kind, "seed": s}
                result.runs[(task, kind, s)] = run
                result.train_positions[task] = max(len(t) for _, t in run.splits.train) + 1
                for name, frame in measure(run, result.train_positions[task], inject_at, inject_k).items():
                    tables[name].append(frame.assign(**tag))
    for name, parts in tables.items():
        setattr(result, name, pd.concat(parts, ignore_index=True))
    return result


def measure(run: TrainedModel, train_positions: int, inject_at: int, inject_k: int) -> dict[str, pd.DataFrame]:
    """All compounding measurements of one trained run, each a tidy DataFrame."""
    start = time.perf_counter()
    test = run.splits.test
    errors = ex.token_errors(run.model, test)
    # Longer-than-training examples are split off: otherwise late positions mix in harder examples.
    errors["examples"] = np.where(errors["length"] + 1 > train_positions, "longer than training",
                                  "within training lengths")
    eps_model, eps_oracle, lengths = ex.step_errors(run.model, test)
    out = {
        "per_position": ex.per_position_error(errors, by=["examples"]),
        "conditional": ex.conditional_error(errors),
        "injection": ex.injection(run.model, test, run.task.output_symbol_ids(), inject_at, inject_k),
        "exaccerr": ex.exaccerr(eps_model, eps_oracle, lengths),
    }
    last = run.history.iloc[-1] if len(run.history) else {}
    out["training"] = pd.DataFrame([{
        "train_seconds": run.train_seconds, "from_cache": run.from_cache,
        "final_loss": float(last.get("loss", np.nan)), "dev_token_acc": float(last.get("dev_token_acc", np.nan)),
        "parameters": run.model.num_parameters(), "measure_seconds": time.perf_counter() - start}])
    return out


def training_history(result: StudyResult) -> pd.DataFrame:
    """All runs' training histories in one frame, with a `run` label (task/model/seed)."""
    parts = [run.history.assign(run=f"{t}/{k}/s{s}") for (t, k, s), run in result.runs.items() if len(run.history)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["step", "loss", "run"])


