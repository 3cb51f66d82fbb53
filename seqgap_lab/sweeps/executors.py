"""Where a sweep's missing cells run: `serial` (this process, the default) or `ray` (tasks on a Ray cluster).

Both run the same work units: the missing cells grouped by the model they train, so one unit trains (or loads)
its model once and then measures every decoding of it. The models others build on (the teacher-forced parents of
MRT and the distilled students' teachers, contrastive decoding's amateurs) are trained in a first wave, the rest
in a second, so no two workers train the same parent at once (the cache's file lock would make one wait).
Every unit writes its cells atomically under data/sweeps/<name>/ (the shared store); the sweep then reads them
back in grid order, so the table is the same whichever executor ran them. The serial path never imports Ray.
"""
from __future__ import annotations

from dataclasses import dataclass

from seqgap_lab.core.config import ConfigError, _Config, check_choice, check_float, check_int

EXECUTORS = ("serial", "ray")


@dataclass(frozen=True)
class ExecutorConfig(_Config):
    """How to run the missing cells: kind serial | ray; for ray the cluster address (None: a local one started and
    stopped here), CPUs and GPUs per task, and how often a task whose worker died is retried."""

    kind: str = "serial"
    address: str | None = None
    cpus_per_task: int = 1
    gpus_per_task: float = 0.0
    max_retries: int = 3

    def __post_init__(self) -> None:
        o = "ExecutorConfig"
        check_choice(o, "kind", self.kind, EXECUTORS)
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise ConfigError(f"{o}.address = {self.address!r} is not allowed: expected 'host:port', 'auto' or None")
        if self.kind == "serial" and (self.address is not None or self.gpus_per_task):
            raise ConfigError(f"{o}: address and gpus_per_task are for kind='ray'; kind = 'serial' runs here")
        check_int(o, "cpus_per_task", self.cpus_per_task, 1, 256)
        check_float(o, "gpus_per_task", self.gpus_per_task, 0.0, 8.0)
        check_int(o, "max_retries", self.max_retries, 0, 20)


@dataclass(frozen=True)
class Unit:
    """One work unit: the grid cells (task, model, strategy, decoding, seed) that share a trained model, or,
    with no cells, a prerequisite model to train (`train`: the recipe arguments of sweeps/cells.py)."""

    cells: tuple
    train: dict | None = None

    @property
    def label(self) -> str:
        """A short name for progress lines and errors."""
        if self.cells:
            task, kind, strategy, _, seed = self.cells[0]
            return f"{task}/{kind}/{strategy}/seed {seed} ({len(self.cells)} cell(s))"
        return f"train {self.train['task_cfg'].name}/{self.train['model_cfg'].kind}/{self.train['train_cfg'].strategy}"
