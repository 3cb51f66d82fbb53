"""The decoding grid shared by notebook 10's LM studies: training strategy x decoding x budget on fixed prompts.

Strategies: "TF" = the teacher-forced expert LM (zoo/lms.py), "self-distilled" = zoo/lms_distilled.py's student of the
same architecture. Decodings: greedy, beam-5, top-p 0.9 (several seeds) and contrastive li2022 against the
corpus's amateur, with the knobs of notebook 07 (generation.DECODINGS). Budgets = max_len in LM tokens.

Greedy, top-p sampling and contrastive greedy search are prefix-consistent: step t depends only on the prompt
and the first t-1 tokens (and for sampling on the seeded generator, drawn once per step for the batch; the
sampler decodes all prompts in one batch for that), never on max_len, so the run at a shorter budget is the
run at the longest budget cut there (a test checks this). They are decoded once at the longest budget and
cut; beam search is not (its best hypothesis depends on max_len) and is decoded at every budget.
Rows are generation.generation_rows with the strategy added; expert_nll is always scored by the TF
expert (one yardstick for both strategies). "reference" rows are the human continuation cut at the same
budget (strategy and decoding both "reference").
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqgap_lab.core.config import ConfigError, DecodeConfig, check_int
from seqgap_lab.core.stats import sentence
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.lessons import generation
from seqgap_lab.zoo import lms as lm
from seqgap_lab.zoo import lms_distilled as lm_distill

DISTILLED = lm_distill.ROLE
STRATEGIES = ("TF", DISTILLED)
DECODINGS = {label: generation.DECODINGS[label] for label in ("greedy", "beam-5", generation.SAMPLED, generation.CONTRASTIVE)}
REFERENCE = generation.REFERENCE
KEYS = ["strategy", "decoding", "seed", "max_len"]


@dataclass
class AppRun:
    """Per-generation rows of one study, its tidy metric table, the LMs and the run facts."""

    generations: pd.DataFrame
    metrics: pd.DataFrame
    models: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def check_budgets(owner: str, budgets, window: int, prompt_tokens: int = 1) -> list[int]:
    """Budgets as a sorted list of distinct ints in [1, window - prompt_tokens]; else a ConfigError naming it."""
    budgets = sorted(set(budgets)) if not isinstance(budgets, (str, int)) else budgets
    if not isinstance(budgets, list) or not budgets:
        raise ConfigError(f"{owner}.budgets = {budgets!r} is not allowed: expected a non-empty list of ints")
    for b in budgets:
        check_int(owner, "budgets", b, 1, window - prompt_tokens)
    return budgets


def strategy_models(corpus: str, profile: str, seed: int = 0, device=None, progress: bool = False) -> dict:
    """strategy -> LMRun: the TF expert and the self-distilled student of a corpus (cached or trained)."""
    return {"TF": lm.trained_lm(corpus, "expert", profile, seed, device, progress),
            DISTILLED: lm_distill.trained_self_distilled_lm(corpus, profile, seed, device, progress)}


def subset(items: list, num: int, seed: int = 0) -> list:
    """A seeded subset of num items in their original order (all of them when num >= len)."""
    if num >= len(items):
        return list(items)
    return [items[i] for i in sorted(np.random.default_rng(seed).choice(len(items), num, replace=False))]


def fitting_pair(owner: str, corpus: str, expert: lm.LMRun, amateur: lm.LMRun, found: list, budgets: list[int],
                 num: int, what: str) -> generation.LMPair:
    """The pair with a seeded subset of `num` prompts whose tokens + the longest budget fit the LM window."""
    room = expert.window - max(budgets)
    sizes = [len(ids) for ids in expert.vocab.encode_batch([p.prompt for p in found])]
    fit = [p for p, n in zip(found, sizes) if 0 < n <= room]
    if len(fit) < min(num, 2):
        raise ConfigError(f"{owner}.num_prompts = {num} is not allowed: only {len(fit)} test {what} have <= {room} "
                          "prompt tokens (window - longest budget)")
    fit = subset(fit, num, seed=0)
    return generation.LMPair(corpus, expert, amateur, fit, expert.vocab.encode_batch([p.prompt for p in fit]))


def grid_key(pair: generation.LMPair, models: dict, budgets: list[int], seeds: list[int]) -> dict:
    """What identifies a grid's generations: every checkpoint's bytes, the prompts, budgets, seeds, decodings."""
    sha = lambda run: hashlib.sha256(run.checkpoint.read_bytes()).hexdigest()
    return dict(generation.pair_key(pair), models={s: sha(run) for s, run in models.items()}, budgets=budgets,
                seeds=seeds, decodings=DECODINGS)


def decode_config(label: str, max_len: int, seed: int, num_prompts: int) -> DecodeConfig:
    """The DecodeConfig of one grid cell (DECODINGS[label] at a budget and seed)."""
    knobs = DECODINGS[label]
    # one batch for the sampler: decode_nbest shares one generator across batches, so with several batches a
    # longer budget would shift the later batches' draws and break prefix consistency
    batch = {"batch_size": max(1, num_prompts)} if knobs["method"] == "sample" else {}
    return DecodeConfig(max_len=max_len, seed=seed, **batch, **knobs)


def _decode(run: lm.LMRun, pair: generation.LMPair, label: str, max_len: int, seed: int) -> tuple[list, float]:
    config = decode_config(label, max_len, seed, len(pair.prompt_ids))
    amateur = pair.amateur.model if config.method == "contrastive" else None
    start = time.perf_counter()
    outs = decode_sequences(run.model, pair.prompt_ids, config, amateur=amateur)
    return outs, time.perf_counter() - start


def decode_grid(pair: generation.LMPair, models: dict, budgets: list[int], seeds: list[int]) -> list[dict]:
    """Rows for the reference and every strategy x decoding (x top-p seed) x budget (see the module doc)."""
    rows, refs = [], generation.reference_ids(pair)
    for max_len in budgets:
        tag = {"strategy": REFERENCE, "decoding": REFERENCE, "seed": 0}
        rows += generation.generation_rows(pair, [r[:max_len] for r in refs], tag, max_len)
    for strategy, run in models.items():
        for label, knobs in DECODINGS.items():
            for seed in (seeds if knobs["method"] == "sample" else (0,)):
                runs = budgets if knobs["method"] == "beam" else [max(budgets)]
                for max_len in runs:
                    outs, seconds = _decode(run, pair, label, max_len, seed)
                    tag = {"strategy": strategy, "decoding": label, "seed": seed, "decode_seconds": seconds}
                    for cut in ([max_len] if knobs["method"] == "beam" else budgets):  # cut the longest run
                        rows += generation.generation_rows(pair, [o[:cut] for o in outs], tag, cut)
    return rows


def metrics_table(generations: pd.DataFrame) -> pd.DataFrame:
    """Tidy metrics, one row per (strategy, decoding, seed, max_len, metric), via generation.group_metrics."""
    out = []
    refs_at = {L: g.sort_values("prompt_index") for L, g in
               generations[generations["decoding"] == REFERENCE].groupby("max_len")}
    for keys, rows in generations.groupby(KEYS, sort=False):
        tag = dict(zip(KEYS, keys))
        tag["seed"], tag["max_len"] = int(tag["seed"]), int(tag["max_len"])
        row = generation.group_metrics(rows.sort_values("prompt_index"), refs_at.get(tag["max_len"]))
        out += [dict(tag, metric=k, value=v) for k, v in row.items()]
    return pd.DataFrame(out)


def per_prompt(generations: pd.DataFrame, strategy: str, decoding: str, max_len: int, column: str) -> pd.Series:
    """A per-generation column per prompt (mean over top-p seeds), indexed by prompt_index."""
    g = generations[(generations["strategy"] == strategy) & (generations["decoding"] == decoding)
                    & (generations["max_len"] == max_len)]
    return g.groupby("prompt_index")[column].apply(lambda s: s.astype(float).mean())


# Which way each compared per-generation column is better (generation.paired_comparison's `better`).
BETTER = {"rep_4": "lower", "parses": "higher", "parses_checked": "higher", "topic_sim_last": "higher"}


def paired(generations: pd.DataFrame, a: tuple, b: tuple, max_len: int, column: str,
           better: str | None = "auto") -> dict:
    """a - b over the same prompts (a and b are (strategy, decoding) pairs): mean, standard error, n and the
    paired comparison (generation.paired_comparison; better 'auto' = BETTER[column], None = higher / lower)."""
    diff = (per_prompt(generations, *a, max_len, column) - per_prompt(generations, *b, max_len, column)).dropna()
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    way = BETTER.get(column) if better == "auto" else better
    return {"diff": float(diff.mean()) if len(diff) else float("nan"), "se": se, "n": int(len(diff)),
            "comparison": generation.paired_comparison(diff.to_numpy(), way)}


def cell_stats(metrics: pd.DataFrame, max_len: int, keys) -> dict:
    """strategy -> decoding -> {metric: mean over seeds, metric_sd: sd over top-p seeds} at one budget."""
    at = metrics[metrics["max_len"] == max_len]
    out: dict = {}
    for (strategy, decoding), part in at.groupby(["strategy", "decoding"], sort=False):
        by = part[part["metric"].isin(keys)].groupby("metric")["value"]
        row = by.mean().to_dict()
        if part["seed"].nunique() > 1:
            row.update({f"{k}_sd": v for k, v in by.std(ddof=1).items()})
        out.setdefault(strategy, {})[decoding] = row
    return ordered(out)


def curves(metrics: pd.DataFrame, metric: str) -> dict:
    """strategy -> decoding -> {str(budget): value (mean over seeds)} of one metric."""
    part = metrics[metrics["metric"] == metric].groupby(["strategy", "decoding", "max_len"])["value"].mean()
    out: dict = {}
    for (strategy, decoding, max_len), v in part.items():
        out.setdefault(strategy, {}).setdefault(decoding, {})[str(int(max_len))] = float(v)
    return ordered(out)


def ordered(table: dict) -> dict:
    """strategy -> decoding -> ... dicts re-keyed in the study's order (STRATEGIES, DECODINGS, reference last)."""
    rank = {k: i for i, k in enumerate((*STRATEGIES, *DECODINGS, REFERENCE))}
    sort = lambda d: dict(sorted(d.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    return sort({s: sort(d) for s, d in table.items()})


def listing(cells: dict, key: str) -> str:
    """'decoding value[ ± sd]; ...' for one strategy (NaN, or None as read back from summary.json, left out)."""
    out = []
    for label, r in cells.items():
        value = r.get(key)
        if value is not None and value == value:
            sd = r.get(f"{key}_sd")
            out.append(f"{label} {value:.3f}" + (f" ± {sd:.3f}" if sd is not None and sd == sd else ""))
    return "; ".join(out)


def compare(effect: dict) -> str:
    """The verdict sentence of a `paired` effect (core/stats.Comparison.sentence), or 'could not be compared'."""
    return sentence(effect.get("comparison"))


def run_grid(name: str, pair: generation.LMPair, models: dict, budgets: list[int],
             seeds: list[int]) -> tuple[pd.DataFrame, bool]:
    """Decode (or load from data/generations/) the grid; per-generation rows as a DataFrame and the cache hit."""
    rows, hit = generation.cached_rows(name, grid_key(pair, models, budgets, seeds),
                               lambda: decode_grid(pair, models, budgets, seeds))
    return pd.DataFrame(rows), hit
