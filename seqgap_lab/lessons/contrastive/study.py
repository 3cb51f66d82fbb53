"""The contrastive-decoding study (notebook 07): greedy, beam, top-p and contrastive decoding of held-out
prompts (zoo/lms.py eval_prompts) by the prose and code LMs at several generation budgets L (max_len, LM tokens; each
(decoding, L) its own run), measured as repetition, diversity, coherent length, expert NLL, code parse rate.

Prompts have at most window - max(L) tokens, so prompt + continuation stays in the LM's training window (a
seed-0 subset). "reference" rows are the human continuation cut at the same L tokens. Coherent length (a proxy,
defined here): the longest prefix of a continuation, in whitespace words, in which no word 4-gram occurs
twice, i.e. where the first verbatim loop begins. Length ratio: generated words / reference words at the same
budget. expert_nll: -log P_expert per generated token. Generations are cached as JSON in data/generations/
(atomic, keyed by the checkpoints' sha256 and every setting), so reruns and the explorer are instant.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqgap_lab.core.config import ConfigError, DecodeConfig, check_choice, check_profile
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.lessons.generation import (
    CONTRASTIVE,
    DECODINGS,
    REFERENCE,
    LMPair,
    cached_rows,
    generation_rows,
    group_metrics,
    pair_key,
    reference_ids,
)
from seqgap_lab.zoo import lms as lm

# lengths: generation budgets (LM tokens) per corpus; prompts keep <= window - the longest. Code gets shorter
# budgets: its 4-line prompts are long in tokens (indentation), and with prompts <= 32 tokens (window 128 - 96)
# only tiny functions fit (median reference 13 tokens, measured); <= 64 keeps 483 of 583 (median 45 tokens).
# grid: the explorer's (w, a, tau) values, decoded at the longest budget on the first grid_prompts prompts.
PROFILES = {
    "smoke": dict(lengths={"prose": (8, 16), "code": (8, 16)}, num_prompts=6, top_p_seeds=2,
                  grid_prompts=3, weights=(0.0, 1.0), plausibilities=(0.0, 0.1), temperatures=(1.0,)),
    "default": dict(lengths={"prose": (32, 64, 96), "code": (16, 32, 64)}, num_prompts=100, top_p_seeds=3,
                    grid_prompts=16, weights=(0.0, 0.25, 0.5, 1.0, 2.0), plausibilities=(0.0, 0.05, 0.1, 0.3),
                    temperatures=(0.5, 1.0, 2.0)),
    "full": dict(lengths={"prose": (64, 128, 192), "code": (32, 64, 128)}, num_prompts=300, top_p_seeds=5,
                 grid_prompts=40, weights=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0),
                 plausibilities=(0.0, 0.05, 0.1, 0.3, 0.5), temperatures=(0.5, 1.0, 2.0)),
}


@dataclass
class ContrastiveTables:
    """Per-generation rows, the tidy metric table, the LM pairs (kept for the explorer) and run facts."""

    generations: pd.DataFrame
    metrics: pd.DataFrame
    pairs: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def load_pair(corpus: str, profile: str, seed: int = 0, device=None, num_prompts: int = 0,
              progress: bool = False) -> LMPair:
    """Both LMs of a corpus (cached or trained) and its seeded held-out prompts that fit the budget."""
    check_choice("contrastive_study", "corpus", corpus, lm.LM_CORPORA)
    spec = PROFILES[check_profile(profile)]
    expert = lm.trained_lm(corpus, "expert", profile, seed, device, progress)
    amateur = lm.trained_lm(corpus, "amateur", profile, seed, device, progress)
    budget = expert.window - max(spec["lengths"][corpus])
    found = lm.eval_prompts(corpus)
    sizes = [len(ids) for ids in expert.vocab.encode_batch([p.prompt for p in found])]
    fit = [p for p, n in zip(found, sizes) if 0 < n <= budget]
    num = num_prompts or spec["num_prompts"]
    if len(fit) < min(num, 2):
        raise ConfigError(f"contrastive_study.num_prompts = {num} is not allowed: only {len(fit)} {corpus} "
                          f"prompts have <= {budget} tokens (window {expert.window} - longest budget)")
    if num < len(fit):
        fit = [fit[i] for i in sorted(np.random.default_rng(0).choice(len(fit), num, replace=False))]
    return LMPair(corpus, expert, amateur, fit, expert.vocab.encode_batch([p.prompt for p in fit]))


def decode_runs(pair: LMPair, lengths, seeds) -> list[dict]:
    """Every decoding x budget (x top-p seed), plus the reference cut at each budget, as rows."""
    rows, refs = [], reference_ids(pair)
    amateur = pair.amateur.model
    for max_len in lengths:
        rows += generation_rows(pair, [r[:max_len] for r in refs], {"decoding": REFERENCE, "seed": 0}, max_len)
        for label, knobs in DECODINGS.items():
            for seed in (seeds if knobs["method"] == "sample" else (0,)):
                config = DecodeConfig(max_len=max_len, seed=seed, **knobs)
                start = time.perf_counter()
                outs = decode_sequences(pair.expert.model, pair.prompt_ids, config,
                                        amateur=amateur if knobs["method"] == "contrastive" else None)
                tag = {"decoding": label, "seed": seed, "decode_seconds": time.perf_counter() - start}
                rows += generation_rows(pair, outs, tag, max_len)
    return rows


def run_study(profile: str, corpora=lm.LM_CORPORA, seed: int = 0, device=None, top_p_seeds: int = 0,
              num_prompts: int = 0, progress: bool = False) -> ContrastiveTables:
    """Decode (or load from the cache) every corpus's study; metrics computed from the generation rows."""
    spec = PROFILES[check_profile(profile)]
    seeds = [seed + i for i in range(top_p_seeds or spec["top_p_seeds"])]
    gens, pairs, info = [], {}, {"seeds": seeds, "lengths": {}, "corpora": {}}
    for corpus in corpora:
        start = time.perf_counter()
        pair = pairs[corpus] = load_pair(corpus, profile, seed, device, num_prompts, progress)
        lengths = info["lengths"][corpus] = list(spec["lengths"][corpus])
        key = dict(pair_key(pair), lengths=lengths, seeds=seeds, decodings=DECODINGS)
        rows, hit = cached_rows(f"07-{corpus}-study", key, lambda: decode_runs(pair, lengths, seeds))
        gens.append(pd.DataFrame(rows).assign(corpus=corpus))
        info["corpora"][corpus] = {"num_prompts": len(pair.prompts), "window": pair.expert.window,
                                   "max_prompt_tokens": max(map(len, pair.prompt_ids)), "from_cache": hit,
                                   "seconds": round(time.perf_counter() - start, 1)}
    generations = pd.concat(gens, ignore_index=True)
    return ContrastiveTables(generations, metrics_table(generations), pairs, info)


def metrics_table(generations: pd.DataFrame) -> pd.DataFrame:
    """Tidy metrics: one row per (corpus, decoding, seed, max_len, metric); length ratio vs the cut reference."""
    out = []
    for (corpus, decoding, seed, max_len), rows in generations.groupby(["corpus", "decoding", "seed", "max_len"],
                                                                       sort=False):
        rows = rows.sort_values("prompt_index")
        refs = generations[(generations["corpus"] == corpus) & (generations["decoding"] == REFERENCE)
                           & (generations["max_len"] == max_len)].sort_values("prompt_index")
        tag = {"corpus": corpus, "decoding": decoding, "seed": int(seed), "max_len": int(max_len)}
        out += [dict(tag, metric=k, value=v) for k, v in group_metrics(rows, refs).items()]
    return pd.DataFrame(out)


def grid_runs(pair: LMPair, max_len: int, weights, plausibilities, temperatures, num_prompts: int) -> list[dict]:
    """li2022 contrastive greedy on the first num_prompts prompts for every (w, a, tau) of the grid."""
    sub = dataclasses.replace(pair, prompts=pair.prompts[:num_prompts], prompt_ids=pair.prompt_ids[:num_prompts])
    rows = []
    for w in weights:
        for a in plausibilities:
            for tau in temperatures:
                config = DecodeConfig(method="contrastive", max_len=max_len, contrastive_weight=w, plausibility=a,
                                      amateur_temperature=tau)
                outs = decode_sequences(sub.expert.model, sub.prompt_ids, config, amateur=sub.amateur.model)
                tag = {"decoding": CONTRASTIVE, "seed": 0, "weight": w, "plausibility": a, "amateur_temperature": tau}
                rows += [dict(r, prompt=p.prompt, source=p.source)
                         for r, p in zip(generation_rows(sub, outs, tag, max_len), sub.prompts)]
    return rows


def explorer_grid(pairs: dict, profile: str) -> pd.DataFrame:
    """The (w, a, tau) grid of every corpus at the profile's longest budget, decoded or read from the cache."""
    spec = PROFILES[check_profile(profile)]
    knobs, frames = ("weights", "plausibilities", "temperatures", "grid_prompts"), []
    for corpus, pair in pairs.items():
        max_len = max(spec["lengths"][corpus])
        key = dict(pair_key(pair), max_len=max_len, **{k: spec[k] for k in knobs})
        rows, _ = cached_rows(f"07-{corpus}-grid", key, lambda: grid_runs(
            pair, max_len, spec["weights"], spec["plausibilities"], spec["temperatures"], spec["grid_prompts"]))
        frames.append(pd.DataFrame(rows).assign(corpus=corpus))
    return pd.concat(frames, ignore_index=True)
