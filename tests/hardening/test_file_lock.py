"""cache.file_lock across processes: a second process waits and says so, a killed holder leaves no stale lock,
and two processes asking for the same uncached model (a notebook open during `make report`) train it once."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hardening_worker import MODEL, TASK, state_digest, train_config

from seqgap_lab.core.cache import file_lock, load_checkpoint
from seqgap_lab.zoo import synthetic

WORKER = Path(__file__).with_name("hardening_worker.py")
TRAIN_STEPS = 150  # about 1 s of training on one thread: the second process surely asks while the first trains


def _spawn(tmp_path: Path, name: str, *args: str) -> tuple[subprocess.Popen, Path]:
    """Start the worker with its stderr in a file (read while it runs); env carries the test's data folder."""
    err = tmp_path / f"{name}.err"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(WORKER.parent))
    proc = subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE,
                            stderr=err.open("w"), text=True, env=env)
    return proc, err


def _wait_until(condition, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the worker exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        time.sleep(0.01)


def test_a_second_process_waits_for_the_lock_and_says_so(tmp_path):
    target = tmp_path / "thing.pt"
    Path(f"{target}.lock").write_text("")  # a lock file left by an earlier run is simply reused
    with file_lock(target, "training thing"):
        proc, err = _spawn(tmp_path, "waiter", "lock", str(target), str(tmp_path / "held"))
        _wait_until(lambda: "waiting for another process building the test target" in err.read_text(), proc)
        time.sleep(0.2)
        assert not (tmp_path / "held").exists(), "the second process got the lock while the first held it"
    _wait_until(lambda: (tmp_path / "held").exists(), proc)  # released: the waiter gets it
    proc.kill()
    proc.wait(timeout=30)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    target = tmp_path / "thing.pt"
    proc, _ = _spawn(tmp_path, "holder", "lock", str(target), str(tmp_path / "held"))
    _wait_until(lambda: (tmp_path / "held").exists(), proc)
    with open(f"{target}.lock") as fh:  # held: a non-blocking attempt fails
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            raise AssertionError("the lock was free while another process held it")
        except BlockingIOError:
            pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert Path(f"{target}.lock").exists()  # the file stays, but the kernel dropped the lock with the process
    with file_lock(target):
        pass


def test_two_processes_asking_for_one_uncached_model_train_it_once(tmp_path, capsys):
    go = tmp_path / "go"
    workers = [_spawn(tmp_path, f"w{i}", "train", str(TRAIN_STEPS), str(tmp_path / f"ready{i}"), str(go))
               for i in range(2)]
    for i, (proc, _) in enumerate(workers):
        _wait_until(lambda i=i: (tmp_path / f"ready{i}").exists(), proc)
    go.touch()  # both ask for the model now
    results = []
    for proc, err in workers:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.read_text()
        results.append({**json.loads(out.strip().splitlines()[-1]), "stderr": err.read_text()})
    trained = [r for r in results if not r["from_cache"]]
    loaded = [r for r in results if r["from_cache"]]
    assert len(trained) == 1 and len(loaded) == 1, results
    assert "waiting for another process training" in loaded[0]["stderr"], "the loader did not wait for the lock"
    assert trained[0]["digest"] == loaded[0]["digest"], "the two processes hold different weights"
    path = Path(trained[0]["checkpoint"])
    assert state_digest(load_checkpoint(path)["state_dict"]) == trained[0]["digest"]
    here = synthetic.trained_model(TASK, MODEL, train_config(TRAIN_STEPS), device="cpu", progress=False)
    assert here.from_cache and state_digest(here.model.state_dict()) == trained[0]["digest"]
    with capsys.disabled():
        print(f"\nfile lock: {len(results) + 1} processes asked for one uncached model, {len(trained)} trained it, "
              f"{len(loaded) + 1} loaded it (1 after waiting for the lock)")
