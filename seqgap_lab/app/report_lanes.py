"""`seqgap-lab report --jobs N`: N notebooks at a time on this machine, each with its share of the cores.

Why: most of our models are small, so torch's intra-op threads scale poorly with them. Measured on the 2-core
machine (counter task, `default` sizes): a training step takes 42 / 53 ms (GRU / Transformer) with 2 threads
and 52 / 81 ms with 1, and two 1-thread processes side by side keep their 1-thread speed. Two notebooks with one
thread each therefore do 1.3-1.7x the work of one with two threads. Each notebook still runs in its own papermill
kernel (a process); this module only decides which notebook a free worker takes next (`report_plan`: what it loads from
others, then the longest chain of work still waiting on it first) and caps every kernel's torch threads at
cores // N ($SEQGAP_TORCH_THREADS, read by `core.session.cpu_threads`). Thread counts change trained weights at
float rounding (~1e-7), so a `--jobs 2` report can differ from a serial one in the last digits.
"""
from __future__ import annotations

import contextlib
import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from tqdm.auto import tqdm

from seqgap_lab.app import report_plan
from seqgap_lab.core.session import THREADS_ENV


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Torch threads for each of `jobs` notebooks running at once: an equal share of the cores, at least 1."""
    return max(1, (cores or os.cpu_count() or 1) // jobs)


def run(notebooks: list[Path], profile: str, out_root: Path, parameters: Mapping[str, Any] | None,
        make_slides: bool, jobs: int, run_notebook: Callable, status_line: Callable[[dict], str]) -> list[dict]:
    """Run the notebooks `jobs` at a time (run_notebook as in app/report.py), each started as soon as the notebooks
    it needs have finished; records in notebook order."""
    rank = report_plan.ranks(notebooks, report_plan.expected_times(out_root / "report.json", profile))
    pending, finished, records = list(notebooks), set(), {}
    running: dict[Future, Path] = {}
    bar = tqdm(total=len(notebooks), desc=f"notebooks ({profile}, {jobs} at a time)", unit="nb")
    with _thread_cap(threads_per_job(jobs)), ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            while len(running) < jobs:
                nb = report_plan.pick(report_plan.ready(pending, finished, notebooks), rank)
                if nb is None:
                    break
                pending.remove(nb)
                running[pool.submit(run_notebook, nb, profile, out_root, parameters, make_slides)] = nb
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                record = future.result()
                records[record["stem"]] = record
                finished.add(report_plan.key(running.pop(future)))
                tqdm.write(status_line(record))
                bar.update(1)
    bar.close()
    return [records[p.stem] for p in notebooks]


@contextlib.contextmanager
def _thread_cap(threads: int) -> Iterator[None]:
    """$SEQGAP_TORCH_THREADS for the kernels started inside (they inherit the environment when they start); an
    existing, smaller cap is kept."""
    saved = os.environ.get(THREADS_ENV)
    if saved and saved.isdigit() and int(saved) < threads:
        threads = int(saved)
    os.environ[THREADS_ENV] = str(threads)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(THREADS_ENV, None)
        else:
            os.environ[THREADS_ENV] = saved
