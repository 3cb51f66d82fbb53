"""`seqgap-lab report --jobs N`: the plan (what waits for what, which notebook a free worker takes) and the
workers, run with a stand-in for papermill that records when each notebook started and ended."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from seqgap_lab.app import report, report_lanes, report_plan
from seqgap_lab.core.config import ConfigError
from seqgap_lab.core.session import THREADS_ENV
from seqgap_lab.sweeps.executors import ExecutorConfig

STEMS = ["01_a", "02_b", "03_c", "04_d", "06_e", "07_f", "08_g", "09_h", "10_i", "11_j"]


def paths(stems=STEMS):
    return [Path(f"{s}.ipynb") for s in stems]


def test_ready_waits_for_what_a_notebook_loads_and_ignores_notebooks_not_in_the_run():
    nbs = paths()
    ready = [p.stem for p in report_plan.ready(nbs, set(), nbs)]
    assert ready == ["01_a", "02_b", "07_f", "11_j"]
    after_01 = [p.stem for p in report_plan.ready(nbs, {"01"}, nbs)]
    assert "03_c" in after_01 and "04_d" not in after_01 and "08_g" not in after_01  # 04 and 08 also load 02's
    only = paths(["02_b", "10_i"])  # 10 also loads 04's models, but 04 is not in this run
    assert [p.stem for p in report_plan.ready(only, set(), only)] == ["02_b"]
    assert [p.stem for p in report_plan.ready(only[1:], {"02"}, only)] == ["10_i"]


def test_ranks_add_the_longest_chain_waiting_on_a_notebook():
    nbs = paths(["01_a", "03_c", "08_g", "09_h", "11_j"])
    times = {"01_a": 10.0, "03_c": 100.0, "08_g": 20.0, "09_h": 1.0, "11_j": 50.0}
    rank = report_plan.ranks(nbs, times)
    assert rank["09_h"] == 1.0 and rank["08_g"] == 21.0  # 09 waits for 08
    assert rank["03_c"] == 100.0  # nothing waits for 03 (08 may start beside it)
    assert rank["01_a"] == 10.0 + 100.0  # 03 waits for 01: 01's chain is 01 then 03
    assert report_plan.pick(nbs, rank).stem == "01_a"
    assert report_plan.pick(paths(["08_g", "11_j"]), rank).stem == "11_j"
    assert report_plan.pick(paths(["07_f", "06_e"]), {}).stem == "07_f"  # a tie: notebook order
    assert report_plan.pick([], rank) is None


def test_a_fresh_clone_ranks_by_the_recorded_default_times():
    rank = report_plan.ranks(paths(), {})  # no report.json yet
    assert rank["01_a"] > rank["02_b"] > rank["11_j"] > rank["07_f"]
    assert set(report_plan.DEFAULT_SECONDS) == {f"{i:02d}" for i in range(1, 12)}


def simulate(stems, seconds, jobs=2):
    """Makespan of list scheduling with report_plan, notebooks taking `seconds` each."""
    nbs, t, running, finished, pending = paths(stems), 0.0, {}, set(), paths(stems)
    rank = report_plan.ranks(nbs, seconds)
    while pending or running:
        while len(running) < jobs and (nb := report_plan.pick(report_plan.ready(pending, finished, nbs), rank)):
            pending.remove(nb)
            running[nb.stem] = t + seconds[nb.stem]
        stem = min(running, key=running.get)
        t = running.pop(stem)
        finished.add(stem[:2])
    return t


def test_the_measured_report_would_end_near_half_its_work():
    """The times of the measured two-at-a-time report: ranked, two workers finish within 10% of half the total
    work (the order of that run, with notebook 11 last, took 4,186 s of notebook time)."""
    stems = sorted([*STEMS, "05_x"])
    seconds = {s: float(report_plan.DEFAULT_SECONDS[s[:2]]) for s in stems}
    total = sum(seconds.values())
    assert simulate(stems, seconds) <= 1.1 * total / 2


def test_expected_times_reads_ok_records_of_the_same_profile(tmp_path):
    saved = tmp_path / "report.json"
    records = [{"stem": "01_a", "status": "ok", "elapsed_s": 12.5}, {"stem": "02_b", "status": "failed",
                                                                    "elapsed_s": 3.0}]
    saved.write_text(json.dumps({"profile": "default", "records": records}))
    assert report_plan.expected_times(saved, "default") == {"01_a": 12.5}
    assert report_plan.expected_times(saved, "smoke") == {}
    assert report_plan.expected_times(tmp_path / "missing.json", "default") == {}


def test_threads_per_job_shares_the_cores():
    assert report_lanes.threads_per_job(2, cores=2) == 1
    assert report_lanes.threads_per_job(2, cores=8) == 4
    assert report_lanes.threads_per_job(4, cores=2) == 1


class FakeRuns:
    """Stands in for report.run_notebook: sleeps a little, records (stem, start, end, thread cap)."""

    def __init__(self):
        self.lock, self.events = threading.Lock(), []

    def __call__(self, path, profile, out_root, parameters, make_slides):
        start = time.monotonic()
        time.sleep(0.15)
        with self.lock:
            self.events.append((path.stem, start, time.monotonic(), os.environ.get(THREADS_ENV)))
        return {"stem": path.stem, "status": "ok", "elapsed_s": 0.15, "error": None}


def test_two_workers_run_side_by_side_in_dependency_order(tmp_path, monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(report_lanes.os, "cpu_count", lambda: 2)
    fake = FakeRuns()
    records = report_lanes.run(paths(), "smoke", tmp_path, None, False, 2, fake, lambda r: r["stem"])
    assert [r["stem"] for r in records] == STEMS  # notebook order, whatever order they ran in
    span = {stem: (start, end) for stem, start, end, _ in fake.events}
    by_key = {s[:2]: s for s in STEMS}
    for nb, needs in report_plan.NEEDS.items():
        for need in needs:
            if nb in by_key and need in by_key:
                child, parent = by_key[nb], by_key[need]
                assert span[child][0] >= span[parent][1], f"{child} started before {parent} ended"
    starts = sorted(start for start, _ in span.values())
    overlapping = max(sum(s <= t < e for s, e in span.values()) for t in starts)
    assert overlapping == 2  # two at a time, never three
    assert {cap for *_, cap in fake.events} == {"1"}  # each kernel gets 2 cores // 2 workers
    assert THREADS_ENV not in os.environ  # and the cap is gone afterwards


def test_a_smaller_existing_thread_cap_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "1")
    monkeypatch.setattr(report_lanes.os, "cpu_count", lambda: 8)
    fake = FakeRuns()
    report_lanes.run(paths(["07_f", "11_j"]), "smoke", tmp_path, None, False, 2, fake, lambda r: r["stem"])
    assert {cap for *_, cap in fake.events} == {"1"}
    assert os.environ[THREADS_ENV] == "1"


@pytest.mark.parametrize("jobs", [0, -1, 1.5, "2"])
def test_run_report_rejects_bad_jobs(jobs):
    with pytest.raises(ConfigError, match="jobs"):
        report.run_report("smoke", only=["01"], jobs=jobs)


def test_run_report_rejects_jobs_with_ray():
    with pytest.raises(ConfigError, match="cpus_per_task"):
        report.run_report("smoke", only=["01"], jobs=2, executor=ExecutorConfig(kind="ray"))
