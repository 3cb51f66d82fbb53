"""The error-compounding study (notebook 01): profile sizes, the run over tasks x models x seeds,
and its headline numbers. Every table is tidy, with task, model and seed columns."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from seqgap_lab.config import ConfigError, ModelConfig, TaskConfig, TrainConfig, check_int, check_profile
from seqgap_lab.experiments import TrainedModel, trained_model
from seqgap_lab.metrics import exposure as ex

# Sizes per profile. smoke: seconds on a CPU (CI); default: minutes on a laptop CPU; full: a GPU.
PROFILE_SIZES = {
    "smoke": dict(min_len=2, train_max_len=5, test_max_len=8, num_train=600, num_test=64, d_model=32,
                  num_layers=1, ffn_dim=64, steps=80, batch_size=32, seeds=1),
    "default": dict(min_len=4, train_max_len=16, test_max_len=24, num_train=20000, num_test=600, d_model=64,
                    num_layers=2, ffn_dim=256, steps=1500, batch_size=64, seeds=1),
    "full": dict(min_len=4, train_max_len=24, test_max_len=40, num_train=100000, num_test=2000, d_model=256,
                 num_layers=3, ffn_dim=1024, steps=8000, batch_size=128, seeds=3),
}


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


def configs(profile: str, task: str, kind: str, seed: int) -> tuple[TaskConfig, ModelConfig, TrainConfig]:
    """The three configs of one run in a profile."""
    s = PROFILE_SIZES[check_profile(profile)]
    lengths = {k: s[k] for k in ("min_len", "train_max_len", "test_max_len")}
    task_cfg = TaskConfig(name=task, num_train=s["num_train"], num_dev=min(500, s["num_test"]),
                          num_test=s["num_test"], seed=0, **lengths)
    heads = 4 if s["d_model"] >= 64 else 2
    model_cfg = ModelConfig(kind=kind, d_model=s["d_model"], num_heads=heads, num_layers=s["num_layers"],
                            ffn_dim=s["ffn_dim"], dropout=0.1 if profile != "smoke" else 0.0)
    train_cfg = TrainConfig(steps=s["steps"], batch_size=s["batch_size"], lr=2e-3 if s["d_model"] < 256 else 7e-4,
                            warmup_steps=max(10, s["steps"] // 10), seed=seed, log_every=max(10, s["steps"] // 30))
    return task_cfg, model_cfg, train_cfg


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


def headline(result: StudyResult, min_count: int = 20) -> dict:
    """Headline numbers per task/model (seed-averaged, with the seed spread), for summary.json."""
    out = {}
    for (task, kind), pp in result.per_position.groupby(["task", "model"]):
        limit = result.train_positions[task]
        pp = pp[pp["count"] >= min_count]
        wide = pp.pivot_table(index=["examples", "position"], columns="mode", values="error_rate")
        gap = (wide["free-running"] - wide["teacher-forced"]).reset_index(name="gap")
        within = wide.loc["within training lengths"] if "within training lengths" in wide.index else None
        beyond = gap[gap["position"] > limit]
        row = {"train_positions": limit}
        if within is not None and len(within):
            pos = within.index.max()
            row.update(tf_error_last_in_range=within.loc[pos, "teacher-forced"],
                       fr_error_last_in_range=within.loc[pos, "free-running"], last_in_range_position=int(pos))
        row["gap_within_range"] = gap[gap["position"] <= limit]["gap"].mean()
        row["gap_beyond_range"] = beyond["gap"].mean() if len(beyond) else float("nan")
        row.update(_exaccerr_head(result.exaccerr, task, kind, min_count))
        row.update(_conditional_head(result.conditional, task, kind))
        row.update(_injection_head(result.injection, task, kind))
        out[f"{task}/{kind}"] = {k: (float(v) if not isinstance(v, str) else v) for k, v in row.items()}
    return out


def _exaccerr_head(frame: pd.DataFrame, task: str, kind: str, min_count: int) -> dict:
    sub = frame[(frame["task"] == task) & (frame["model"] == kind) & (frame["count"] >= min_count)]
    if not len(sub):
        return {}
    per_len = sub.groupby("length")["exaccerr_pct"].agg(["mean", "std"])
    longest = per_len.index.max()
    return {"exaccerr_longest_length": int(longest), "exaccerr_pct_longest": per_len.loc[longest, "mean"],
            "exaccerr_pct_longest_seed_std": per_len.loc[longest, "std"] if sub["seed"].nunique() > 1 else 0.0}


def _injection_head(frame: pd.DataFrame, task: str, kind: str, steps: int = 5) -> dict:
    sub = frame[(frame["task"] == task) & (frame["model"] == kind) & (frame["offset"] <= steps)]
    if not len(sub):
        return {}
    mean = sub.groupby("condition")["error_rate"].mean()
    return {"injected_error_next5": mean.get("injected", float("nan")),
            "clean_error_next5": mean.get("clean", float("nan"))}


def _conditional_head(frame: pd.DataFrame, task: str, kind: str) -> dict:
    sub = frame[(frame["task"] == task) & (frame["model"] == kind)]
    weighted = {}
    for cond, part in sub.groupby("condition"):
        weighted[cond] = float((part["error_rate"] * part["count"]).sum() / part["count"].sum())
    return {"fr_error_after_an_error": weighted.get("after an error", float("nan")),
            "fr_error_clean_prefix": weighted.get("clean prefix", float("nan"))}



def training_history(result: StudyResult) -> pd.DataFrame:
    """All runs' training histories in one frame, with a `run` label (task/model/seed)."""
    parts = [run.history.assign(run=f"{t}/{k}/s{s}") for (t, k, s), run in result.runs.items() if len(run.history)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["step", "loss", "run"])


def takeaway(head: dict, seeds: list[int]) -> str:
    """The notebook's takeaway as Markdown, every number read from `head` (see headline())."""
    lines = [f"Measured with seed(s) {seeds}" + (" (± is the spread over seeds)." if len(seeds) > 1 else
                                                 " (one seed: run the `full` profile for the spread over seeds).")]
    for name, h in head.items():
        parts = [f"**{name}**:"]
        if "fr_error_last_in_range" in h:
            parts.append(f"at position {h['last_in_range_position']:.0f} of in-range examples the free-running "
                         f"error is {h['fr_error_last_in_range']:.3f} vs {h['tf_error_last_in_range']:.3f} "
                         "teacher-forced;")
        within, beyond = h["gap_within_range"], h["gap_beyond_range"]
        if beyond == beyond:  # not NaN
            verdict = "larger" if beyond > within else "not larger (contrary to the textbook expectation)"
            parts.append(f"the free-running minus teacher-forced gap averages {within:.3f} within the training "
                         f"lengths and {beyond:.3f} beyond them, {verdict};")
        parts.append(f"after an earlier mistake the next token is wrong {h['fr_error_after_an_error']:.3f} of the "
                     f"time vs {h['fr_error_clean_prefix']:.3f} after a clean prefix;")
        if "injected_error_next5" in h:
            parts.append(f"over the 5 steps after an injected wrong token the error is {h['injected_error_next5']:.3f} "
                         f"vs {h['clean_error_next5']:.3f} with a clean prefix;")
        if "exaccerr_pct_longest" in h:
            spread = f" ± {h['exaccerr_pct_longest_seed_std']:.1f}" if len(seeds) > 1 else ""
            parts.append(f"ExAccErr at length {h['exaccerr_longest_length']:.0f} is "
                         f"{h['exaccerr_pct_longest']:.1f}%{spread}.")
        lines.append("- " + " ".join(parts))
    return "\n".join(lines)
