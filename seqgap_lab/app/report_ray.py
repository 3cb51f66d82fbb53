"""`seqgap-lab report --executor ray`: one Ray task per notebook, in waves that respect what notebooks reuse.

Notebooks 01 and 02 train the models most others load (01's synthetic Transformers and GRUs, 02's es->en
Transformer), so they run first; notebook 09 reads the summaries and sweeps of 06-08 and 10, so it runs after them;
the rest run side by side. Any other overlap is safe anyway: every model and decode is cached under a file lock, so
a second notebook asking for the same model waits and loads it. Each task runs the notebook with papermill in its
worker (runtime env: the data, figures and reports folders, the budget scale, and a torch thread cap equal to the
task's CPUs), writes into the shared reports folder and returns its record; the index is built here as for a serial
report. Ray is imported only on this path (sweeps/ray_backend.import_ray).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from tqdm.auto import tqdm

from seqgap_lab.app import report_plan
from seqgap_lab.core.session import THREADS_ENV
from seqgap_lab.sweeps import ray_backend
from seqgap_lab.sweeps.executors import ExecutorConfig

waves = report_plan.waves  # kept here, where callers and tests have always found it


def run(notebooks: list[Path], profile: str, out_root: Path, parameters: Mapping[str, Any] | None,
        make_slides: bool, config: ExecutorConfig, run_notebook: Callable) -> list[dict]:
    """Run the notebooks as Ray tasks calling run_notebook (app/report.py) wave by wave; records in notebook order."""
    ray = ray_backend.import_ray()
    started = ray_backend.start(ray, config)
    try:
        ray_backend.check_resources(ray, config)
        env = {**ray_backend.worker_env(), "SEQGAP_REPORTS_DIR": str(out_root.resolve()),
               THREADS_ENV: str(config.cpus_per_task)}
        remote = ray.remote(run_notebook).options(num_cpus=config.cpus_per_task, num_gpus=config.gpus_per_task,
                                                  max_retries=config.max_retries, retry_exceptions=False,
                                                  runtime_env={"env_vars": env})
        records: dict[str, dict] = {}
        bar = tqdm(total=len(notebooks), desc=f"notebooks ({profile}) on Ray", unit="nb")
        for wave in waves(notebooks):
            pending = [remote.remote(p, profile, out_root, parameters, make_slides) for p in wave]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                record = ray.get(done[0])
                records[record["stem"]] = record
                tqdm.write(f"{record['stem']:<32} {record['status']:<6} {record['elapsed_s']:8.1f} s (Ray)")
                bar.update(1)
        bar.close()
        return [records[p.stem] for p in notebooks]
    finally:
        if started:
            ray.shutdown()
