"""report.py: summaries, notebook discovery, papermill runs and the index page, all inside tmp dirs."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from helpers import REPO_ROOT

from seqgap_lab.app import report
from seqgap_lab.core.config import ConfigError
from seqgap_lab.core import session

matplotlib.use("Agg")


@pytest.fixture
def tmp_root(tmp_path, monkeypatch):
    """A fake checkout in tmp_path with every output folder redirected into it."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'fake'\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv("SEQGAP_ROOT", str(tmp_path))
    monkeypatch.setenv("SEQGAP_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("SEQGAP_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(tmp_path / "data"))
    # Kernels inherit the environment: let them import this checkout even if it is not installed.
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    return tmp_path


def _write_notebook(path: Path, *sources: str) -> Path:
    """A python3 notebook: a `parameters` cell with profile, then one code cell per source."""
    cells = [nbformat.v4.new_markdown_cell("# tiny"),
             nbformat.v4.new_code_cell('profile = "default"', metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(src) for src in sources]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.write(nb, path)
    return path


SUMMARY_CELL = ('import seqgap_lab.core.session\n'
                'seqgap_lab.core.session.write_summary("00_tiny", {"x": 1.5, "profile": profile})')


def test_write_summary_round_trip(tmp_root):
    summary = {"bleu": np.float32(0.25), "count": np.int64(3), "ok": np.bool_(True), "name": "gru",
               "nested": {"a": 1, "b": [0.5, None]}, "nan": float("nan")}
    path = session.write_summary("01_x", summary)
    assert path == tmp_root / "reports" / "01_x" / "summary.json"
    loaded = json.loads(path.read_text())
    assert loaded == {"bleu": 0.25, "count": 3, "ok": True, "name": "gru",
                      "nested": {"a": 1, "b": [0.5, None]}, "nan": None}
    assert type(loaded["count"]) is int


def test_write_summary_rejects_unserialisable(tmp_root):
    with pytest.raises(TypeError, match="'model'"):
        session.write_summary("01_x", {"model": object()})
    with pytest.raises(TypeError, match="'cfg.inner'"):
        session.write_summary("01_x", {"cfg": {"inner": {1, 2}}})
    with pytest.raises(ValueError, match="stem"):
        session.write_summary("../escape", {"x": 1})
    assert not (tmp_root / "reports" / "01_x" / "summary.json").exists()


def test_discover_notebooks_order_and_filter(tmp_root):
    nb_dir = tmp_root / "notebooks"
    for name in ("10_c.ipynb", "02_b.ipynb", "01_a.ipynb", "notes.ipynb", "3_bad.ipynb", "04_x.txt"):
        (nb_dir / name).write_text("{}")
    assert [p.name for p in report.discover_notebooks(None)] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]
    assert [p.stem for p in report.discover_notebooks(["02"])] == ["02_b"]
    assert [p.stem for p in report.discover_notebooks(["10_c", "1"])] == ["01_a", "10_c"]
    assert [p.stem for p in report.discover_notebooks(["02_b.ipynb"])] == ["02_b"]


def test_discover_notebooks_unknown_name(tmp_root):
    (tmp_root / "notebooks" / "01_a.ipynb").write_text("{}")
    with pytest.raises(ConfigError, match=r"'99_nope'.*available: 01_a"):
        report.discover_notebooks(["01", "99_nope"])


@pytest.mark.notebook
def test_run_notebook_ok(tmp_root):
    nb = _write_notebook(tmp_root / "notebooks" / "00_tiny.ipynb", SUMMARY_CELL)
    record = report.run_notebook(nb, "smoke", tmp_root / "reports")
    assert record["status"] == "ok", record["error"]
    assert record["error"] is None
    assert record["summary"] == {"x": 1.5, "profile": "smoke"}
    out = tmp_root / "reports" / "00_tiny"
    assert (out / "00_tiny.ipynb").is_file()
    page = (out / "00_tiny.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "summary.json" in page  # the cell's output
    assert record["html"] == "00_tiny/00_tiny.html"


@pytest.mark.notebook
def test_run_notebook_failure_is_one_line(tmp_root):
    nb = _write_notebook(tmp_root / "notebooks" / "00_tiny.ipynb", 'raise ValueError("bad")')
    stale = tmp_root / "reports" / "00_tiny" / "summary.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"x": 0}')
    record = report.run_notebook(nb, "smoke", tmp_root / "reports", parameters={"seed": 1})
    assert record["status"] == "failed"
    assert record["error"] == "ValueError: bad"
    assert record["summary"] == {}, "a stale summary from an earlier run must not be reported"
    assert (tmp_root / "reports" / "00_tiny" / "00_tiny.ipynb").is_file()
    assert (tmp_root / "reports" / "00_tiny" / "00_tiny.html").is_file()


def test_build_index(tmp_root):
    records = [
        {"stem": "00_tiny", "status": "ok", "elapsed_s": 1.234, "error": None, "html": "00_tiny/00_tiny.html",
         "summary": {"x": 1.5, "bleu": 0.123456789, "by_len": {"long": 12345.678}, "curve": [1, 2]}},
        {"stem": "01_<b>", "status": "failed", "elapsed_s": 0.5, "error": "ValueError: a < b",
         "html": None, "summary": {}},
    ]
    index = report.build_index(records, "smoke", "cpu (2 threads)")
    assert index == tmp_root / "reports" / "index.html"
    page = index.read_text()
    assert '<a href="00_tiny/00_tiny.html">00_tiny</a>' in page
    assert "x = 1.5" in page and "bleu = 0.1235" in page and "by_len.long = 1.235e+04" in page
    assert "curve" not in page
    assert "ValueError: a &lt; b" in page and "01_&lt;b&gt;" in page
    assert "cpu (2 threads)" in page and "smoke" in page and "1 ok / 2" in page


def test_index_shows_seeds_a_thumbnail_and_caps_the_headline(tmp_root):
    from seqgap_lab.core import paths
    from seqgap_lab.views import plots

    fig = plt.figure()
    plots.save_figure(fig, "01_error_compounding", "per_position_error")
    plots.save_figure(fig, "01_error_compounding", "another")
    summary = {"profile": "smoke", "seeds": [0, 1], "device": "cpu", **{f"k{i:02d}": i for i in range(20)},
               "x_per_seed": [1, 2], "x_seed_sd": 0.5}
    records = [{"stem": "01_error_compounding", "status": "ok", "elapsed_s": 2.0, "error": None,
                "html": "01_error_compounding/01_error_compounding.html", "summary": summary}]
    page = report.build_index(records, "smoke", "cpu").read_text()
    thumb = paths.reports_dir("01_error_compounding") / "key_figure.png"
    assert thumb.read_bytes() == (paths.figures_dir("01_error_compounding") / "per_position_error.png").read_bytes()
    assert 'src="01_error_compounding/key_figure.png"' in page and "[0, 1]" in page
    assert "k13 = 13" in page and "k14 = 14" not in page and "... 6 more in summary.json" in page
    assert "x_seed_sd" not in page and "device = cpu" not in page


def test_merge_records_keeps_the_notebooks_not_rerun():
    old = [{"stem": "01_a", "elapsed_s": 1.0}, {"stem": "02_b", "elapsed_s": 2.0}]
    merged = report.merge_records(old, [{"stem": "02_b", "elapsed_s": 9.0}, {"stem": "00_c", "elapsed_s": 3.0}])
    assert [(r["stem"], r["elapsed_s"]) for r in merged] == [("00_c", 3.0), ("01_a", 1.0), ("02_b", 9.0)]


def test_run_report_rejects_unknown_profile(tmp_root):
    with pytest.raises(ConfigError, match="profile"):
        report.run_report(profile="huge")


@pytest.mark.notebook
def test_run_report_end_to_end(tmp_root):
    _write_notebook(tmp_root / "notebooks" / "00_tiny.ipynb", SUMMARY_CELL)
    records = report.run_report(profile="smoke", only=["00"])
    assert [(r["stem"], r["status"]) for r in records] == [("00_tiny", "ok")]
    saved = json.loads((tmp_root / "reports" / "report.json").read_text())
    assert saved["profile"] == "smoke" and saved["records"][0]["summary"]["profile"] == "smoke"
    page = (tmp_root / "reports" / "index.html").read_text()
    assert "x = 1.5" in page and "smoke" in page
    # --only keeps the notebooks of an earlier run of the same profile in the index
    saved["records"].append({"stem": "99_other", "status": "ok", "elapsed_s": 1.0, "summary": {}, "html": None})
    (tmp_root / "reports" / "report.json").write_text(json.dumps(saved))
    report.run_report(profile="smoke", only=["00"])
    assert "99_other" in (tmp_root / "reports" / "index.html").read_text()


@pytest.mark.notebook
def test_slides_with_the_report_and_from_it_later(tmp_root):
    _write_notebook(tmp_root / "notebooks" / "00_tiny.ipynb", SUMMARY_CELL)
    records = report.run_report(profile="smoke", only=["00"], make_slides=True)
    deck = tmp_root / "reports" / "00_tiny" / "00_tiny.slides.html"
    assert records[0]["slides"] == "00_tiny/00_tiny.slides.html" and deck.is_file()
    assert records[0]["offline"] is False, "this fake checkout has no web assets"
    page = (tmp_root / "reports" / "index.html").read_text()
    assert 'class="slides" href="00_tiny/00_tiny.slides.html"' in page and "offline</th><td>no:" in page
    deck.unlink()  # `make slides` later: decks rebuilt from the executed notebooks, nothing rerun
    executed = tmp_root / "reports" / "00_tiny" / "00_tiny.ipynb"
    before = executed.stat().st_mtime_ns
    done = report.run_slides(["00"])
    assert [r["stem"] for r in done] == ["00_tiny"] and deck.is_file()
    assert executed.stat().st_mtime_ns == before
    assert json.loads((tmp_root / "reports" / "report.json").read_text())["records"][0]["slides"] is not None


def test_run_slides_without_a_report_says_what_to_run(tmp_root):
    _write_notebook(tmp_root / "notebooks" / "00_tiny.ipynb", SUMMARY_CELL)
    with pytest.raises(FileNotFoundError, match="make report"):
        report.run_slides()
