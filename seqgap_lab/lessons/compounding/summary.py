"""Headline numbers and the generated takeaway of the error-compounding study (notebook 01).

Numbers are averaged over seeds, with the seed spread.
"""
from __future__ import annotations

import pandas as pd

from seqgap_lab.lessons.compounding.study import StudyResult


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
