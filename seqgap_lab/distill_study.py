"""The distillation study (notebook 05): students of notebook 01's teacher-forced reverse Transformer
trained with word-level KD, sequence-level KD (the teacher's beam outputs) and word-KD on the teacher's
own top-p samples, against teacher forcing on the gold data with the same steps; a student of the
teacher's own size (self-distillation) and a smaller one; greedy vs beam exact match before and after
(Kim & Rush 2016 report that seq-KD narrows the gap).

Tables are tidy with columns size ("same" | "small"), label, decoding ("greedy" | "beam").
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqgap_lab import compounding, seeds, ss_study
from seqgap_lab.config import ConfigError, DecodeConfig, ModelConfig, check_profile
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.experiments import TrainedModel, trained_model
from seqgap_lab.seeds import seeds_note, spread_text
from seqgap_lab.stats import seeded_verdict

TASK = "reverse"
KIND = "transformer"
BEAM = 5
TF = "teacher forcing"
# Student recipes: strategy, its args, and whose targets it trains on (None = gold; else how the teacher
# decodes the training sources). "temperature" is the KD temperature T.
RECIPES = {
    TF: dict(strategy="teacher_forcing", args={}, targets=None),
    "word-KD": dict(strategy="word_kd", args={"temperature": 1.0}, targets=None),
    f"seq-KD (beam {BEAM})": dict(strategy="teacher_forcing", args={}, targets="beam"),
    "word-KD on top-p samples": dict(strategy="word_kd", args={"temperature": 2.0}, targets="top_p"),
}
SIZES = ("same", "small")


@dataclass
class DistillTables:
    """Tidy results: exact match by source length and decoding, per-position error (greedy), training facts."""

    by_length: pd.DataFrame
    per_position: pd.DataFrame
    training: pd.DataFrame
    train_positions: int
    runs: dict = field(default_factory=dict)


def student_model(profile: str, size: str) -> ModelConfig:
    """The student architecture: the teacher's own ('same', self-distillation) or half its width and depth."""
    _, teacher_cfg, _ = compounding.configs(profile, TASK, KIND, 0)
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
    return DecodeConfig(method="sample", top_p=0.9, max_len=max_len, batch_size=256, seed=seed)


def decode_test(run: TrainedModel, max_len: int) -> pd.DataFrame:
    """Greedy and beam outputs on the test split: one row per (example, decoding) with correct and src_length."""
    sources, refs = [s for s, _ in run.splits.test], [t for _, t in run.splits.test]
    rows = []
    outputs = {}
    for name, cfg in (("greedy", DecodeConfig(max_len=max_len)),
                      ("beam", DecodeConfig(method="beam", beam_size=BEAM, max_len=max_len))):
        outputs[name] = decode_sequences(run.model, sources, cfg)
        rows += [{"example": i, "decoding": name, "correct": p == t, "src_length": len(s)}
                 for i, (p, t, s) in enumerate(zip(outputs[name], refs, sources))]
    frame = pd.DataFrame(rows)
    same = [g == b for g, b in zip(outputs["greedy"], outputs["beam"])]
    return frame.assign(greedy_equals_beam=np.tile(same, 2))


def run_study(profile: str, sizes=SIZES, seed: int = 0, device=None, progress: bool = True) -> DistillTables:
    """Train (or load) the teacher and every size x recipe student; measure greedy and beam on the test split."""
    if not sizes:
        raise ConfigError("run_study needs at least one student size")
    task_cfg, teacher_cfg, train_cfg = compounding.configs(profile, TASK, KIND, seed)
    teacher = trained_model(task_cfg, teacher_cfg, train_cfg, device, progress=progress)
    limit = max(len(t) for _, t in teacher.splits.train) + 1
    max_len = task_cfg.test_max_len + 4
    parts: dict[str, list] = {"by_length": [], "per_position": [], "training": []}
    runs = {}
    for size in sizes:
        model_cfg = student_model(profile, size)
        for label, r in RECIPES.items():
            cfg = dataclasses.replace(train_cfg, strategy=r["strategy"], strategy_args=r["args"])
            targets = target_config(r["targets"], limit + 4, seed)
            uses_teacher = r["strategy"] == "word_kd" or targets is not None
            run = trained_model(task_cfg, model_cfg, cfg, device, progress=progress,
                                teacher=(teacher_cfg, train_cfg) if uses_teacher else None, targets=targets)
            runs[(size, label)] = run
            tag = {"size": size, "label": label, "params": run.model.num_parameters()}
            parts["by_length"].append(_by_length(decode_test(run, max_len), limit).assign(**tag))
            measured = ss_study.measure(run, limit)
            parts["per_position"].append(measured["per_position"].assign(**tag))
            parts["training"].append(measured["training"].assign(**tag))
    frames = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    return DistillTables(frames["by_length"], frames["per_position"], frames["training"], limit, runs)


def pool(tables: DistillTables) -> DistillTables:
    """Tables stacked over seeds (see seeds.run_seeds) averaged into one row per student, decoding and length."""
    cell = ["size", "label", "params"]
    return dataclasses.replace(
        tables, by_length=seeds.pool_frame(tables.by_length, [*cell, "decoding", "src_length", "examples"]),
        per_position=seeds.pool_frame(tables.per_position, [*cell, "examples", "position", "mode"]))


def run_seeded(profile: str, sizes=SIZES, seed_list=(0,), device=None,
               progress: bool = True) -> tuple[DistillTables, dict[int, DistillTables]]:
    """run_study once per seed (teacher and students of that seed): (pooled tables, {seed: tables})."""
    stacked, per_seed = seeds.run_seeds(lambda s: run_study(profile, sizes, s, device, progress), list(seed_list))
    return pool(stacked), per_seed


def _by_length(decoded: pd.DataFrame, train_positions: int) -> pd.DataFrame:
    decoded = decoded.assign(examples=np.where(decoded["src_length"] + 1 > train_positions, ss_study.EXAMPLES[1],
                                               ss_study.EXAMPLES[0]))
    return (decoded.groupby(["decoding", "src_length", "examples"])
            .agg(exact_match=("correct", "mean"), greedy_equals_beam=("greedy_equals_beam", "mean"),
                 count=("correct", "size")).reset_index())


def cell_numbers(tables: DistillTables, size: str, label: str) -> dict:
    """Greedy and beam exact match (all, within, beyond), their gap and agreement for one student."""
    bl = tables.by_length
    bl = bl[(bl["size"] == size) & (bl["label"] == label)]
    out = {}
    for dec in ("greedy", "beam"):
        for key, rows in (("", bl), ("_within", bl[bl["examples"] == ss_study.EXAMPLES[0]]),
                          ("_beyond", bl[bl["examples"] == ss_study.EXAMPLES[1]])):
            rows = rows[rows["decoding"] == dec]
            n = rows["count"].sum()
            out[f"{dec}_exact_match{key}"] = float((rows["exact_match"] * rows["count"]).sum() / n) if n else np.nan
    greedy = bl[bl["decoding"] == "greedy"]
    n = greedy["count"].sum()
    out["num_examples"] = float(n)
    out["beam_minus_greedy"] = out["beam_exact_match"] - out["greedy_exact_match"]
    out["greedy_equals_beam"] = float((greedy["greedy_equals_beam"] * greedy["count"]).sum() / n) if n else np.nan
    out["params"] = float(bl["params"].iloc[0]) if len(bl) else np.nan
    return out


def headline(tables: DistillTables, per_seed: dict | None = None) -> dict:
    """Per student size: every recipe's numbers (see cell_numbers); with `per_seed` ({seed: tables}, `tables`
    pooled over them) also each number's per-seed values and spread."""
    out = _headline(tables)
    if per_seed and len(per_seed) > 1:
        out = seeds.add_spread(out, [_headline(t) for t in per_seed.values()])
    return out


def _headline(tables: DistillTables) -> dict:
    out = {}
    for size in tables.by_length["size"].drop_duplicates():
        labels = tables.by_length[tables.by_length["size"] == size]["label"].drop_duplicates()
        out[size] = {label: cell_numbers(tables, size, label) for label in labels}
    return out


def takeaway(head: dict, seeds: list[int]) -> str:
    """The notebook's takeaway as Markdown, every number read from `head`."""
    lines = [seeds_note(seeds) + "; every student trains for the teacher's number of steps. A difference is "
             "called a help or a harm only beyond two binomial standard errors."]
    for size, cells in head.items():
        if TF not in cells:
            lines.append(f"- **{size}-size student**: no teacher-forcing baseline in the table.")
            continue
        b = cells[TF]
        who = "self-distillation (student = teacher's architecture)" if size == "same" else "a smaller student"
        lines.append(f"- **{who}**, {b['params']:.0f} parameters; teacher forcing: greedy exact match "
                     f"{b['greedy_exact_match']:.3f}{spread_text(b, 'greedy_exact_match')}, beam "
                     f"{b['beam_exact_match']:.3f} (beam - greedy {b['beam_minus_greedy']:+.3f}; greedy = beam on "
                     f"{b['greedy_equals_beam']:.1%}).")
        for label, c in cells.items():
            if label == TF:
                continue
            lines.append(f"  - *{label}*: greedy {seeded_verdict(c, b, 'greedy_exact_match', c['num_examples'])}"
                         f" ({c['greedy_exact_match']:.3f}{spread_text(c, 'greedy_exact_match')}); beam - greedy "
                         f"{c['beam_minus_greedy']:+.3f} vs {b['beam_minus_greedy']:+.3f} with teacher forcing; "
                         f"greedy = beam on {c['greedy_equals_beam']:.1%}; beyond the training lengths greedy "
                         f"{c['greedy_exact_match_beyond']:.3f} vs {b['greedy_exact_match_beyond']:.3f}.")
    return "\n".join(lines)


def grid_tables(tables: DistillTables) -> ss_study.SSTables:
    """The greedy results in notebook 03's grid shape (model = student size), for widgets.static_grid."""
    by_length = tables.by_length[tables.by_length["decoding"] == "greedy"]
    rename = lambda f: f.assign(model=f["size"] + "-size student")  # noqa: E731
    return ss_study.SSTables(rename(tables.per_position), rename(by_length), rename(tables.training),
                             tables.train_positions)
