"""The four speech models of notebook 11 and their budgets per profile: CTC, RNN transducer, and the attention
encoder-decoder trained with teacher forcing and with scheduled sampling (same steps, same auxiliary CTC weight).

Budgets (training steps) come from the profile unless a parameter overrides them (0 = as the profile says). The
default profile is sized so that the whole notebook runs cold in under 20 minutes on 2 CPU cores (about 17 min
measured, corpus synthesis included); the transducer keeps 600 steps since at 500 its CER doubled (0.47-0.53).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from seqgap_lab.core.config import ConfigError, TrainConfig, check_int, check_profile
from seqgap_lab.data.speech.config import SpeechConfig
from seqgap_lab.models.speech.encoder import SpeechModelConfig
from seqgap_lab.training.speech import SpeechRun, trained_speech_model

MODELS = ("ctc", "transducer", "attention_tf", "attention_ss")
# Steps per profile: smoke only checks the plumbing; default fits a laptop CPU; full is for a GPU.
STEPS = {"smoke": {"ctc": 4, "transducer": 4, "attention": 4},
         "default": {"ctc": 500, "transducer": 600, "attention": 800},
         "full": {"ctc": 4000, "transducer": 4000, "attention": 6000}}
BATCH_SIZE = {"smoke": 8, "default": 32, "full": 32}
# The transducer's beam search decodes one utterance at a time (about 1 s each on a CPU): a subset per bucket.
BEAM_SUBSET = {"smoke": 2, "default": 20, "full": 100}
LR = 1.5e-3
# Without an auxiliary CTC loss the attention decoder does not learn to align within a CPU budget (it loops);
# with weight 0.3 it does. Both attention models (TF and SS) use it, so they differ only in the strategy.
CTC_WEIGHT = 0.3
SS_FLOOR = 0.75  # scheduled sampling: p_use_gt falls linearly from 1 to this floor


@dataclass(frozen=True)
class SpeechBudget:
    """Training steps per model family, the batch size and the seed of one notebook run."""

    profile: str
    ctc_steps: int
    transducer_steps: int
    attention_steps: int
    batch_size: int
    seed: int
    transducer_beam_subset: int


def budget(profile: str, seed: int = 0, ctc_steps: int = 0, transducer_steps: int = 0,
           attention_steps: int = 0, transducer_beam_subset: int = 0) -> SpeechBudget:
    """The run's budget: each count 0 means as the profile says (STEPS, BEAM_SUBSET)."""
    check_profile(profile)
    check_int("parameters", "seed", seed, 0)
    steps = {}
    for name, value in (("ctc", ctc_steps), ("transducer", transducer_steps), ("attention", attention_steps)):
        check_int("parameters", f"{name}_steps", value, 0, 1_000_000)
        steps[name] = value or STEPS[profile][name]
    check_int("parameters", "transducer_beam_subset", transducer_beam_subset, 0, 100_000)
    return SpeechBudget(profile, steps["ctc"], steps["transducer"], steps["attention"], BATCH_SIZE[profile], seed,
                        transducer_beam_subset or BEAM_SUBSET[profile])


def ss_schedule(steps: int) -> dict:
    """Teacher forcing for the first half (the decoder must learn to align first), then p_use_gt falls
    linearly from 1 to SS_FLOOR at the last step."""
    warmup = steps // 2
    return {"name": "linear", "warmup_steps": warmup, "k": 1.0, "c": (1.0 - SS_FLOOR) / max(1, steps - warmup),
            "eps_min": SS_FLOOR}


def configs(name: str, b: SpeechBudget) -> tuple[SpeechModelConfig, TrainConfig]:
    """(model config, training config) of one of MODELS under a budget."""
    if name not in MODELS:
        raise ConfigError(f"model = {name!r} is not allowed: expected one of {' | '.join(MODELS)}")
    kind = name.split("_")[0]
    steps = {"ctc": b.ctc_steps, "transducer": b.transducer_steps, "attention": b.attention_steps}[kind]
    model_cfg = SpeechModelConfig(kind=kind, ctc_weight=CTC_WEIGHT if kind == "attention" else 0.0)
    strategy, args = "teacher_forcing", {}
    if name == "attention_ss":
        strategy, args = "scheduled_sampling", {"mode": "two_pass", "schedule": ss_schedule(steps)}
    train_cfg = TrainConfig(strategy=strategy, steps=steps, batch_size=b.batch_size, lr=LR,
                            warmup_steps=min(150, steps // 5), log_every=max(1, min(50, steps // 4)), seed=b.seed,
                            strategy_args=args)
    return model_cfg, train_cfg


def train_all(corpus, b: SpeechBudget, device: torch.device, progress: bool = True) -> dict[str, SpeechRun]:
    """Every model of MODELS, trained or read from the checkpoint cache (keyed by corpus, configs and seed)."""
    runs = {}
    for name in MODELS:
        model_cfg, train_cfg = configs(name, b)
        runs[name] = trained_speech_model(corpus.config.to_dict(), model_cfg, train_cfg,
                                          lambda: corpus.split("train"), len(corpus.vocab), device,
                                          progress=progress)
    return runs


def corpus_config(profile: str) -> SpeechConfig:
    """The speech corpus of a profile."""
    return SpeechConfig(profile=check_profile(profile))


def run_table(runs: dict[str, SpeechRun], b: SpeechBudget) -> pd.DataFrame:
    """One row per model: strategy, steps, parameters, training seconds (as first measured) and cache use."""
    rows = []
    for name, run in runs.items():
        model_cfg, train_cfg = configs(name, b)
        rows.append({"model": name, "strategy": train_cfg.strategy, "ctc_weight": model_cfg.ctc_weight,
                     "steps": train_cfg.steps, "params": run.model.num_parameters(),
                     "train_seconds": round(run.train_seconds, 1), "from_cache": run.from_cache})
    return pd.DataFrame(rows).set_index("model")


def histories(runs: dict[str, SpeechRun]) -> pd.DataFrame:
    """The training histories of every model, stacked with a `model` column."""
    parts = [run.history.assign(model=name) for name, run in runs.items() if len(run.history)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["model", "step", "loss"])
