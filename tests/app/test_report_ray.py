"""`seqgap-lab report --executor ray`: the waves (01/02 first, 09 after 06/07). The run on a local cluster is in
tests/sweeps/test_ray_executor.py, which starts one cluster for every Ray test."""
from __future__ import annotations

from pathlib import Path

from seqgap_lab.app import report_ray


def test_waves_put_parents_first_and_the_guide_last():
    stems = ["01_a", "02_b", "03_c", "06_d", "07_e", "09_f", "11_g"]
    got = report_ray.waves([Path(f"{s}.ipynb") for s in stems])
    assert [[p.stem for p in wave] for wave in got] == [["01_a", "02_b"], ["03_c", "06_d", "07_e", "11_g"], ["09_f"]]
