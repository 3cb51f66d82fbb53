"""The sweep runner: spec validation and safe parsing, cells sharing the studies' cached models, length
buckets, the tidy table, and a sweep killed (SIGKILL) mid-way that restarts into the same table."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqgap_lab.core import paths
from seqgap_lab.app.cli import main
from seqgap_lab.core.config import ConfigError
from seqgap_lab.sweeps.runner import KEY_COLUMNS, ROW_COLUMNS, SweepSpec, load_spec, run_sweep, table_path
from seqgap_lab.sweeps.cells import buckets, recipe
from seqgap_lab.zoo import distillation
from seqgap_lab.zoo import synthetic

TINY = dict(name="tiny", profile="smoke", tasks=["reverse"], models=["gru"], strategies=["tf", "ss", "self_distill"],
            decodings=["greedy", "beam"], seeds=[0])


@pytest.mark.parametrize("change, needle", [
    ({"profile": "huge"}, "'huge'"), ({"tasks": []}, "non-empty list"), ({"tasks": "reverse"}, "non-empty list"),
    ({"models": ["lstm"]}, "SweepSpec.model = 'lstm'"), ({"strategies": ["tf", "tf"]}, "no repeated"),
    ({"strategies": ["dagger"]}, "SweepSpec.strategy = 'dagger'"), ({"decodings": ["nucleus"]}, "'nucleus'"),
    ({"seeds": [-1]}, "SweepSpec.seeds = -1"), ({"seeds": [0.5]}, "0.5"), ({"name": "../x"}, "'../x'"),
    ({"models": ["lm"]}, "'lm'"), ({"steps": 3}, "unknown key(s) ['steps']"),
])
def test_bad_specs_give_one_clear_error(change, needle):
    with pytest.raises(ConfigError) as err:
        SweepSpec.from_dict({**TINY, **change})
    assert needle in str(err.value)


def test_spec_files_parse_safely_in_yaml_and_json(tmp_path, capsys):
    (tmp_path / "s.json").write_text(json.dumps(TINY))
    (tmp_path / "s.yaml").write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in TINY.items()))
    assert load_spec(tmp_path / "s.json") == load_spec(tmp_path / "s.yaml") == SweepSpec.from_dict(TINY)
    (tmp_path / "evil.yaml").write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "broken.json").write_text("{name: ")
    for bad, needle in (("evil.yaml", "not valid YAML"), ("list.yaml", "must hold a mapping"),
                        ("broken.json", "not valid JSON"), ("missing.yaml", "does not exist")):
        assert main(["sweep", str(tmp_path / bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and needle in err and bad in err, err


def test_cells_share_the_studies_cached_models():
    tf = recipe("smoke", "reverse", "gru", "tf", 3)
    assert (tf["task_cfg"], tf["model_cfg"], tf["train_cfg"]) == synthetic.configs("smoke", "reverse", "gru", 3)
    mrt = recipe("smoke", "reverse", "gru", "mrt", 3)
    assert mrt["extra"]["init"] == tf["train_cfg"] and mrt["train_cfg"].strategy == "mrt"
    kd = recipe("smoke", "reverse", "transformer", "seq_kd", 0)
    assert kd["extra"]["targets"].method == "beam" and kd["extra"]["targets"].beam_size == distillation.BEAM
    assert recipe("smoke", "reverse", "gru", "self_distill", 0)["train_cfg"].strategy == "word_kd"
    assert recipe("smoke", "reverse", "gru", "ss", 0)["train_cfg"].strategy_args["schedule"]["name"] == "inverse_sigmoid"


def test_buckets_cover_every_length_and_split_at_the_training_range():
    lengths = np.arange(4, 25)
    got = buckets(lengths, train_max=16)
    assert got[0][0] == 4 and got[-1][1] == 24
    assert all(b[0] == a[1] + 1 for a, b in zip(got, got[1:])), got  # contiguous, no overlap
    assert any(hi == 16 for _, hi in got), got  # no bucket mixes in-range and longer sources
    assert buckets(np.array([5, 5, 5]), train_max=5) == [(5, 5)]


def test_sweep_table_is_tidy_and_counts_every_test_example():
    spec = SweepSpec.from_dict(dict(TINY, strategies=["tf"], decodings=["greedy"]))
    table = run_sweep(spec, progress=False)
    assert list(table.columns) == KEY_COLUMNS + ROW_COLUMNS
    em = table[(table["metric"] == "exact_match")]
    per_bucket, overall = em[em["bucket"] != "all"], em[em["bucket"] == "all"]
    assert per_bucket["count"].sum() == overall["count"].iloc[0] == synthetic.PROFILE_SIZES["smoke"]["num_test"]
    assert em["value"].between(0, 1).all()
    assert per_bucket["beyond_training"].any() and (~per_bucket["beyond_training"]).any()
    assert {"token_error", "decode_seconds", "train_seconds", "exaccerr_pct"} <= set(table["metric"])
    assert pd.read_csv(table_path(spec))["value"].notna().sum() == table["value"].notna().sum()


def test_killed_sweep_restarts_into_the_same_table(tmp_path):
    """SIGKILL once the first cell is on disk, run again, and compare with an uninterrupted sweep in a fresh
    data folder. Rows timing work (*_seconds) are left out: an uninterrupted run times its cells anew."""
    spec_file = tmp_path / "tiny.json"
    spec_file.write_text(json.dumps(TINY))
    env = dict(os.environ, OMP_NUM_THREADS="1", SEQGAP_DATA_DIR=str(tmp_path / "killed"),
               SEQGAP_REPORTS_DIR=str(tmp_path / "killed_reports"))
    cmd = [sys.executable, "-m", "seqgap_lab", "sweep", str(spec_file), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cells = tmp_path / "killed" / "sweeps" / "tiny"
    try:
        deadline = time.monotonic() + 240
        while not list(cells.glob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    done_before = len(list(cells.glob("*.json")))
    assert 1 <= done_before < len(SweepSpec.from_dict(TINY).cells())
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=600).returncode == 0
    resumed = pd.read_csv(Path(env["SEQGAP_REPORTS_DIR"]) / "sweeps" / "tiny.csv")
    assert paths.data_dir() != Path(env["SEQGAP_DATA_DIR"])
    run_sweep(SweepSpec.from_dict(TINY), progress=False)  # uninterrupted, in this test's own fresh data folder
    fresh = pd.read_csv(table_path(SweepSpec.from_dict(TINY)))
    keep = lambda t: t[~t["metric"].str.endswith("_seconds")].reset_index(drop=True)  # noqa: E731
    assert len(keep(fresh)) > 0
    pd.testing.assert_frame_equal(keep(resumed), keep(fresh))
    for cell in cells.glob("*.json"):  # every cell file on disk is whole (atomic writes)
        assert json.loads(cell.read_text())["rows"]
