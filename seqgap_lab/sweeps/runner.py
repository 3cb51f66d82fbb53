"""Declarative sweeps: a grid over task, model, training strategy, decoding and seed, run cell by cell through
the caches into one tidy DataFrame (one row per cell x length bucket x metric), resumable after a kill.

A spec is a YAML or JSON mapping (parsed with yaml.safe_load / json), e.g.

    name: lengths            # names the output files reports/sweeps/<name>.csv (and .parquet with pyarrow)
    profile: default         # sizes and steps of every model (smoke | default | full)
    tasks: [reverse]         # a synthetic task (copy | reverse | sort | addition) or es-en (sweeps/nmt.py)
    models: [gru, transformer]
    strategies: [tf, ss, mrt, seq_kd, self_distill]
    decodings: [greedy, beam]
    seeds: [0, 1, 2]

Why resumable: every trained model is a cached checkpoint (written atomically) and every measured cell is a
small JSON file under data/sweeps/<name>/ keyed by a hash of everything that shaped it, written atomically
once the cell is done. A sweep killed at any point restarts where it stopped: finished cells are read back,
the interrupted one is redone, and the table is assembled in grid order, so it equals an uninterrupted run
(apart from the timing rows of cells that an uninterrupted run would have timed anew). Two processes running
the same sweep measure each cell once: a file lock per cell (cache.file_lock), as for every cached model.
(Sweeps live here rather than in training/runs.py: one concept per file, and they import the studies'
recipes from zoo/.)
"""
from __future__ import annotations

import dataclasses
import io
import json
import platform
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml
from tqdm.auto import tqdm

from seqgap_lab.core import budget, paths
from seqgap_lab.core.cache import atomic_write_bytes, atomic_write_json, config_hash, file_lock
from seqgap_lab.core.config import MODELS, ONE_TARGET_TASKS, ConfigError, _Config, check_choice, check_int, check_profile
from seqgap_lab.core.runtime import get_device
from seqgap_lab.sweeps import nmt as sweep_nmt
from seqgap_lab.sweeps import ray_backend
from seqgap_lab.sweeps.executors import ExecutorConfig, Unit
from seqgap_lab.sweeps.cells import (
    DECODINGS,
    STRATEGIES,
    amateur_recipe,
    decode_config,
    measure,
    recipe,
    recipe_key,
    row,
    train_cell,
)

SWEEP_VERSION = 2  # bump when measure() changes what a cached cell holds (2: per-example rows, aligned ExAccErr)
KEY_COLUMNS = ["task", "model", "strategy", "decoding", "seed"]
ROW_COLUMNS = ["bucket", "bucket_lo", "bucket_hi", "beyond_training", "metric", "value", "count"]


@dataclass(frozen=True)
class SweepSpec(_Config):
    """A sweep grid; every list must be non-empty, without repeats, and hold only known names."""

    name: str = "sweep"
    profile: str = "default"
    tasks: tuple = ("reverse",)
    models: tuple = ("gru", "transformer")
    strategies: tuple = ("tf", "ss")
    decodings: tuple = ("greedy",)
    seeds: tuple = (0,)

    def __post_init__(self) -> None:
        o = "SweepSpec"
        if not isinstance(self.name, str) or not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise ConfigError(f"{o}.name = {self.name!r} is not allowed: expected letters, digits, '-' or '_'")
        check_profile(self.profile)
        for fname, allowed in (("tasks", (*ONE_TARGET_TASKS, sweep_nmt.TASK)), ("models", tuple(m for m in MODELS if m != "lm")),
                               ("strategies", STRATEGIES), ("decodings", DECODINGS)):
            values = _as_tuple(o, fname, getattr(self, fname))
            for v in values:
                check_choice(o, fname[:-1] if fname != "strategies" else "strategy", v, allowed)
            object.__setattr__(self, fname, values)
        seeds = _as_tuple(o, "seeds", self.seeds)
        for s in seeds:
            check_int(o, "seeds", s, 0, 10_000)
        object.__setattr__(self, "seeds", seeds)
        if not self.cells():
            raise ConfigError(f"{o}: no cell is left: task(s) {list(self.tasks)} have none of strategies "
                              f"{list(self.strategies)} x decodings {list(self.decodings)} (es-en: "
                              f"{' | '.join(sweep_nmt.STRATEGIES)} x {' | '.join(sweep_nmt.DECODINGS)})")

    def cells(self) -> list[tuple[str, str, str, str, int]]:
        """Every (task, model, strategy, decoding, seed) in grid order; combinations a task does not have
        (es-en: no seq_kd, self_distill or contrastive) are left out."""
        return [(t, m, s, d, seed) for t in self.tasks for m in self.models for s in self.strategies
                for seed in self.seeds for d in self.decodings
                if t != sweep_nmt.TASK or (s in sweep_nmt.STRATEGIES and d in sweep_nmt.DECODINGS)]


def _as_tuple(owner: str, name: str, value) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{owner}.{name} = {value!r} is not allowed: expected a non-empty list")
    if any(v in value[:i] for i, v in enumerate(value)):  # not set(): a YAML entry may be an unhashable list
        raise ConfigError(f"{owner}.{name} = {list(value)!r} is not allowed: expected no repeated entries")
    return tuple(value)


def load_spec(path: str | Path) -> SweepSpec:
    """Read a sweep spec from a .yaml/.yml/.json file (safe parsers only); errors name the file."""

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"sweep spec {str(path)!r} is a folder: expected a .yaml, .yml or .json file")
    if not path.is_file():
        raise FileNotFoundError(f"sweep spec {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"sweep spec {str(path)!r} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)  # YAML errors draw a caret over several lines: keep one
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"sweep spec {str(path)!r} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                          f"{detail}{where}") from None
    if data is None:
        keys = ", ".join(f.name for f in dataclasses.fields(SweepSpec))
        raise ConfigError(f"sweep spec {str(path)!r} is empty: expected a mapping with some of the keys {keys}")
    if not isinstance(data, dict):
        raise ConfigError(f"sweep spec {str(path)!r} must hold a mapping, got {type(data).__name__}")
    return SweepSpec.from_dict(data)


def cell_path(spec: SweepSpec, key: dict) -> Path:
    """Where a measured cell is cached: data/sweeps/<name>/<hash>.json."""
    return paths.data_dir() / "sweeps" / spec.name / f"{config_hash(key)}.json"


def run_sweep(spec: SweepSpec, device=None, progress: bool = True, write: bool = True,
              executor: ExecutorConfig | None = None) -> pd.DataFrame:
    """Measure every missing cell (serially here, or as Ray tasks: sweeps/executors.py), then read every cell from
    its cache file into the tidy table; with write=True also save it under reports/sweeps/. Columns: task, model,
    strategy, decoding, seed, bucket, bucket_lo, bucket_hi, beyond_training, metric, value, count."""
    executor = executor or ExecutorConfig()
    cells = spec.cells()
    paths_by_cell = {cell: cell_path(spec, cell_key(spec, *cell)) for cell in cells}
    missing = [cell for cell in cells if not paths_by_cell[cell].exists()]
    if missing and executor.kind == "ray":  # ray_backend imports Ray itself only here (an optional extra)
        ray_backend.run_units(spec, plan_units(spec, missing), device, executor, run_unit, progress)
    elif missing:
        device = get_device(device) if not hasattr(device, "type") else device
        bar = tqdm(total=len(missing), desc=f"sweep {spec.name} ({len(cells) - len(missing)} from cache)",
                   unit="cell", disable=not progress)
        for unit in (u for wave in plan_units(spec, missing) for u in wave):
            run_unit(spec, unit, device, on_cell=lambda: bar.update(1))
        bar.close()
    # Always read the cells back from their files: fresh, resumed and distributed sweeps build identical tables.
    frames = [pd.DataFrame(json.loads(paths_by_cell[c].read_text())["rows"]).assign(
        task=c[0], model=c[1], strategy=c[2], decoding=c[3], seed=c[4]) for c in cells]
    table = pd.concat(frames, ignore_index=True)[KEY_COLUMNS + ROW_COLUMNS]
    if write:
        write_table(spec, table)
    return table


def plan_units(spec: SweepSpec, missing: list) -> list[list[Unit]]:
    """The missing cells as work units in two waves: models others build on (teacher-forced cells, and parents,
    teachers and amateurs no cell of the first wave trains), then the rest; each unit shares one trained model."""
    groups: dict[tuple, list] = {}
    for cell in missing:
        groups.setdefault((cell[0], cell[1], cell[2], cell[4]), []).append(cell)
    first = [Unit(tuple(c)) for (_, _, strategy, _), c in groups.items() if strategy == "tf"]
    rest = [Unit(tuple(c)) for (_, _, strategy, _), c in groups.items() if strategy != "tf"]
    covered = {json.dumps(recipe_key(recipe(spec.profile, t, k, "tf", s)), sort_keys=True)
               for (t, k, strategy, s) in groups if strategy == "tf" and t != sweep_nmt.TASK}
    for args in _prerequisites(spec, missing):
        ident = json.dumps(recipe_key(args), sort_keys=True)
        if ident not in covered:
            covered.add(ident)
            first.append(Unit((), args))
    return [wave for wave in (first, rest) if wave]


def _prerequisites(spec: SweepSpec, missing: list) -> list[dict]:
    """Recipe arguments of the models the missing synthetic cells build on: tf parents/teachers, amateurs."""
    found = []
    for task, kind, strategy, decoding, seed in missing:
        if task == sweep_nmt.TASK:
            continue
        if strategy in ("mrt", "seq_kd", "self_distill"):
            found.append(recipe(spec.profile, task, kind, "tf", seed))
        if decoding == "contrastive":
            found.append(amateur_recipe(spec.profile, task, seed))
    return found


def run_unit(spec: SweepSpec, unit: Unit, device, on_cell=None) -> list[str]:
    """Do one work unit here: train its prerequisite model, or measure its cells (each under the cell's file lock,
    written atomically with the thread count, device and host it ran with); the cell files written."""
    if unit.train is not None:
        train_cell(unit.train, device, progress=False)
        return []
    written = []
    for task, kind, strategy, decoding, seed in unit.cells:
        key = cell_key(spec, task, kind, strategy, decoding, seed)
        path = cell_path(spec, key)
        with file_lock(path, f"measuring cell {task}/{kind}/{strategy}/{decoding}/{seed}"):
            if not path.exists():  # another process running the same sweep may have measured it meanwhile
                rows = measure_cell(spec, task, kind, strategy, decoding, seed, device)
                atomic_write_json(path, {"key": key, "rows": rows.to_dict("records"), "ran_on": ran_on(device)})
        written.append(str(path))
        if on_cell is not None:
            on_cell()
    return written


def ran_on(device) -> dict:
    """Where and how a cell was measured: thread count changes trained weights by ~1e-7, so it is recorded."""
    return {"host": platform.node(), "device": str(device), "torch_threads": torch.get_num_threads()}


def cell_key(spec: SweepSpec, task: str, kind: str, strategy: str, decoding: str, seed: int) -> dict:
    """Everything that shapes a cell's rows: its model's full lineage, the decoding (and amateur), the version."""
    if task == sweep_nmt.TASK:
        return budget.keyed({"version": SWEEP_VERSION, **sweep_nmt.cell_key(spec.profile, kind, strategy, decoding,
                                                                               seed)})
    args = recipe(spec.profile, task, kind, strategy, seed)
    config = decode_config(decoding, args["task_cfg"].test_max_len + 4)
    key = {"version": SWEEP_VERSION, "model": recipe_key(args), "decoding": config.to_dict()}
    if decoding == "contrastive":
        key["amateur"] = recipe_key(amateur_recipe(spec.profile, task, seed))
    return budget.keyed(key)  # a budget-scaled model's cell is its own


def measure_cell(spec: SweepSpec, task: str, kind: str, strategy: str, decoding: str, seed: int,
                 device) -> pd.DataFrame:
    """Train (or load) the cell's model, measure one decoding, and add the training-cost row."""
    if task == sweep_nmt.TASK:
        return sweep_nmt.measure_cell(spec.profile, kind, strategy, decoding, seed, device)
    args = recipe(spec.profile, task, kind, strategy, seed)
    config = decode_config(decoding, args["task_cfg"].test_max_len + 4)
    run, train_seconds = train_cell(args, device, progress=False)
    helper = None
    if config.method == "contrastive":
        helper = train_cell(amateur_recipe(spec.profile, task, seed), device, progress=False)[0].model
    rows = measure(run, config, helper)
    lengths = [len(s) for s, _ in run.splits.test]
    cost = row("all", min(lengths), max(lengths), False, "train_seconds", train_seconds, len(run.splits.train))
    return pd.concat([rows, pd.DataFrame([cost])], ignore_index=True)


def table_path(spec: SweepSpec) -> Path:
    """Where a sweep's table is written: reports/sweeps/<name>.csv."""
    return paths.reports_dir() / "sweeps" / f"{spec.name}.csv"


def write_table(spec: SweepSpec, table: pd.DataFrame) -> Path:
    """Save the table as reports/sweeps/<name>.csv (atomically; and .parquet when pyarrow is installed)."""
    out = table_path(spec)
    atomic_write_bytes(out, table.to_csv(index=False).encode())
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return out
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    atomic_write_bytes(out.with_suffix(".parquet"), buffer.getvalue())
    return out
