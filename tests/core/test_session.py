"""core/session.py: the one setup every notebook runs (device, thread rule, timer) and its summary.json."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from seqgap_lab.core import session
from seqgap_lab.core.config import ConfigError

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("profile, step_bound, threads", [
    ("smoke", False, 1), ("default", False, None), ("full", False, None),
    ("smoke", True, 1), ("default", True, 1), ("full", True, None)])
def test_one_thread_rule(profile, step_bound, threads):
    assert session.cpu_threads(profile, step_bound) == threads


def test_thread_rule_rejects_bad_input():
    with pytest.raises(ConfigError, match="smoke"):
        session.cpu_threads("quick")
    with pytest.raises(ConfigError, match="step_bound"):
        session.cpu_threads("smoke", step_bound=1)


def test_start_applies_the_rule_and_writes_a_complete_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGAP_REPORTS_DIR", str(tmp_path))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        sess = session.start("01_x", "smoke", device="cpu")
        assert torch.get_num_threads() == 1 and sess.device.type == "cpu" and sess.profile == "smoke"
        torch.set_num_threads(2)
        session.start("01_x", "default", device="cpu")
        assert torch.get_num_threads() == 2, "default keeps torch's thread count"
    finally:
        torch.set_num_threads(before)
    path = sess.write_summary({"results": {"x": 1.5}, "seeds": [0]})
    data = json.loads(path.read_text())
    assert path == tmp_path / "01_x" / "summary.json"
    assert data["profile"] == "smoke" and data["device"].startswith("cpu (") and data["results"] == {"x": 1.5}
    assert data["elapsed_s"] >= 0 and data["peak_ram_mb"] > 0


def test_start_rejects_bad_stem_and_profile():
    with pytest.raises(ValueError, match="stem"):
        session.start("../escape", "smoke")
    with pytest.raises(ConfigError, match="profile"):
        session.start("01_x", "fast")
    with pytest.raises(TypeError, match="dict"):
        session.Session("01_x", "smoke", torch.device("cpu")).write_summary([1, 2])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_uses_the_session(path):
    """The setup and summary lines live in session.py only: one start, one write, no thread or device code."""
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert len(re.findall(r"^sess = session\.start\(STEM, profile[,)]", code, re.M)) == 1
    assert len(re.findall(r"sess\.write_summary\(", code)) == 1
    for gone in ("set_num_threads", "get_device(", "peak_memory_mb", "perf_counter", "report.write_summary"):
        assert gone not in code, f"{path.stem} still has {gone}"


def test_a_ray_task_caps_the_threads_of_a_notebook(monkeypatch):
    monkeypatch.setenv(session.THREADS_ENV, "2")
    assert session.cpu_threads("default") == 2 and session.cpu_threads("full") == 2
    assert session.cpu_threads("smoke") == 1, "the rule's single thread stays"
    monkeypatch.setenv(session.THREADS_ENV, "0")
    with pytest.raises(ConfigError, match="SEQGAP_TORCH_THREADS = '0' is not allowed: expected an integer >= 1"):
        session.cpu_threads("default")
