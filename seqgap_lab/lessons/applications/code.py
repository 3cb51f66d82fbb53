"""Code generation (notebook 10): complete standard-library functions from their signature and docstring with the
code LM, and measure how often prompt + completion still parses as the completion grows, per decoding and
training strategy (teacher-forced expert vs self-distilled student; runs.py has the grid).

Prompt extraction rule (split_function): a function of the code corpus's TEST split (never trained on) that
parses on its own, whose first statement is a string literal (the docstring) starting on a line of its own
after the `def` line(s), and with at least one statement after it. prompt = every line up to and including
the docstring's last line (decorators, the possibly multi-line signature, the docstring); reference = the
remaining lines (the body to complete). Functions without a docstring, with the docstring on the def line,
or with nothing after it are skipped. A prompt is kept when its tokens + the largest budget fit the LM window.

Parse check: metrics.generation.parses on prompt + completion, as notebook 07: the cut last line is dropped
and an unfinished block or bracket counts as valid. A completion without a newline is judged by the prompt
alone (which parses): `unchecked_share` counts those and `parse_rate_checked` is the rate over the others.
"""
from __future__ import annotations

import ast
import time
from dataclasses import dataclass

import pandas as pd

from seqgap_lab.core.config import check_int, check_profile
from seqgap_lab.data.text import corpora
from seqgap_lab.lessons import generation
from seqgap_lab.lessons.applications import runs as app_runs
from seqgap_lab.zoo import lms as lm

# budgets: completion lengths in LM tokens (max_len); prompts have <= window - max(budgets) tokens.
# default: 100 prompts of the 187 test functions with a docstring that fit (window 128, budget 64).
PROFILES = {
    "smoke": dict(budgets=(8, 16), num_prompts=4, top_p_seeds=1),
    "default": dict(budgets=(16, 32, 64), num_prompts=100, top_p_seeds=2),
    "full": dict(budgets=(32, 64, 128), num_prompts=300, top_p_seeds=3),
}
CELL_METRICS = ("parse_rate", "parse_rate_checked", "unchecked_share", "empty_share", "rep_4", "coherent_words",
                "expert_nll")


@dataclass(frozen=True)
class FunctionParts:
    """A function's source cut into signature (decorators and def lines), docstring lines and the body after it."""

    signature: str
    docstring: str
    body: str


def _docstring_node(node) -> ast.Expr | None:
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def split_function(code: str) -> FunctionParts | None:
    """Cut one function's source per the module doc's rule; None when it has no usable docstring or body."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    node = tree.body[0]
    doc = _docstring_node(node)
    if doc is None or len(node.body) < 2 or node.body[1].lineno <= doc.end_lineno:
        return None
    lines = code.splitlines(keepends=True)
    if lines[doc.lineno - 1][:doc.col_offset].strip():  # the docstring shares a line with the signature
        return None
    return FunctionParts("".join(lines[:doc.lineno - 1]), "".join(lines[doc.lineno - 1:doc.end_lineno]),
                         "".join(lines[doc.end_lineno:]))


def function_prompts(functions: list[dict]) -> list[lm.EvalPrompt]:
    """EvalPrompt(signature + docstring, body, 'file:line name') for every function split_function accepts."""
    out = []
    for f in functions:
        parts = split_function(f["code"])
        if parts is not None:
            out.append(lm.EvalPrompt(parts.signature + parts.docstring, parts.body,
                                     f"{f['file']}:{f['line']} {f['name']}"))
    return out


def load_pair(profile: str, models: dict, seed: int = 0, device=None, num_prompts: int = 0,
              budgets=None, progress: bool = False) -> generation.LMPair:
    """The TF expert, the amateur and the seeded test prompts whose tokens + max(budgets) fit the window."""
    spec = PROFILES[check_profile(profile)]
    expert = models["TF"]
    budgets = app_runs.check_budgets("app_code", list(budgets or spec["budgets"]), expert.window)
    num = num_prompts or spec["num_prompts"]
    check_int("app_code", "num_prompts", num, 1)
    amateur = lm.trained_lm("code", "amateur", profile, seed, device, progress)
    found = function_prompts(corpora.load_code("test"))
    return app_runs.fitting_pair("app_code", "code", expert, amateur, found, budgets, num, "functions with a docstring")


def run_study(profile: str = "default", seed: int = 0, device=None, num_prompts: int = 0, budgets=None,
              top_p_seeds: int = 0, progress: bool = False) -> app_runs.AppRun:
    """Decode (or load from the cache) the code grid; per-generation rows and the tidy metric table."""
    spec = PROFILES[check_profile(profile)]
    start = time.perf_counter()
    models = app_runs.strategy_models("code", profile, seed, device, progress)
    pair = load_pair(profile, models, seed, device, num_prompts, budgets, progress)
    budgets = sorted(set(budgets or spec["budgets"]))
    seeds = [seed + i for i in range(top_p_seeds or spec["top_p_seeds"])]
    gens, hit = app_runs.run_grid(f"10-code-{profile}", pair, models, budgets, seeds)
    info = {"profile": profile, "budgets": budgets, "seeds": seeds, "num_prompts": len(pair.prompts),
            "window": pair.expert.window, "from_cache": hit, "seconds": round(time.perf_counter() - start, 1)}
    return app_runs.AppRun(gens, app_runs.metrics_table(gens), {**models, "amateur": pair.amateur}, info)


def headline(run: app_runs.AppRun) -> dict:
    """Parse rate, rep-4, coherent words per strategy x decoding at the longest budget, parse-rate curves, and
    self-distilled minus TF per decoding, paired over prompts (mean, se, n): parses, parses_checked (prompts
    where both completions have a complete line, the mean over top-p seeds of those that do) and rep_4."""
    m, g, info = run.metrics, run.generations, run.info
    longest = int(m["max_len"].max())
    cells = app_runs.cell_stats(m, longest, CELL_METRICS)
    # parses of the completions the check reads (a complete line), NaN for the others: pairs only those
    checked = g["completion"].str.contains("\n", regex=False)
    g = g.assign(parses_checked=g["parses"].astype(float).where(checked))
    effects = {}
    for decoding in app_runs.DECODINGS:
        a, b = (app_runs.DISTILLED, decoding), ("TF", decoding)
        effects[decoding] = {col: app_runs.paired(g, a, b, longest, col)
                             for col in ("parses", "parses_checked", "rep_4")}
    return {"profile": info.get("profile"), "budgets": info.get("budgets"), "seeds": info.get("seeds"),
            "num_prompts": info.get("num_prompts"), "longest": longest,
            "reference": cells.pop(app_runs.REFERENCE, {}).get(app_runs.REFERENCE, {}), "cells": cells,
            "parse_curves": app_runs.curves(m, "parse_rate"), "distill_effect": effects}


def takeaway(head: dict) -> str:
    """The code study's takeaway as Markdown, every number read from `head` (see headline())."""
    L, ref = head["longest"], head["reference"]
    lines = [f"Code completion, profile `{head['profile']}`: {head['num_prompts']} test functions completed from "
             f"signature + docstring, budgets {head['budgets']} LM tokens, top-p seeds {head['seeds']} (mean ± sd "
             "over seeds). Parse rate = share of prompt + completion that still parses (cut last line dropped, an "
             "unfinished block allowed). Self-distilled vs TF: "
             f"{generation.PAIRED_PROMPTS_NOTE}"]
    for strategy, cells in head["cells"].items():
        lines.append(f"- **{strategy}**, {L} tokens, parse rate: {app_runs.listing(cells, 'parse_rate')}; over completions "
                     f"with a complete line: {app_runs.listing(cells, 'parse_rate_checked')}; share without one (judged by "
                     f"the prompt alone): {app_runs.listing(cells, 'unchecked_share')}; empty (<eos> first): "
                     f"{app_runs.listing(cells, 'empty_share')}; rep-4: {app_runs.listing(cells, 'rep_4')}; coherent words: "
                     f"{app_runs.listing(cells, 'coherent_words')}.")
    if ref:
        lines.append(f"- The human body cut at {L} tokens parses at {ref['parse_rate']:.3f} "
                     f"(rep-4 {ref['rep_4']:.3f}).")
    for strategy, by_decoding in head["parse_curves"].items():
        if strategy != app_runs.REFERENCE:
            series = "; ".join(f"{d} {'/'.join(f'{v:.2f}' for v in c.values())}" for d, c in by_decoding.items())
            lines.append(f"- {strategy}, parse rate at {'/'.join(map(str, head['budgets']))} tokens: {series}.")
    parse = "; ".join(f"{d} {app_runs.compare(e['parses'])}" for d, e in head["distill_effect"].items())
    checked = "; ".join(f"{d} {app_runs.compare(e['parses_checked'])} on {e['parses_checked']['n']} prompts"
                        for d, e in head["distill_effect"].items())
    rep = "; ".join(f"{d} {app_runs.compare(e['rep_4'])}" for d, e in head["distill_effect"].items())
    lines.append(f"- Self-distillation vs TF at {L} tokens, parse rate per prompt: {parse}.")
    lines.append(f"- The same over the prompts where both completions hold a complete line (what the check reads): "
                 f"{checked}.")
    lines.append(f"- Self-distillation vs TF at {L} tokens, rep-4 per prompt: {rep}.")
    return "\n".join(lines)


def completions(run: app_runs.AppRun, prompt_index: int, max_len: int | None = None) -> pd.DataFrame:
    """One prompt's completions at a budget (default the longest), every strategy x decoding, for display."""
    g = run.generations
    max_len = max_len or int(g["max_len"].max())
    part = g[(g["prompt_index"] == prompt_index) & (g["max_len"] == max_len)]
    return part[["strategy", "decoding", "seed", "completion", "parses", "rep_4"]].reset_index(drop=True)
