"""A sweep on Ray equals the serial sweep: the same table (timing rows aside) and bit-identical checkpoints; a
worker killed mid-cell is retried and the table is unchanged; the serial path never imports Ray; a report on Ray
runs its notebooks in waves (app/report_ray.py) with the serial results.

The cluster is local, started and stopped by this module (`ray.init(address="local", num_cpus=2)` /
`ray.shutdown()`, never `ray stop`). The grid: reverse/GRU, teacher forcing and MRT (whose parent is the tf model),
greedy and contrastive (whose amateur is another model): three models, two waves, four cells.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch

from seqgap_lab.app import report
from seqgap_lab.core.config import ConfigError
from seqgap_lab.sweeps import ray_backend
from seqgap_lab.sweeps.executors import ExecutorConfig
from seqgap_lab.sweeps.runner import SweepSpec, plan_units, run_sweep

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason=f"Ray not installed: {ray_backend.INSTALL_HINT} (the dev extra has it)")
SPEC = SweepSpec(name="rayeq", profile="smoke", tasks=("reverse",), models=("gru",), strategies=("tf", "mrt"),
                 decodings=("greedy", "contrastive"), seeds=(0,))
TIMING = ("train_seconds", "decode_seconds")
# The kill test's grid: one unit (the tf model, greedy); its rows are the serial table's tf/greedy rows.
ONE_UNIT = SweepSpec(**{**SPEC.to_dict(), "name": "raykill", "strategies": ("tf",), "decodings": ("greedy",)})


def _use_store(monkeypatch, folder: Path) -> Path:
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(folder / "data"))
    monkeypatch.setenv("SEQGAP_REPORTS_DIR", str(folder / "reports"))
    return folder / "data"


def _results(table: pd.DataFrame) -> pd.DataFrame:
    """The table without the rows that time things (they differ run to run)."""
    return table[~table["metric"].isin(TIMING)].reset_index(drop=True)


def _checkpoints(data: Path) -> dict[str, dict]:
    return {p.name: torch.load(p, weights_only=True)["state_dict"] for p in sorted((data / "checkpoints").glob("*.pt"))}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The serial sweep (this process, one torch thread as every test here): its table and data folder."""
    folder = tmp_path_factory.mktemp("serial")
    with pytest.MonkeyPatch.context() as mp:
        data = _use_store(mp, folder)
        table = run_sweep(SPEC, device="cpu", progress=False)
    return table, data


@pytest.fixture(scope="module")
def cluster():
    """A local two-CPU Ray cluster for this module, stopped at the end."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_units_train_parents_and_amateurs_first():
    waves = plan_units(SPEC, SPEC.cells())
    assert [[u.label for u in wave] for wave in waves] == [
        ["reverse/gru/tf/seed 0 (2 cell(s))", "train reverse/transformer/teacher_forcing"],
        ["reverse/gru/mrt/seed 0 (2 cell(s))"]]
    only_mrt = SweepSpec(**{**SPEC.to_dict(), "strategies": ("mrt",), "decodings": ("greedy",)})
    first, second = plan_units(only_mrt, only_mrt.cells())
    assert [u.label for u in first] == ["train reverse/gru/teacher_forcing"], "the parent no cell trains comes first"
    assert [u.cells for u in second] == [(("reverse", "gru", "mrt", "greedy", 0),)]


@needs_ray
def test_ray_sweep_equals_the_serial_one(serial, cluster, tmp_path, monkeypatch):
    table, serial_data = serial
    data = _use_store(monkeypatch, tmp_path)
    on_ray = run_sweep(SPEC, device="cpu", progress=False, executor=ExecutorConfig(kind="ray"))
    pd.testing.assert_frame_equal(_results(on_ray), _results(table))
    ours, theirs = _checkpoints(data), _checkpoints(serial_data)
    assert sorted(ours) == sorted(theirs) and len(ours) == 3
    for name, state in ours.items():
        assert all(torch.equal(state[k], theirs[name][k]) for k in state), f"{name} differs from the serial run"
    for cell in (data / "sweeps" / SPEC.name).glob("*.json"):
        assert json.loads(cell.read_text())["ran_on"] | {"host": "-"} == {"host": "-", "device": "cpu",
                                                                           "torch_threads": 1}


def _ray_task_pids() -> list[int]:
    """PIDs of Ray workers running one of our units now (Ray names the process after the task)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"ray::unit_task"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@needs_ray
def test_a_worker_killed_mid_cell_is_retried_and_the_table_is_unchanged(serial, cluster, tmp_path, monkeypatch):
    data = _use_store(monkeypatch, tmp_path)
    killed: list[int] = []

    def kill_first_unit():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            locks = list((data / "checkpoints").glob("*.lock")) if (data / "checkpoints").is_dir() else []
            pids = _ray_task_pids()
            if locks and pids:  # a unit is training: kill its worker mid-cell
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_unit, daemon=True)
    killer.start()
    on_ray = run_sweep(ONE_UNIT, device="cpu", progress=False, executor=ExecutorConfig(kind="ray", max_retries=2))
    killer.join(timeout=5)
    assert killed, "no worker was caught mid-cell, so the test did not test the retry"
    table = serial[0]
    expected = table[(table["strategy"] == "tf") & (table["decoding"] == "greedy")]
    pd.testing.assert_frame_equal(_results(on_ray), _results(expected))
    assert [p.name for p in data.rglob("*.tmp")] == [], "the retried unit rewrote what the killed one left"


@needs_ray
def test_a_gpu_task_on_a_cluster_without_gpus_stops_at_once(cluster, tmp_path, monkeypatch):
    _use_store(monkeypatch, tmp_path)
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"gpus_per_task = 1(\.0)? but the Ray cluster has 0(\.0)? GPU"):
        run_sweep(SPEC, device="cpu", progress=False, executor=ExecutorConfig(kind="ray", gpus_per_task=1.0))
    assert time.monotonic() - start < 30


def test_without_ray_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'seqgap-lab\[ray\]'"):
        ray_backend.import_ray()


@pytest.mark.parametrize("change, message", [
    ({"kind": "dask"}, "one of serial | ray"), ({"kind": "serial", "gpus_per_task": 1.0}, "for kind='ray'"),
    ({"kind": "ray", "cpus_per_task": 0}, ">= 1"), ({"kind": "ray", "gpus_per_task": -1.0}, r"\[0.0, 8.0\]"),
    ({"kind": "ray", "address": ""}, "host:port")])
def test_executor_config_rejects_bad_values(change, message):
    with pytest.raises(ConfigError, match=message):
        ExecutorConfig(**change)


def test_the_serial_path_never_imports_ray(serial, tmp_path):
    # The whole CLI imported and a serial sweep run (its cells read from the serial run's store: nothing trains).
    code = ("import sys\n"
            "import seqgap_lab.app.cli\n"
            "from seqgap_lab.sweeps.runner import SweepSpec, run_sweep\n"
            f"run_sweep(SweepSpec.from_dict({SPEC.to_dict()!r}), device='cpu', progress=False)\n"
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n")
    env = dict(os.environ, SEQGAP_DATA_DIR=str(serial[1]), SEQGAP_REPORTS_DIR=str(tmp_path / "reports"),
               OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def _notebook(path: Path, stem: str, body: str) -> None:
    """A tiny lesson-shaped notebook that writes x (and its thread cap) to its summary."""
    code = ("import os\nimport seqgap_lab.core.session as s\n" + body + "\n"
            f"s.write_summary({stem!r}, {{'profile': profile, 'x': x, "
            "'threads': os.environ.get('SEQGAP_TORCH_THREADS')})")
    cells = [nbformat.v4.new_markdown_cell("# tiny"),
             nbformat.v4.new_code_cell('profile = "default"', metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell(code)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}}), path)


@needs_ray
@pytest.mark.notebook
def test_a_report_on_ray_runs_notebooks_in_waves(cluster, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'fake'\n")  # a fake checkout of three notebooks
    monkeypatch.setenv("SEQGAP_ROOT", str(tmp_path))
    for name in ("reports", "figures", "data"):
        monkeypatch.setenv(f"SEQGAP_{name.upper()}_DIR", str(tmp_path / name))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "01_one.ipynb", "01_one", "x = 1")
    _notebook(folder / "06_six.ipynb", "06_six", "x = 6")
    # 09 reads 06's summary: run before it (or beside it), it fails
    _notebook(folder / "09_nine.ipynb", "09_nine", "import json\nx = 3 + json.load(open(os.path.join("
              "os.environ['SEQGAP_REPORTS_DIR'], '06_six', 'summary.json')))['x']")
    records = report.run_report(profile="smoke", executor=ExecutorConfig(kind="ray"))
    assert [(r["stem"], r["status"], r["summary"]["x"]) for r in records] == [
        ("01_one", "ok", 1), ("06_six", "ok", 6), ("09_nine", "ok", 9)], [r.get("error") for r in records]
    assert {r["summary"]["threads"] for r in records} == {"1"}, "each kernel is capped at its task's CPUs"
    saved = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert [r["stem"] for r in saved["records"]] == ["01_one", "06_six", "09_nine"]
    assert "09_nine" in (tmp_path / "reports" / "index.html").read_text()
