"""The `ray` executor: a sweep's work units as Ray core tasks (not Tune: its trial folders would duplicate our cache).

Imported only when `--executor ray` is asked for; Ray itself is the optional extra `seqgap-lab[ray]`. Pitfalls
measured here and handled:
- a bare `ray.init()` joins whatever cluster a stale /tmp/ray session names and can hang: without an address we
  start a local cluster (`address="local"`) and stop it afterwards; with one (`host:port` or `auto`) we join it;
- every task sets torch's thread count to its CPUs (thread count changes trained weights by ~1e-7) and each cell
  file records threads, device and host (runner.ran_on);
- a GPU task on a cluster without enough GPUs would wait forever: the cluster's resources are checked first;
- workers read and write the data folder (the store) through $SEQGAP_DATA_DIR, passed to them with the other
  SEQGAP_* variables: on a multi-machine cluster it must be a shared filesystem, mounted at the same path;
- a task whose worker dies (killed, out of memory) is retried up to max_retries times; the cache's atomic writes
  and kernel-released file locks make a retried cell start clean.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from seqgap_lab.core import paths
from seqgap_lab.core.config import ConfigError
from seqgap_lab.core.runtime import get_device
from seqgap_lab.sweeps.executors import ExecutorConfig, Unit

INSTALL_HINT = "pip install 'seqgap-lab[ray]'"
_ENV_NAMES = ("SEQGAP_DATA_DIR", "SEQGAP_REPORTS_DIR", "SEQGAP_FIGURES_DIR", "SEQGAP_ROOT", "SEQGAP_DEVICE",
              "SEQGAP_BUDGET_SCALE")


def import_ray():
    """The ray module, or a ConfigError saying what to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed here: {INSTALL_HINT}") from None
    return ray


def worker_env() -> dict[str, str]:
    """Environment for every worker: where the store and outputs are, and how to import this checkout."""
    env = {name: os.environ[name] for name in _ENV_NAMES if os.environ.get(name)}
    env["SEQGAP_DATA_DIR"] = str(paths.data_dir().resolve())  # absolute: a worker may start in another folder
    env["SEQGAP_ROOT"] = str(paths.project_root().resolve())
    for name in ("SEQGAP_REPORTS_DIR", "SEQGAP_FIGURES_DIR"):
        if name in env:
            env[name] = str(Path(env[name]).resolve())
    package_parent = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_parent), os.environ.get("PYTHONPATH")]))
    return env


def start(ray, config: ExecutorConfig) -> bool:
    """Connect to config.address, or start a local cluster; True if this call started it (so it stops it)."""
    if ray.is_initialized():
        return False
    if config.address is None:
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=config.address, log_to_driver=False)
    return True


def check_resources(ray, config: ExecutorConfig) -> None:
    """ConfigError naming what is missing when no node could ever run a task of this size."""
    total = ray.cluster_resources()
    if config.gpus_per_task > total.get("GPU", 0.0):
        raise ConfigError(f"gpus_per_task = {config.gpus_per_task} but the Ray cluster has {total.get('GPU', 0.0)} "
                          f"GPU(s): the tasks would wait forever; use --gpus-per-task 0 or a cluster with GPUs")
    if config.cpus_per_task > total.get("CPU", 0.0):
        raise ConfigError(f"cpus_per_task = {config.cpus_per_task} but the Ray cluster has {total.get('CPU', 0.0)} "
                          f"CPU(s): the tasks would wait forever")


def unit_task(work: Callable, spec, unit: Unit, device_name: str, threads: int) -> dict:
    """Body of one Ray task (runs on a worker): work(spec, unit, device) with the task's thread count."""
    torch.set_num_threads(threads)
    start_time = time.perf_counter()
    written = work(spec, unit, get_device(device_name))
    return {"label": unit.label, "written": written, "pid": os.getpid(), "seconds": time.perf_counter() - start_time}


def run_units(spec, waves: list[list[Unit]], device, config: ExecutorConfig, work: Callable,
              progress: bool = True) -> list[dict]:
    """Run the waves of units as Ray tasks calling work(spec, unit, device) (runner.run_unit), one wave after the
    other; the tasks' reports (label, files written, worker pid, seconds)."""
    ray = import_ray()
    device_name = device.type if hasattr(device, "type") else (device or ("cuda" if config.gpus_per_task else "cpu"))
    started = start(ray, config)
    try:
        check_resources(ray, config)
        # The store's location travels with each task (not with ray.init): a cluster started once serves sweeps
        # of different data folders.
        remote = ray.remote(unit_task).options(num_cpus=config.cpus_per_task, num_gpus=config.gpus_per_task,
                                               max_retries=config.max_retries, retry_exceptions=False,
                                               runtime_env={"env_vars": worker_env()})
        reports = []
        bar = tqdm(total=sum(len(w) for w in waves), desc=f"sweep {spec.name} on Ray", unit="unit",
                   disable=not progress)
        for wave in waves:
            pending = [remote.remote(work, spec, unit, device_name, config.cpus_per_task) for unit in wave]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                reports.append(ray.get(done[0]))
                bar.update(1)
        bar.close()
        return reports
    finally:
        if started:
            ray.shutdown()
