"""Self-distilled LMs (lm_distill): teacher prompts and samples, the cache key, and a smoke-profile student that
trains with word-level KD on the teacher's own samples (corpus-backed, as zoo/test_lms.py)."""
from __future__ import annotations

import math

import pytest
import torch

from seqgap_lab.zoo import lms as lm, lms_distilled as lm_distill
from seqgap_lab.core.config import ConfigError


def test_teacher_prompts_are_window_starts_seeded_and_counted():
    docs = [list(range(3, 3 + n)) for n in (100, 7, 3, 64)]
    prompts = lm_distill.teacher_prompts(docs, "smoke", seed=1)
    k = lm_distill.PROFILES["smoke"]["prompt_tokens"]
    starts = {tuple(w[:k]) for _, w in lm.windows(docs, lm.PROFILE_SIZES["smoke"]["window"]) if len(w) > k}
    assert len(prompts) == lm_distill.num_sequences("smoke") == 64
    assert all(len(p) == k and tuple(p) in starts for p in prompts)
    assert prompts == lm_distill.teacher_prompts(docs, "smoke", seed=1)
    assert prompts != lm_distill.teacher_prompts(docs, "smoke", seed=2)
    with pytest.raises(ConfigError, match="prompt_tokens"):
        lm_distill.teacher_prompts([[3, 4]], "smoke")


def test_sampling_and_training_configs():
    cfg = lm_distill.sampling_config("code", "default", seed=3)
    assert (cfg.method, cfg.top_p, cfg.seed) == ("sample", 0.9, 3)
    assert cfg.max_len + lm_distill.PROFILES["default"]["prompt_tokens"] == lm.PROFILE_SIZES["default"]["window"]
    _, model, train = lm_distill.configs("prose", "default")
    _, e_model, e_train = lm.configs("prose", "expert", "default")
    assert model == e_model and (train.steps, train.batch_size, train.lr) == (e_train.steps, e_train.batch_size,
                                                                             e_train.lr)
    assert train.strategy == "word_kd" and e_train.strategy == "teacher_forcing"
    full = lm.PROFILE_SIZES["full"]
    assert lm_distill.num_sequences("full") == full["steps"] * full["batch_size"]
    with pytest.raises(ConfigError, match="corpus = 'poems'"):
        lm_distill.sampling_config("poems", "smoke")
    with pytest.raises(ConfigError, match="profile = 'fast'"):
        lm_distill.num_sequences("fast")


def test_smoke_self_distilled_lm_trains_caches_and_differs_from_the_expert(data_dir):
    student = lm_distill.trained_self_distilled_lm("code", "smoke", progress=False)
    expert = lm.trained_lm("code", "expert", "smoke", progress=False)
    assert not student.from_cache and student.role == lm_distill.ROLE
    assert student.checkpoint != expert.checkpoint and student.checkpoint.name.startswith("lm-code-selfdistill-")
    assert student.vocab.path == expert.vocab.path
    shapes = lambda run: [tuple(p.shape) for p in run.model.parameters()]
    assert shapes(student) == shapes(expert)  # the expert's architecture
    h = student.history
    assert {"kl", "loss", "dev_loss"} <= set(h.columns) and h["loss"].map(math.isfinite).all()
    assert math.isfinite(h["dev_loss"].dropna().iloc[-1])
    data = lm.load_data("code", "smoke")
    key = lm_distill.run_key(expert, data, "code", "smoke")
    assert key["teacher"] == lm.run_key(data, "code", "expert", "smoke") and key["sampling"]["top_p"] == 0.9
    again = lm_distill.trained_self_distilled_lm("code", "smoke", progress=False)
    assert again.from_cache and again.checkpoint == student.checkpoint
    assert all(torch.equal(a, b) for a, b in zip(again.model.parameters(), student.model.parameters()))
    prompts = lm_distill.teacher_prompts(student.vocab.encode_batch(data.train[:5]), "smoke")[:6]
    pairs = lm_distill.distill_pairs(expert, prompts, lm_distill.sampling_config("code", "smoke"), progress=False)
    assert all(src == [] and tgt[:len(p)] == p and len(tgt) <= student.window for (src, tgt), p in zip(pairs, prompts))
