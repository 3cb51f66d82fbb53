"""Self-distilled language models (notebook 10): word-level KD from the trained expert LM on its own samples.

docs/scope.md's self-distillation for LMs: the student has the expert's architecture; the teacher is the trained
expert of the same (corpus, profile, seed) (zoo/lms.py trained_lm), frozen. Training data = the teacher's own
generated sequences: prompts are the first `prompt_tokens` ids of seeded training windows, continued by the
teacher with top-p 0.9 sampling (seeded, batched) up to the LM window; each training example is the whole
sequence prompt + sample as one window (prompt=[]), exactly as the expert reads its windows. The loss is the
existing `word_kd` strategy (KL(teacher || student) per token at T = 1, kd_weight 1): the decoder-only LM's
forward takes (src, tgt_in, src_mask) like every seq2seq model, so no adapter is needed. Same number of
steps, batch size and optimiser settings as the expert (zoo/lms.py configs); dev loss on the real dev windows.

Cost: teacher sampling is ~17 s per 512 sequences on one CPU thread, so the default profile samples
steps x batch_size / 2 = 3600 sequences (each seen twice in training) instead of 7200. Measured once (default,
one torch thread, 2 CPU cores shared with other jobs, load ~6.5): prose 290 s (106 s sampling, mean 64
tokens per sequence, + 184 s training), code 160 s (55 s + 105 s). Held-out test perplexity of the student
on real text: prose 114 (expert 100), code 116 (expert 98); final KL to the teacher ~0.06-0.07 nats/token.
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch

from seqgap_lab.core.config import ConfigError, DecodeConfig, check_profile
from seqgap_lab.core.runtime import get_device, seed_everything
from seqgap_lab.models import build_model
from seqgap_lab.strategies import get_strategy
from seqgap_lab.strategies.distill import teacher_targets
from seqgap_lab.training.runs import cached_train
from seqgap_lab.zoo import lms as lm

ROLE = "self-distilled"
STRATEGY = "word_kd"
KD_ARGS = {"temperature": 1.0, "kd_weight": 1.0}
TOP_P = 0.9
# prompt_tokens: real tokens each teacher sample starts from; num_sequences: samples drawn (0 = steps x
# batch_size, one pass); decode_batch: rows per teacher decoding batch.
PROFILES = {
    "smoke": dict(prompt_tokens=4, num_sequences=64, decode_batch=64),
    "default": dict(prompt_tokens=8, num_sequences=3600, decode_batch=256),
    "full": dict(prompt_tokens=8, num_sequences=0, decode_batch=512),
}


def sampling_config(corpus: str, profile: str, seed: int = 0) -> DecodeConfig:
    """How the teacher continues each prompt: top-p 0.9, seeded, up to the LM window (prompt included)."""
    lm.configs(corpus, "expert", profile, seed)  # validates corpus and profile
    spec = PROFILES[profile]
    window = lm.PROFILE_SIZES[profile]["window"]
    return DecodeConfig(method="sample", top_p=TOP_P, max_len=window - spec["prompt_tokens"], seed=seed,
                        batch_size=spec["decode_batch"])


def num_sequences(profile: str) -> int:
    """Teacher samples drawn for a profile (0 in PROFILES means steps x batch_size: every example fresh)."""
    spec, sizes = PROFILES[check_profile(profile)], lm.PROFILE_SIZES[profile]
    return spec["num_sequences"] or sizes["steps"] * sizes["batch_size"]


def teacher_prompts(train_ids: list[list[int]], profile: str, seed: int = 0) -> list[list[int]]:
    """The first prompt_tokens ids of seeded training windows (repeats only when more are needed than exist)."""
    k, window = PROFILES[check_profile(profile)]["prompt_tokens"], lm.PROFILE_SIZES[profile]["window"]
    starts = [w[:k] for _, w in lm.windows(train_ids, window) if len(w) > k]
    if not starts:
        raise ConfigError(f"lm_distill: no training window longer than prompt_tokens = {k} (profile {profile!r})")
    n = num_sequences(profile)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(starts), n, replace=n > len(starts))
    return [starts[i] for i in picks]


def distill_pairs(teacher: lm.LMRun, prompts: list[list[int]], config: DecodeConfig,
                  progress: bool = True) -> list[tuple[list[int], list[int]]]:
    """Training pairs ([], prompt + teacher sample): whole windows, as the expert's training reads them."""
    device = next(teacher.model.parameters()).device
    samples = teacher_targets(teacher.model, prompts, config, device, progress=progress)
    return [([], list(p) + list(s)) for p, s in zip(prompts, samples)]


def run_key(teacher: lm.LMRun, data: lm.LMData, corpus: str, profile: str, seed: int = 0) -> dict:
    """What identifies a self-distilled LM: the teacher (key and checkpoint bytes), sampling, prompts, KD, training."""
    _, model_cfg, train_cfg = configs(corpus, profile, seed)
    return {"kind": "lm-selfdistill", "teacher": lm.run_key(data, corpus, "expert", profile, seed),
            "teacher_sha256": hashlib.sha256(teacher.checkpoint.read_bytes()).hexdigest(),
            "sampling": sampling_config(corpus, profile, seed).to_dict(),
            "prompt_tokens": PROFILES[profile]["prompt_tokens"],
            "num_sequences": num_sequences(profile), "model": model_cfg.to_dict(), "train": train_cfg.to_dict()}


def configs(corpus: str, profile: str, seed: int = 0):
    """The expert's tokenizer, model and training configs, the strategy switched to word_kd (T = 1, weight 1)."""
    sub, model_cfg, train_cfg = lm.configs(corpus, "expert", profile, seed)
    return sub, model_cfg, dataclasses.replace(train_cfg, strategy=STRATEGY, strategy_args=dict(KD_ARGS))


def trained_self_distilled_lm(corpus: str, profile: str = "default", seed: int = 0, device=None,
                              progress: bool = True, retrain: bool = False) -> lm.LMRun:
    """Load the cached self-distilled LM of (corpus, profile, seed), or sample the teacher, train and cache it
    (train_seconds includes the sampling; measured times in the module doc)."""
    teacher = lm.trained_lm(corpus, "expert", profile, seed, device, progress)
    data = lm.load_data(corpus, profile)
    _, model_cfg, train_cfg = configs(corpus, profile, seed)
    seed_everything(seed)
    student = build_model(model_cfg, len(teacher.vocab))
    device = device if isinstance(device, torch.device) else get_device(device)
    teacher.model.to(device).eval()
    strategy = get_strategy(STRATEGY, teacher=teacher.model, label_smoothing=train_cfg.label_smoothing, **KD_ARGS)
    config = sampling_config(corpus, profile, seed)

    def pairs():
        """The teacher's samples, drawn only when the student must be trained (the costly part)."""
        prompts = teacher_prompts(teacher.vocab.encode_batch(data.train), profile, seed)
        return distill_pairs(teacher, prompts, config, progress)

    dev = lm.windows(teacher.vocab.encode_batch(data.dev), teacher.window)
    run = cached_train(f"lm-{corpus}-selfdistill", run_key(teacher, data, corpus, profile, seed), student, pairs,
                       dev, train_cfg, device, retrain, progress, strategy)
    return lm.LMRun(run.model, teacher.vocab, corpus, ROLE, profile, run.history, run.checkpoint, run.from_cache,
                    run.train_seconds)
