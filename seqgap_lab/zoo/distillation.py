"""The distillation recipes of notebook 05 (reused by the sweeps): teacher, student recipes, sizes.

The teacher is notebook 01's reverse Transformer; a recipe names its strategy and how the teacher decodes the students'
training targets.
"""
from __future__ import annotations

import dataclasses

from seqgap_lab.core.config import ConfigError, DecodeConfig, ModelConfig
from seqgap_lab.zoo import synthetic

TASK = "reverse"


KIND = "transformer"


BEAM = 5


TF = "teacher forcing"


TOP_P = 0.9  # the nucleus of the teacher's samples (docs/scope.md's self-distillation)


# Student recipes: strategy, its args, and whose targets it trains on (None = gold; else how the teacher
# decodes the training sources). "temperature" is the KD temperature T.
RECIPES = {
    TF: dict(strategy="teacher_forcing", args={}, targets=None),
    "word-KD": dict(strategy="word_kd", args={"temperature": 1.0}, targets=None),
    f"seq-KD (beam {BEAM})": dict(strategy="teacher_forcing", args={}, targets="beam"),
    "word-KD on top-p samples": dict(strategy="word_kd", args={"temperature": 2.0}, targets="top_p"),
}


SIZES = ("same", "small")


def student_model(profile: str, size: str) -> ModelConfig:
    """The student architecture: the teacher's own ('same', self-distillation) or half its width and depth."""
    _, teacher_cfg, _ = synthetic.configs(profile, TASK, KIND, 0)
    if size == "same":
        return teacher_cfg
    if size != "small":
        raise ConfigError(f"size = {size!r} is not allowed: expected one of {' | '.join(SIZES)}")
    d = max(16, teacher_cfg.d_model // 2)
    return dataclasses.replace(teacher_cfg, d_model=d, num_heads=2, ffn_dim=2 * d,
                               num_layers=max(1, teacher_cfg.num_layers // 2))


def target_config(kind: str | None, max_len: int, seed: int) -> DecodeConfig | None:
    """How the teacher decodes the training sources for a recipe (None: the gold targets)."""
    if kind is None:
        return None
    if kind == "beam":
        return DecodeConfig(method="beam", beam_size=BEAM, max_len=max_len, batch_size=256)
    return DecodeConfig(method="sample", top_p=TOP_P, max_len=max_len, batch_size=256, seed=seed)
