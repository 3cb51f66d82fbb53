"""The error-compounding study (notebook 01): profile sizes, the run over tasks x models x seeds,
and its headline numbers. Every table is tidy, with task, model and seed columns."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqgap_lab.core.config import ConfigError, TaskConfig, check_int, check_profile
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.lessons.compounding.evidence import evidence
from seqgap_lab.models.base import Seq2SeqModel
from seqgap_lab.models.reference import reference_models
from seqgap_lab.probes import exposure as ex
from seqgap_lab.probes import exposure_tables as tables
from seqgap_lab.zoo.synthetic import PROFILE_SIZES, configs, trained_model

RAW = ("errors", "injection_errors", "exacc_units")  # per-example tables the verdicts resample
# The yardsticks run on one fixed reverse test set in every profile (no training: they cost seconds).
REFERENCE_TASK = TaskConfig(name="reverse", num_train=10, num_dev=10, num_test=2000, min_len=4, train_max_len=16,
                            test_max_len=24, seed=0)


@dataclass
class StudyResult:
    """Tidy tables of the study plus the trained runs (for widgets and follow-up cells)."""

    per_position: pd.DataFrame
    conditional: pd.DataFrame
    injection: pd.DataFrame
    exaccerr: pd.DataFrame
    training: pd.DataFrame
    errors: pd.DataFrame = field(default_factory=pd.DataFrame)
    injection_errors: pd.DataFrame = field(default_factory=pd.DataFrame)
    exacc_units: pd.DataFrame = field(default_factory=pd.DataFrame)
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame)
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
    parts: dict[str, list] = {k: [] for k in ("per_position", "conditional", "injection", "exaccerr", "training", *RAW)}
    result = StudyResult(*(pd.DataFrame() for _ in range(5)))
    for task in tasks:
        for kind in kinds:
            for s in range(seed, seed + num_seeds):
                run = trained_model(*configs(profile, task, kind, s), device=device, progress=progress)
                tag = {"task": task, "model": kind, "seed": s}
                result.runs[(task, kind, s)] = run
                result.train_positions[task] = max(len(t) for _, t in run.splits.train) + 1
                out = measure(run.model, run.splits.test, run.task.output_symbol_ids(), result.train_positions[task],
                              inject_at, inject_k)
                out["training"] = _training_row(run, out.pop("measure_seconds"))
                for name, frame in out.items():
                    parts[name].append(frame.assign(**tag))
    return _finish(result, parts)


def _finish(result: StudyResult, parts: dict[str, list]) -> StudyResult:
    """Concatenate the tables and add the verdicts per task x model, seeds pooled."""
    for name, frames in parts.items():
        setattr(result, name, pd.concat(frames, ignore_index=True))
    verdicts = []
    for (task, kind), errors in result.errors.groupby(["task", "model"], sort=False):
        pick = lambda f: f[(f["task"] == task) & (f["model"] == kind)]  # noqa: E731
        verdicts.append(evidence(errors, pick(result.injection_errors), pick(result.exacc_units),
                                 result.train_positions[task]).assign(task=task, model=kind))
    result.evidence = pd.concat(verdicts, ignore_index=True)
    return result


def measure(model: Seq2SeqModel, test: list, output_ids: list[int], train_positions: int, inject_at: int,
            inject_k: int) -> dict:
    """All compounding measurements of one model on a test set: tidy tables, the per-example ones (RAW) too."""
    start = time.perf_counter()
    errors = ex.token_errors(model, test)
    # Longer-than-training examples are split off: otherwise late positions mix in harder examples.
    errors["examples"] = np.where(errors["length"] + 1 > train_positions, "longer than training",
                                  "within training lengths")
    eps_model, eps_oracle, lengths = ex.step_errors(model, test)
    injected = ex.injection_errors(model, test, output_ids, inject_at, inject_k)
    return {
        "per_position": tables.per_position_error(errors, by=["examples"]),
        "conditional": tables.conditional_error(errors),
        "injection": ex.injection(injected),
        "exaccerr": tables.exaccerr(eps_model, eps_oracle, lengths),
        "errors": errors, "injection_errors": injected,
        "exacc_units": tables.exaccerr_units(eps_model, eps_oracle, lengths, train_positions),
        "measure_seconds": time.perf_counter() - start,
    }


def _training_row(run, measure_seconds: float) -> pd.DataFrame:
    last = run.history.iloc[-1] if len(run.history) else {}
    return pd.DataFrame([{
        "train_seconds": run.train_seconds, "from_cache": run.from_cache,
        "final_loss": float(last.get("loss", np.nan)), "dev_token_acc": float(last.get("dev_token_acc", np.nan)),
        "parameters": run.model.num_parameters(), "measure_seconds": measure_seconds}])


def reference_study(inject_at: int = 2, inject_k: int = 1) -> StudyResult:
    """The same measurements on the hand-made yardsticks (models/reference.py), whose answer is known: a
    perfect model, a constant hazard (no compounding), a rising hazard (compounding), a length failure."""
    task = make_task(REFERENCE_TASK)
    test = task.make_splits().test
    train_positions = REFERENCE_TASK.train_max_len + 1
    parts: dict[str, list] = {k: [] for k in ("per_position", "conditional", "injection", "exaccerr", "training", *RAW)}
    result = StudyResult(*(pd.DataFrame() for _ in range(5)), train_positions={"reverse": train_positions})
    for name, model in reference_models(len(task.vocab), task.output_symbol_ids(), train_positions).items():
        out = measure(model, test, task.output_symbol_ids(), train_positions, inject_at, inject_k)
        out["training"] = pd.DataFrame([{"measure_seconds": out.pop("measure_seconds")}])
        for table, frame in out.items():
            parts[table].append(frame.assign(task="reverse", model=name, seed=0))
    return _finish(result, parts)


def training_history(result: StudyResult) -> pd.DataFrame:
    """All runs' training histories in one frame, with a `run` label (task/model/seed)."""
    parts = [run.history.assign(run=f"{t}/{k}/s{s}") for (t, k, s), run in result.runs.items() if len(run.history)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["step", "loss", "run"])


