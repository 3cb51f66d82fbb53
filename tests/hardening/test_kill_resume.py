"""SIGKILL at random points of training, data preparation and a sweep, each in its own folder: nothing half
written is ever taken for a result, the rerun keeps the finished work (same bytes, not redone), leaves no temp
file behind, and ends with the artefact of an uninterrupted run. Prints the kill points tried and recovered."""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
from hardening_worker import state_digest

from seqgap_lab.core.cache import atomic_write_bytes, load_checkpoint

WORKER = Path(__file__).with_name("hardening_worker.py")
KILLS = 3  # kill points per kind of work
TRAIN_STEPS = 150
SPEC = dict(name="kill", profile="smoke", tasks=["reverse"], models=["gru"], strategies=["tf", "ss"],
            decodings=["greedy"], seeds=[0])


@dataclass
class Work:
    """One kind of interruptible work: its command in a folder, and how to read what it made there."""

    name: str
    command: Callable[[Path], list[str]]
    result: Callable[[Path], object]  # what must equal the uninterrupted run's
    finished: Callable[[Path], list[Path]]  # files holding finished work; each must be whole after a kill


def _env(folder: Path) -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(WORKER.parent), SEQGAP_DATA_DIR=str(folder / "data"),
                SEQGAP_REPORTS_DIR=str(folder / "reports"), SEQGAP_FIGURES_DIR=str(folder / "figures"))


def _complete(work: Work, folder: Path) -> float:
    """Run the work to the end; its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run(work.command(folder), env=_env(folder), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return time.perf_counter() - start


def _interrupt(work: Work, folder: Path, delay: float) -> bool:
    """Start the work, SIGKILL its whole process group after `delay` s; False when it finished first."""
    proc = subprocess.Popen(work.command(folder), env=_env(folder), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return proc.returncode == -signal.SIGKILL


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    """Temp files of atomic writes and temp folders of corpus builds."""
    return [str(p) for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith((".tmp-", ".old-"))]


def _checkpoints(folder: Path) -> list[Path]:
    found = sorted((folder / "data" / "checkpoints").glob("*.pt"))
    for path in found:
        load_checkpoint(path)  # weights_only=True; raises CacheError on a half-written file
    return found


def _training_result(folder: Path) -> object:
    (path,) = _checkpoints(folder)
    payload = load_checkpoint(path)
    # The history minus throughput (tokens_per_s): the loss curve must repeat, the wall clock need not.
    history = [{k: v for k, v in row.items() if not k.endswith("_per_s")} for row in payload["extra"]["history"]]
    return path.name, state_digest(payload["state_dict"]), json.dumps(history)  # JSON: NaN (no dev eval) == NaN


def _corpus_files(folder: Path) -> list[Path]:
    corpus = folder / "data" / "corpora" / "code"
    if not (corpus / "manifest.json").is_file():
        return []  # no manifest: an incomplete corpus, never taken as one
    files = json.loads((corpus / "manifest.json").read_text())["files"]
    for name, meta in files.items():
        assert _sha(corpus / name) == meta["sha256"], f"{name} does not match its manifest"
    return [corpus / name for name in files] + [corpus / "manifest.json"]


def _corpus_result(folder: Path) -> object:
    root = folder / "data" / "corpora"
    entry = json.loads((root / "code" / "manifest.json").read_text())
    assert json.loads((root / "manifest.json").read_text())["corpora"] == {"code": entry}
    return entry["counts"], entry["files"]


def _sweep_files(folder: Path) -> list[Path]:
    cells = sorted((folder / "data" / "sweeps" / SPEC["name"]).glob("*.json"))
    for cell in cells:
        assert json.loads(cell.read_text())["rows"], f"{cell.name} holds no rows"
    return cells + _checkpoints(folder)


def _sweep_result(folder: Path) -> object:
    table = pd.read_csv(folder / "reports" / "sweeps" / f"{SPEC['name']}.csv")
    table = table[~table["metric"].str.endswith("_seconds")]  # timings differ between any two runs
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return buffer.getvalue()


def _works(tmp_path: Path) -> dict[str, Work]:
    spec = tmp_path / "kill.json"
    spec.write_text(json.dumps(SPEC))
    cli = [sys.executable, "-m", "seqgap_lab"]
    return {"training": Work("training", lambda f: [sys.executable, str(WORKER), "train", str(TRAIN_STEPS)],
                             _training_result, _checkpoints),
            "data preparation": Work("data preparation", lambda f: [*cli, "data", "prepare", "code"],
                                     _corpus_result, _corpus_files),
            "sweep": Work("sweep", lambda f: [*cli, "sweep", str(spec), "--no-progress"], _sweep_result,
                          _sweep_files)}


@dataclass
class Trial:
    """One kill point: when it landed, what was left half done, the finished files it kept, what went wrong."""

    delay: float
    half_done: int  # temp files and folders of the killed process
    kept: int
    problems: list


def _recover(work: Work, folder: Path, delay: float, reference: object) -> Trial:
    """Kill the work at `delay` (halved until the kill lands), check the wreck, rerun it to the end."""
    while not _interrupt(work, folder, delay):
        assert delay > 0.05, "the work always finished before the kill"
        delay /= 2
    half_done = len(_leftovers(folder))
    kept = {p: (_sha(p), p.stat().st_mtime_ns) for p in work.finished(folder)}  # each must be whole
    _complete(work, folder)
    problems = [f"{p.name} was lost or redone" for p, seen in kept.items()
                if not p.is_file() or (_sha(p), p.stat().st_mtime_ns) != seen]
    problems += [f"left behind: {p}" for p in _leftovers(folder)]
    if work.result(folder) != reference:
        problems.append("the result differs from the uninterrupted run's")
    return Trial(delay, half_done, len(kept), [f"kill at {delay:.2f} s: {p}" for p in problems])


@pytest.fixture(scope="module")
def startup() -> float:
    """Seconds a process spends importing the package before any work starts (a kill there proves little)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import seqgap_lab.app.cli, seqgap_lab.training.runs, seqgap_lab.sweeps.runner"],
                   check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return time.perf_counter() - start


@pytest.mark.parametrize("name", ["training", "data preparation", "sweep"])
def test_sigkill_at_random_points_then_rerun_recovers(name, tmp_path, capsys, startup):
    work = _works(tmp_path)[name]
    seconds = _complete(work, tmp_path / "uninterrupted")
    reference = work.result(tmp_path / "uninterrupted")
    rng = random.Random(f"kill-{name}")  # seeded: the same kill points on every run
    delays = sorted(startup + rng.uniform(0.05, 0.95) * max(seconds - startup, 0.1) for _ in range(KILLS))
    # The kill points run side by side, each in its own folder; one single-threaded process per core, so each
    # runs at the pace the delays were measured at.
    with ThreadPoolExecutor(min(len(delays), os.cpu_count() or 1)) as pool:
        trials = list(pool.map(lambda i: _recover(work, tmp_path / f"killed-{i}", delays[i], reference),
                               range(len(delays))))
    problems = [p for t in trials for p in t.problems]
    with capsys.disabled():
        print(f"\nkill points ({name}): {len(trials)} tried, {sum(not t.problems for t in trials)} recovered; "
              f"killed at {', '.join(f'{t.delay:.1f}' for t in trials)} s of {seconds:.1f} s, "
              f"{sum(t.half_done for t in trials)} temp file(s)/folder(s) of killed writers cleaned up, "
              f"{sum(t.kept for t in trials)} finished file(s) kept unchanged" + ("" if problems else ", nothing lost"))
    assert not problems, problems


def test_the_next_write_removes_a_killed_writers_temp_file(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # the first is c.pt's, from a dead writer; the second belongs to another file, c.pt.7
    leftovers = [tmp_path / f".c.pt.{dead.pid}.k1ll3d00.tmp", tmp_path / f".c.pt.7.{dead.pid}.other000.tmp"]
    alive = tmp_path / f".c.pt.{os.getpid()}.writing0.tmp"  # a live writer's: never touched
    for path in (*leftovers, alive):
        path.write_bytes(b"half a checkpoint")
    atomic_write_bytes(tmp_path / "c.pt", b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c.pt", alive.name, leftovers[1].name])
