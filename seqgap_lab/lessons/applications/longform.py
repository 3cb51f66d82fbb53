"""Long-form text (notebook 10): continue held-out WEB passages with the prose LM and measure repetition (rep-2,
rep-4), diversity and drift from the prompt's topic as the generation grows, per decoding and training strategy
(teacher-forced expert vs self-distilled student; runs.py has the grid).

Prompts: passages of the prose TEST split (never trained on): the first PROMPT_WORDS words; the reference is
the rest of the passage (cut at each budget, in LM tokens, like the generations). Kept when the prompt's
tokens + the largest budget fit the LM window and the passage has at least one drift window after the prompt.

Topic drift (metrics.topic_drift): the TF-IDF cosine similarity (content words, stopwords removed, IDF from the
prose LM's training passages) between the prompt and each successive window of W whitespace words of the
continuation (full windows only). Per generation: topic_sim_first (window 0), topic_sim_last (its last full
window); the drift curve = the mean similarity per window index at the longest budget. The human reference
cut at the same budget is the baseline: a decoding drifts more than human text when its last-window
similarity is lower than the reference's, paired over prompts (generation.paired_comparison: a bootstrap interval
and p-value for the mean per-prompt difference).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from seqgap_lab.core.config import check_int, check_profile
from seqgap_lab.data.text import corpora
from seqgap_lab.lessons import generation
from seqgap_lab.lessons.applications import runs as app_runs
from seqgap_lab.metrics.topic_drift import TopicVectors
from seqgap_lab.zoo import lms as lm

PROMPT_WORDS = 24
# budgets: generation lengths in LM tokens; window_words: W of the drift windows (~0.75 words per token, so
# the default's 96 tokens give ~4 windows of 16 words).
PROFILES = {
    "smoke": dict(budgets=(8, 16), num_prompts=4, top_p_seeds=1, window_words=4),
    "default": dict(budgets=(32, 64, 96), num_prompts=100, top_p_seeds=2, window_words=16),
    "full": dict(budgets=(64, 128, 192), num_prompts=300, top_p_seeds=3, window_words=24),
}
MIN_WINDOW_SHARE = 0.5  # drift curves: keep a window reached by at least this share of the generations
CELL_METRICS = ("rep_2", "rep_4", "diversity", "topic_sim_first", "topic_sim_last", "windowed_share",
                "empty_share", "coherent_words", "mean_length")


def passage_prompts(passages: list[str], refs: list[str], prompt_words: int = PROMPT_WORDS,
                    min_rest: int = 1) -> list[lm.EvalPrompt]:
    """EvalPrompt(first prompt_words words, the rest of the passage, its first verse) for passages long enough."""
    out = []
    for text, ref in zip(passages, refs):
        words = text.split()
        if len(words) >= prompt_words + min_rest:
            out.append(lm.EvalPrompt(" ".join(words[:prompt_words]), " ".join(words[prompt_words:]), ref))
    return out


def load_pair(profile: str, models: dict, seed: int = 0, device=None, num_prompts: int = 0,
              budgets=None, progress: bool = False) -> generation.LMPair:
    """The TF expert, the amateur and the seeded test prompts whose tokens + max(budgets) fit the window."""
    spec = PROFILES[check_profile(profile)]
    expert = models["TF"]
    budgets = app_runs.check_budgets("app_longform", list(budgets or spec["budgets"]), expert.window)
    num = num_prompts or spec["num_prompts"]
    check_int("app_longform", "num_prompts", num, 1)
    amateur = lm.trained_lm("prose", "amateur", profile, seed, device, progress)
    found = passage_prompts(corpora.load_prose("test"), corpora.load_refs("prose", "test"),
                            min_rest=spec["window_words"])
    return app_runs.fitting_pair("app_longform", "prose", expert, amateur, found, budgets, num, "passages")


def add_drift(generations: pd.DataFrame, prompts: list[str], topics: TopicVectors, window: int) -> pd.DataFrame:
    """The generations with topic_sims (per full window), topic_sim_first / _last (NaN without a window)."""
    sims = [topics.window_similarities(prompts[i], text, window)
            for i, text in zip(generations["prompt_index"], generations["completion"])]
    return generations.assign(topic_sims=sims, num_windows=[len(s) for s in sims],
                              topic_sim_first=[s[0] if s else np.nan for s in sims],
                              topic_sim_last=[s[-1] if s else np.nan for s in sims])


def drift_table(generations: pd.DataFrame) -> pd.DataFrame:
    """Long format: one row per (strategy, decoding, seed, max_len, prompt_index, window) with its similarity."""
    cols = [*app_runs.KEYS, "prompt_index"]
    long = generations[[*cols, "topic_sims"]].explode("topic_sims").dropna(subset=["topic_sims"])
    long = long.rename(columns={"topic_sims": "similarity"})
    long["window"] = long.groupby([*cols]).cumcount()
    long["similarity"] = long["similarity"].astype(float)
    return long.reset_index(drop=True)


def drift_metrics(generations: pd.DataFrame) -> pd.DataFrame:
    """Tidy rows of the drift numbers per (strategy, decoding, seed, max_len): first/last window similarity
    (mean over generations with a full window) and the share of generations that have one."""
    out = []
    for keys, rows in generations.groupby(app_runs.KEYS, sort=False):
        tag = dict(zip(app_runs.KEYS, keys))
        tag["seed"], tag["max_len"] = int(tag["seed"]), int(tag["max_len"])
        values = {"topic_sim_first": rows["topic_sim_first"].mean(), "topic_sim_last": rows["topic_sim_last"].mean(),
                  "windowed_share": (rows["num_windows"] > 0).mean()}
        out += [dict(tag, metric=k, value=float(v)) for k, v in values.items()]
    return pd.DataFrame(out)


def run_study(profile: str = "default", seed: int = 0, device=None, num_prompts: int = 0, budgets=None,
              top_p_seeds: int = 0, progress: bool = False) -> app_runs.AppRun:
    """Decode (or load from the cache) the prose grid; rows with drift columns, metrics, and info['drift']."""
    spec = PROFILES[check_profile(profile)]
    start = time.perf_counter()
    models = app_runs.strategy_models("prose", profile, seed, device, progress)
    pair = load_pair(profile, models, seed, device, num_prompts, budgets, progress)
    budgets = sorted(set(budgets or spec["budgets"]))
    seeds = [seed + i for i in range(top_p_seeds or spec["top_p_seeds"])]
    gens, hit = app_runs.run_grid(f"10-prose-{profile}", pair, models, budgets, seeds)
    topics = TopicVectors(lm.load_data("prose", profile).train)
    gens = add_drift(gens, [p.prompt for p in pair.prompts], topics, spec["window_words"])
    metrics = pd.concat([app_runs.metrics_table(gens), drift_metrics(gens)], ignore_index=True)
    info = {"profile": profile, "budgets": budgets, "seeds": seeds, "num_prompts": len(pair.prompts),
            "window": pair.expert.window, "window_words": spec["window_words"], "from_cache": hit,
            "drift": drift_table(gens), "seconds": round(time.perf_counter() - start, 1)}
    return app_runs.AppRun(gens, metrics, {**models, "amateur": pair.amateur}, info)


def curve_table(drift: pd.DataFrame, max_len: int | None = None, min_share: float = MIN_WINDOW_SHARE) -> pd.DataFrame:
    """Mean similarity and n per (strategy, decoding, window) at one budget (default the longest); a window is
    kept while at least min_share of the generations that have window 0 reach it (late windows are rare)."""
    max_len = max_len or int(drift["max_len"].max())
    part = drift[drift["max_len"] == max_len]
    table = part.groupby(["strategy", "decoding", "window"], sort=False)["similarity"].agg(["mean", "size"])
    table = table.rename(columns={"mean": "similarity", "size": "n"}).reset_index()
    first = table[table["window"] == 0].set_index(["strategy", "decoding"])["n"]
    base = table.set_index(["strategy", "decoding"]).index.map(first)
    return table[table["n"].to_numpy() >= min_share * base.to_numpy()].assign(max_len=max_len).reset_index(drop=True)


def drift_curves(drift: pd.DataFrame, max_len: int) -> dict:
    """strategy -> decoding -> {str(window): mean similarity} at one budget (curve_table's windows)."""
    out: dict = {}
    for row in curve_table(drift, max_len).itertuples():
        out.setdefault(row.strategy, {}).setdefault(row.decoding, {})[str(int(row.window))] = float(row.similarity)
    return app_runs.ordered(out)


def headline(run: app_runs.AppRun) -> dict:
    """Repetition, diversity and topic similarity per strategy x decoding at the longest budget, rep-4 and drift
    curves, self-distilled minus TF per decoding and each decoding minus the reference (paired over prompts)."""
    m, g, info = run.metrics, run.generations, run.info
    longest = int(m["max_len"].max())
    cells = app_runs.cell_stats(m, longest, CELL_METRICS)
    ref = (app_runs.REFERENCE, app_runs.REFERENCE)
    effects, vs_ref = {}, {}
    for decoding in app_runs.DECODINGS:
        a, b = (app_runs.DISTILLED, decoding), ("TF", decoding)
        effects[decoding] = {c: app_runs.paired(g, a, b, longest, c) for c in ("rep_4", "topic_sim_last")}
        for strategy in app_runs.STRATEGIES:
            vs_ref.setdefault(strategy, {})[decoding] = app_runs.paired(g, (strategy, decoding), ref, longest,
                                                                        "topic_sim_last", better=None)
    return {"profile": info.get("profile"), "budgets": info.get("budgets"), "seeds": info.get("seeds"),
            "num_prompts": info.get("num_prompts"), "window_words": info.get("window_words"), "longest": longest,
            "reference": cells.pop(app_runs.REFERENCE, {}).get(app_runs.REFERENCE, {}), "cells": cells,
            "rep_4_curves": app_runs.curves(m, "rep_4"), "drift_curves": drift_curves(info["drift"], longest),
            "distill_effect": effects, "vs_reference": vs_ref}


def takeaway(head: dict) -> str:
    """The long-form study's takeaway as Markdown, every number read from `head` (see headline())."""
    L, ref, W = head["longest"], head["reference"], head["window_words"]
    lines = [f"Long-form prose, profile `{head['profile']}`: {head['num_prompts']} test passages continued from their "
             f"first {PROMPT_WORDS} words, budgets {head['budgets']} LM tokens, top-p seeds {head['seeds']} (mean ± "
             f"sd over seeds). Topic similarity = TF-IDF cosine between the prompt's content words and each "
             f"{W}-word window of the continuation; drift = its fall over the windows. "
             f"{generation.PAIRED_PROMPTS_NOTE} Against the human reference the verdict says higher or lower."]
    for strategy, cells in head["cells"].items():
        lines.append(f"- **{strategy}**, {L} tokens: rep-2 {app_runs.listing(cells, 'rep_2')}; rep-4 "
                     f"{app_runs.listing(cells, 'rep_4')}; diversity {app_runs.listing(cells, 'diversity')}; topic similarity of "
                     f"the first window {app_runs.listing(cells, 'topic_sim_first')}, of the last "
                     f"{app_runs.listing(cells, 'topic_sim_last')} (over the generations with a full window; their share "
                     f"{app_runs.listing(cells, 'windowed_share')}).")
    if ref:
        lines.append(f"- Human reference at {L} tokens: rep-4 {ref['rep_4']:.3f}, diversity {ref['diversity']:.3f}, "
                     f"topic similarity first {ref['topic_sim_first']:.3f} -> last {ref['topic_sim_last']:.3f}.")
    for strategy, by_decoding in head["vs_reference"].items():
        said = "; ".join(f"{d} {app_runs.compare(e)}" for d, e in by_decoding.items())
        lines.append(f"- {strategy}, last-window topic similarity minus the human reference's: {said}.")
    for col, name in (("rep_4", "rep-4"), ("topic_sim_last", "last-window topic similarity")):
        said = "; ".join(f"{d} {app_runs.compare(e[col])}" for d, e in head["distill_effect"].items())
        lines.append(f"- Self-distillation vs TF at {L} tokens, {name} per prompt: {said}.")
    return "\n".join(lines)
