"""`seqgap-lab report --executor ray`: notebooks as Ray tasks in waves (01/02 first, 09 after 06/07), the same
summaries and index as the serial report. Tiny notebooks in a fake checkout; a local cluster started and stopped
here (never `ray stop`)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from test_report import _write_notebook, tmp_root  # noqa: F401 (a fixture)

from seqgap_lab.app import report, report_ray
from seqgap_lab.sweeps.executors import ExecutorConfig

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray not installed (dev extra has it)")


def _cell(stem: str, body: str) -> str:
    return ("import json, os\nimport seqgap_lab.core.session as s\n"
            f"{body}\n"
            f"s.write_summary({stem!r}, {{'profile': profile, 'x': x, 'threads': os.environ.get('SEQGAP_TORCH_THREADS')}})")


def test_waves_put_parents_first_and_the_guide_last():
    stems = ["01_a", "02_b", "03_c", "06_d", "07_e", "09_f", "11_g"]
    got = report_ray.waves([Path(f"{s}.ipynb") for s in stems])
    assert [[p.stem for p in wave] for wave in got] == [["01_a", "02_b"], ["03_c", "06_d", "07_e", "11_g"], ["09_f"]]


@needs_ray
@pytest.mark.notebook
def test_ray_report_equals_the_serial_one(tmp_root):  # noqa: F811
    nb = tmp_root / "notebooks"
    _write_notebook(nb / "01_one.ipynb", _cell("01_one", "x = 1"))
    _write_notebook(nb / "06_six.ipynb", _cell("06_six", "x = 6"))
    # 09 reads 06's summary: run before it, it fails
    reads = "x = 3 + json.load(open(os.path.join(os.environ['SEQGAP_REPORTS_DIR'], '06_six', 'summary.json')))['x']"
    _write_notebook(nb / "09_nine.ipynb", _cell("09_nine", reads))
    serial = report.run_report(profile="smoke")
    serial_x = {r["stem"]: r["summary"]["x"] for r in serial}
    assert serial_x == {"01_one": 1, "06_six": 6, "09_nine": 9}
    on_ray = report.run_report(profile="smoke", executor=ExecutorConfig(kind="ray"))
    assert [(r["stem"], r["status"]) for r in on_ray] == [("01_one", "ok"), ("06_six", "ok"), ("09_nine", "ok")]
    assert {r["stem"]: r["summary"]["x"] for r in on_ray} == serial_x
    assert {r["summary"]["threads"] for r in on_ray} == {"1"}, "each kernel is capped at its task's CPUs"
    saved = json.loads((tmp_root / "reports" / "report.json").read_text())
    assert [r["stem"] for r in saved["records"]] == ["01_one", "06_six", "09_nine"]
    assert "09_nine" in (tmp_root / "reports" / "index.html").read_text()
