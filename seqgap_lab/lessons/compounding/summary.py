"""Headline numbers and the generated takeaway of the error-compounding study (notebook 01).

Numbers are averaged over seeds, with the seed spread.
"""
from __future__ import annotations

import pandas as pd

from seqgap_lab.lessons.compounding.study import StudyResult


SLUGS = {"free-running excess (aligned)": "fr_excess",
         "error after an earlier error, position-matched (aligned)": "after_error_excess",
         "error in the 5 steps after an injected token (aligned)": "injection_excess",
         "ExAccErr (%) at the longest training length": "exaccerr_pct_at_train_length",
         "teacher-forced error past the training lengths minus before": "length_effect",
         "aligned error at the same positions, longer-than-training minus in-range examples": "matched_length_effect",
         "free-running excess, scored by position": "fr_excess_positional"}


def headline(result: StudyResult, min_count: int = 20) -> dict:
    """Headline numbers per task/model (seed-averaged, with the seed spread), for summary.json: error at the
    last in-range position (aligned and, for contrast, positional) and each verdict of evidence.evidence."""
    out = {}
    for (task, kind), pp in result.per_position.groupby(["task", "model"], sort=False):
        pp = pp[pp["count"] >= min_count]
        wide = pp.pivot_table(index=["examples", "position"], columns="mode", values="error_rate")
        row = {"train_positions": result.train_positions[task]}
        if "within training lengths" in wide.index.get_level_values(0):
            within = wide.loc["within training lengths"]
            # The last target token of the longest in-range examples (the position after it is <eos>).
            pos = max(within.index[within.index < result.train_positions[task]], default=within.index.max())
            row.update(tf_error_last_in_range=within.loc[pos, "teacher-forced"],
                       fr_error_last_in_range=within.loc[pos, "free-running"],
                       fr_error_positional_last_in_range=within.loc[pos, "free-running, scored by position"],
                       last_in_range_position=int(pos))
        row.update(_exaccerr_head(result.exaccerr, task, kind, min_count))
        row.update(_injection_head(result.injection, task, kind))
        ev = result.evidence[(result.evidence["task"] == task) & (result.evidence["model"] == kind)]
        for _, e in ev.iterrows():
            slug = SLUGS[e["measure"]]
            row.update({slug: e["estimate"], f"{slug}_ci": [e["ci_low"], e["ci_high"]], f"{slug}_verdict": e["verdict"]})
        out[f"{task}/{kind}"] = {k: (v if isinstance(v, (str, list)) else float(v)) for k, v in row.items()}
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


def takeaway(head: dict, seeds: list[int]) -> str:
    """The notebook's takeaway as Markdown, every number read from `head` (see headline())."""
    lines = [f"Measured with seed(s) {seeds}" + (" (± is the spread over seeds; intervals pool the seeds)."
                                                 if len(seeds) > 1 else
                                                 " (one seed: run the `full` profile for the spread over seeds)."),
             "Intervals are 95% paired-bootstrap intervals over test examples.",
             ""]
    for name, h in head.items():
        parts = [f"**{name}**:"]
        if "fr_error_last_in_range" in h:
            parts.append(f"at position {h['last_in_range_position']:.0f} of in-range examples the aligned free-running "
                         f"error is {h['fr_error_last_in_range']:.3f} vs {h['tf_error_last_in_range']:.3f} teacher-forced "
                         f"(scored by position it would read {h['fr_error_positional_last_in_range']:.3f});")
        parts.append(_claim(h, "fr_excess", "free-running excess within the training lengths"))
        parts.append(_claim(h, "after_error_excess", "extra error after an earlier error, position-matched"))
        if "injection_excess" in h:
            parts.append(_claim(h, "injection_excess", "extra error in the 5 steps after an injected token"))
        if "exaccerr_pct_at_train_length" in h:
            parts.append(_claim(h, "exaccerr_pct_at_train_length", "ExAccErr (%) at the longest training length"))
        parts.append(_claim(h, "length_effect", "teacher-forced error past the training lengths minus before them"))
        parts.append(_claim(h, "matched_length_effect", "aligned error of longer-than-training examples minus in-range "
                                                        "ones at the same positions"))
        lines.append("- " + " ".join(parts))
    return "\n".join(lines)


def _claim(h: dict, slug: str, label: str) -> str:
    """'label est [lo, hi]: verdict;' from a headline row."""
    est, (lo, hi) = h[slug], h[f"{slug}_ci"]
    if est != est:
        return f"{label}: {h[f'{slug}_verdict']};"
    return f"{label} {est:.3f} [{lo:.3f}, {hi:.3f}]: *{h[f'{slug}_verdict']}*;"
