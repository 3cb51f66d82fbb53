"""Scheduled sampling in its regime (notebook 03, part 2): the counter task, where each output follows from the
model's own previous output, at training lengths up to 48, as fine-tuning of a converged teacher-forced model.

Settings, fixed from the papers before any result was seen:
- task: the counter (`data/synthetic/tasks.py`; y_t = y_{t-1} + x_t mod 10, x_t in {0, 1}), clean labels;
- every cell starts from the same teacher-forced model of the profile's steps (`synthetic.configs` recipe);
- fine-tuning for a third of those steps at half the learning rate (50-step warm-up in `default`):
  - teacher forcing continued (the budget-matched reference: same steps, same data),
  - scheduled sampling with p_use_gt falling linearly from 1 to 0.5 over the fine-tuning (Bengio et al. 2015's
    linear decay with floor 0.5; the Transformer mixes in two passes, Mihaylova & Martins 2019), fed the
    argmax prediction, and the same fed a sample from the softmax (Bengio et al. sampled);
- `full` also trains the library's default recipe from scratch (1,000 teacher-forced steps, then inverse sigmoid
  k = 500), which only decays within its 8,000 steps.
Measured: free-running exact match by length (paired McNemar against teacher forcing continued), token error with
the gold and with the own prefix (a paired bootstrap of the free-running one), the next token after one injected
wrong token (does the model recount or trust its prefix?), and the share of decoder inputs that were the model's
own and wrong during training.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd

from seqgap_lab.core import seeds
from seqgap_lab.core.config import ConfigError, TrainConfig, check_profile
from seqgap_lab.core.stats import SMALLEST_ACCURACY, paired_bootstrap
from seqgap_lab.lessons import common
from seqgap_lab.probes import exposure as ex
from seqgap_lab.zoo import counter
from seqgap_lab.zoo.synthetic import trained_model

REFERENCE = "teacher forcing continued"
INJECT_AT = {"smoke": 3, "default": 8, "full": 8}  # gold tokens before the one injected wrong token
SS_FLOOR = 0.5  # p_use_gt at the end of the fine-tuning


@dataclass(frozen=True)
class RegimeCell:
    """One cell: its label, strategy, strategy args, and whether it fine-tunes the teacher-forced model."""

    label: str
    strategy: str
    strategy_args: dict = field(default_factory=dict, hash=False)
    finetune: bool = True
    baseline: bool = False


def cells(profile: str) -> list[RegimeCell]:
    """The cells of a profile: the base model, teacher forcing continued, SS argmax and sampled (and from scratch)."""
    steps = finetune_config(profile, 0).steps
    decay = {"name": "linear", "k": 1.0, "eps_min": SS_FLOOR, "c": (1.0 - SS_FLOOR) / max(1, steps - 1)}
    out = [RegimeCell("teacher forcing (base)", "teacher_forcing", finetune=False),
           RegimeCell(REFERENCE, "teacher_forcing", baseline=True),
           RegimeCell("SS fine-tune, argmax", "scheduled_sampling", {"schedule": decay}),
           RegimeCell("SS fine-tune, sampled", "scheduled_sampling", {"schedule": decay, "sample": True})]
    if profile == "full":
        out.append(RegimeCell("SS default recipe, from scratch", "scheduled_sampling", {"schedule": None},
                              finetune=False))
    return out


def configs(profile: str, kind: str, seed: int):
    """Task, model and base (teacher-forced) train configs: notebook 01's recipe on the counter (zoo/counter.py)."""
    return counter.configs(check_profile(profile), kind, seed)


def finetune_config(profile: str, seed: int, kind: str = "transformer") -> TrainConfig:
    """Fine-tuning: a third of the base steps at half its learning rate, warm-up a tenth of that."""
    base = configs(profile, kind, seed)[2]
    steps = max(2, base.steps // 3)
    return dataclasses.replace(base, steps=steps, lr=base.lr / 2, warmup_steps=max(1, steps // 10),
                               log_every=max(5, steps // 20))


def cell_config(profile: str, kind: str, cell: RegimeCell, seed: int) -> TrainConfig:
    """The train config of one cell (the base config for the base and from-scratch cells)."""
    base = configs(profile, kind, seed)[2]
    cfg = finetune_config(profile, seed, kind) if cell.finetune else base
    return dataclasses.replace(cfg, strategy=cell.strategy, strategy_args=cell.strategy_args)


@dataclass
class RegimeTables:
    """Per-example outcomes (free-running and injected), training logs and exact match by length, every seed."""

    per_example: pd.DataFrame
    injection: pd.DataFrame
    training: pd.DataFrame
    by_length: pd.DataFrame
    train_positions: int
    per_position: pd.DataFrame = field(default_factory=pd.DataFrame)  # error by position, both modes
    runs: dict = field(default_factory=dict)


def seed_list(profile: str, seed: int = 0, num_seeds: int = 0) -> list[int]:
    """The part's training seeds: `num_seeds` (0 = as the profile says: 1 smoke, 3 default and full) from `seed`."""
    return counter.seed_list(profile, seed, num_seeds)


def run_one(profile: str, kinds, seed: int, device=None, progress: bool = True) -> RegimeTables:
    """Train (or load) every cell of one seed and measure it."""
    if not kinds:
        raise ConfigError("run_regime needs at least one model kind")
    parts: dict[str, list] = {"per_example": [], "injection": [], "training": [], "by_length": [], "per_position": []}
    runs, limit = {}, 0
    for kind in kinds:
        task_cfg, model_cfg, base = configs(profile, kind, seed)
        for cell in cells(profile):
            train_cfg = cell_config(profile, kind, cell, seed)
            run = trained_model(task_cfg, model_cfg, train_cfg, device=device, progress=progress,
                                init=base if cell.finetune else None)
            runs[(kind, cell.label)] = run
            limit = task_cfg.train_max_len + 1
            tag = {"model": kind, "label": cell.label, common.BASELINE: cell.baseline}
            measured = common.measure(run, limit)
            parts["per_example"].append(measured["per_example"].assign(**tag))
            parts["by_length"].append(measured["by_length"].assign(**tag))
            parts["per_position"].append(measured["per_position"].assign(**tag))
            parts["injection"].append(_injected(run, INJECT_AT[profile], limit).assign(**tag))
            parts["training"].append(_training_log(run.history).assign(**tag))
    frames = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    return RegimeTables(**frames, train_positions=limit, runs=runs)


def run_regime(profile: str, kinds=("gru", "transformer"), seed_list=(0, 1, 2), device=None,
               progress: bool = True) -> RegimeTables:
    """run_one for every seed, stacked with a `seed` column (verdicts pair per seed and example, never pool)."""
    stacked, _ = seeds.run_seeds(lambda s: run_one(profile, kinds, s, device, progress), list(seed_list))
    return stacked


def _injected(run, at: int, train_positions: int) -> pd.DataFrame:
    """One wrong token after `at` gold ones, on in-range test examples. Per example and condition (injected,
    clean): `next_right`, the first free token right (a model that trusts its wrong prefix gets it wrong, as
    y_t = y_{t-1} + x_t), and `recovered`, every later token right. Columns example, condition, next_right,
    recovered."""
    # The next token must be a digit (not <eos>), and the example within the training lengths.
    within = [i for i, (_, t) in enumerate(run.splits.test) if at + 1 < len(t) and len(t) + 1 <= train_positions]
    pairs = [run.splits.test[i] for i in within]
    errors = ex.injection_errors(run.model, pairs, run.task.output_symbol_ids(), at=at, k=1, scoring="positional")
    by = errors.groupby(["example", "condition"])
    out = pd.DataFrame({"next_right": ~errors[errors["offset"] == 1].groupby(["example", "condition"])["error"].any(),
                        "recovered": ~by["error"].any()}).reset_index()
    out["example"] = [within[i] for i in out["example"]]
    return out


def _training_log(history: pd.DataFrame) -> pd.DataFrame:
    """The logged steps with the scheduled-sampling shares (0 for teacher forcing, which feeds only gold)."""
    cols = ["step", "loss", "p_use_gt", "model_token_frac", "model_wrong_frac"]
    log = history.reindex(columns=cols).copy()
    log["p_use_gt"] = log["p_use_gt"].fillna(1.0)
    return log.fillna({"model_token_frac": 0.0, "model_wrong_frac": 0.0})


def exact_match_by_length(tables: RegimeTables, width: int = 8) -> pd.DataFrame:
    """Exact match per model, cell and source-length bucket of `width`, all seeds: model, label, bucket, ..."""
    pe = tables.per_example.assign(bucket=lambda d: (d["src_length"] // width) * width)
    g = pe.groupby(["model", "label", "bucket"])["correct"]
    return pd.DataFrame({"exact_match": g.mean(), "count": g.size()}).reset_index()


def token_error_within(tables: RegimeTables) -> pd.DataFrame:
    """Token error of the in-range examples per model, cell and mode (teacher-forced: gold prefix; free-running:
    own prefix), all seeds, count-weighted: a model that errs as much with the gold prefix does not compound."""
    pp = tables.per_position
    pp = pp[(pp["examples"] == common.EXAMPLES[0]) & pp["mode"].isin(["teacher-forced", "free-running"])]
    weighted = pp.assign(errors=pp["error_rate"] * pp["count"])
    g = weighted.groupby(["model", "label", "mode"], sort=False)[["errors", "count"]].sum()
    return (g["errors"] / g["count"]).rename("token_error").reset_index()


def verdicts(tables: RegimeTables) -> pd.DataFrame:
    """Every cell against teacher forcing continued, paired on the same seeds and examples: free-running exact
    match within and beyond the training lengths, free-running token error within them (reduction), and recovery
    after one injected wrong token."""
    rows = []
    for model in tables.per_example["model"].drop_duplicates():
        for label in tables.per_example.loc[tables.per_example["model"] == model, "label"].drop_duplicates():
            if label == REFERENCE:
                continue
            new, base = {"model": model, "label": label}, {"model": model, "label": REFERENCE}
            for part in ("within", "beyond"):
                c = common.paired_cells(tables.per_example, new, base, common.PARTS[part])
                rows.append({"model": model, "label": label, "measure": f"exact match, {part}", **c.as_dict()})
            c = _paired_token_error(tables.per_example, new, base)
            rows.append({"model": model, "label": label, "measure": "free-running token error, within", **c.as_dict()})
            inj = tables.injection[tables.injection["condition"] == "injected"]
            for column, name in (("next_right", "next token right after an injected error"),
                                 ("recovered", "all later tokens right after an injected error")):
                c = common.paired_cells(inj, new, base, column=column)
                rows.append({"model": model, "label": label, "measure": name, **c.as_dict()})
    return pd.DataFrame(rows)


def _paired_token_error(per_example: pd.DataFrame, new: dict, base: dict):
    """Paired bootstrap over (seed, example) of the free-running token error within the training lengths, as the
    reduction base - new (so 'helps' means fewer errors); the smallest difference that counts is the accuracy one."""
    frame, columns = per_example[per_example["examples"] == common.EXAMPLES[0]], ["fr_errors", "tokens"]
    joined = common.cell_rows(frame, new, columns).add_suffix("_new").join(
        common.cell_rows(frame, base, columns).add_suffix("_base"), how="inner")
    columns = {k: joined[k].to_numpy(float) for k in ("fr_errors_new", "fr_errors_base", "tokens_new")}
    return paired_bootstrap(columns, lambda t: (t["fr_errors_base"] - t["fr_errors_new"]) / t["tokens_new"],
                            SMALLEST_ACCURACY)
