"""Regenerate the notebooks with papermill into reports/, convert them to HTML, and index them."""
from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import papermill as pm
import torch
from tqdm.auto import tqdm

from seqgap_lab.app import export, report_lanes, report_ray, slides, web_assets

# The index page lives in report_index.py; re-exported here, where callers and tests have always found it.
from seqgap_lab.app.report_index import build_index, flatten_summary, git_revision, merge_records  # noqa: F401
from seqgap_lab.core import paths
from seqgap_lab.core.cache import atomic_write_json
from seqgap_lab.core.config import ConfigError, check_int, check_profile
from seqgap_lab.core.runtime import device_description, get_device
from seqgap_lab.sweeps.executors import ExecutorConfig

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
_MAX_ERROR_CHARS = 300


def discover_notebooks(only: list[str] | str | None = None) -> list[Path]:
    """The lesson notebooks notebooks/NN_*.ipynb in order, optionally only those named by NN prefix or stem."""
    nb_dir = paths.project_root() / "notebooks"
    found = sorted(nb_dir.glob(NOTEBOOK_GLOB))
    if not only:
        return found
    wanted = [only] if isinstance(only, str) else list(only)
    selected: set[Path] = set()
    for want in wanted:
        matches = [p for p in found if _matches(p, str(want))]
        if not matches:
            available = ", ".join(p.stem for p in found) or "none"
            raise ConfigError(f"notebook {want!r} not found in {nb_dir}; available: {available}")
        selected.update(matches)
    return [p for p in found if p in selected]


def _matches(path: Path, want: str) -> bool:
    """True if `want` names this notebook by NN prefix ('3' or '03'), stem or file name."""
    want = want.strip()
    if want.isdigit():
        return path.stem[:2] == want.zfill(2)
    return want in (path.stem, path.name)


def run_notebook(path: str | os.PathLike, profile: str, out_dir: str | os.PathLike | None = None,
                 parameters: Mapping[str, Any] | None = None, make_slides: bool = False) -> dict:
    """Execute one notebook into <out_dir>/<stem>/ (executed copy, HTML, with make_slides a reveal.js deck) and
    return its record; the pages are offline when the web assets are published in out_dir (web_assets.publish)."""
    path = Path(path).resolve()
    stem = path.stem
    out_root = Path(out_dir) if out_dir is not None else paths.reports_dir()
    stem_dir = out_root / stem
    stem_dir.mkdir(parents=True, exist_ok=True)
    out_nb, out_html, summary_path = stem_dir / f"{stem}.ipynb", stem_dir / f"{stem}.html", stem_dir / "summary.json"
    out_slides = stem_dir / f"{stem}.slides.html"
    # Why delete first: a failed run must not be reported with the previous run's outputs.
    for stale in (out_nb, out_html, out_slides, summary_path):
        stale.unlink(missing_ok=True)
    params = {"profile": profile, **dict(parameters or {})}
    start = time.perf_counter()
    error = _execute(path, out_nb, params, out_root)
    elapsed = time.perf_counter() - start
    offline, pages_error = _export_pages(stem, out_root, make_slides) if out_nb.exists() else (False, None)
    summary, summary_error = _read_summary(summary_path)
    error = error or pages_error or summary_error
    return {"stem": stem, "status": "failed" if error else "ok", "elapsed_s": round(elapsed, 2),
            "error": error, "summary": summary, "offline": offline,
            "html": f"{stem}/{out_html.name}" if out_html.exists() else None,
            "slides": f"{stem}/{out_slides.name}" if out_slides.exists() else None}


def _execute(path: Path, out_nb: Path, params: dict, out_root: Path) -> str | None:
    """Run papermill; None on success, else a one-line 'ExcName: message'."""

    try:
        with _kernel_env(out_root):
            pm.execute_notebook(str(path), str(out_nb), parameters=params, kernel_name="python3",
                                cwd=str(path.parent), progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as exc:
        return _one_line(f"{exc.ename}: {exc.evalue}")
    except Exception as exc:  # kernel start failures, bad metadata, missing files: report, keep going
        return _one_line(f"{type(exc).__name__}: {exc}")
    return None


@contextlib.contextmanager
def _kernel_env(out_root: Path) -> Iterator[None]:
    """Environment the kernel inherits: it writes summaries where we read them and imports this package."""
    saved = {name: os.environ.get(name) for name in ("SEQGAP_REPORTS_DIR", "PYTHONPATH")}
    os.environ["SEQGAP_REPORTS_DIR"] = str(out_root.resolve())
    pkg_parent = Path(__file__).resolve().parent.parent
    earlier = (saved["PYTHONPATH"] or "").split(os.pathsep)
    if (pkg_parent / "pyproject.toml").is_file() and str(pkg_parent) not in earlier:
        # Why: a checkout that is not pip-installed (e.g. the GPU machine) is still importable in the kernel.
        # Added once, so `--jobs` workers entering this side by side all see (and restore) the same value.
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pkg_parent), saved["PYTHONPATH"]]))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _export_pages(stem: str, out_root: Path, make_slides: bool) -> tuple[bool, str | None]:
    """The executed notebook <out_root>/<stem>/<stem>.ipynb to its HTML page and, with make_slides, its deck:
    (offline, None) on success, else (offline, a one-line error)."""
    executed = out_root / stem / f"{stem}.ipynb"
    try:  # a broken export must not hide the other notebooks' results: it goes into the record
        offline = export.to_html(executed, executed.with_suffix(".html"), out_root)
    except Exception as exc:
        return False, _one_line(f"HTML export failed: {type(exc).__name__}: {exc}")
    if make_slides:
        try:
            slides.build_deck(stem, out_root)
        except Exception as exc:
            return offline, _one_line(f"slides export failed: {type(exc).__name__}: {exc}")
    return offline, None


def _read_summary(summary_path: Path) -> tuple[dict, str | None]:
    """The notebook's summary.json as a dict ({} if absent) and a one-line error if it is unreadable."""
    if not summary_path.is_file():
        return {}, None
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, _one_line(f"unreadable {summary_path.name}: {type(exc).__name__}: {exc}")
    if not isinstance(summary, dict):
        return {}, f"{summary_path.name} holds a {type(summary).__name__}, expected an object"
    return summary, None


def _one_line(text: str) -> str:
    """Collapse whitespace runs with newlines and cap the length, for status lines and the index."""
    text = re.sub(r"\s*\n\s*", " ", str(text)).strip()
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def run_report(profile: str | None = None, only: list[str] | str | None = None,
               parameters: Mapping[str, Any] | None = None, make_slides: bool = False,
               executor: ExecutorConfig | None = None, jobs: int = 1) -> list[dict]:
    """Run the notebooks (profile: 'full' on a GPU, else 'default'), index them, return the records; with
    make_slides each notebook gets a reveal.js deck beside its HTML. executor kind 'ray' runs them as Ray tasks
    (app/report_ray.py); 'serial' (the default) runs them here, one after the other, or `jobs` at a time, each with
    its share of the cores (app/report_lanes.py)."""
    executor = executor or ExecutorConfig()
    check_int("run_report", "jobs", jobs, 1, 64)
    if jobs > 1 and executor.kind != "serial":
        raise ConfigError(f"run_report: jobs = {jobs} runs notebooks side by side on this machine; with executor "
                          f"{executor.kind!r} set cpus_per_task instead (or jobs = 1)")
    if profile is None:
        profile = "full" if torch.cuda.is_available() else "default"
    check_profile(profile)
    notebooks = discover_notebooks(only)
    if not notebooks:
        print(f"no notebooks matching {NOTEBOOK_GLOB} in {paths.project_root() / 'notebooks'}")
    out_root = paths.reports_dir()
    publish_assets(out_root)
    if executor.kind == "ray" and notebooks:
        records = report_ray.run(notebooks, profile, out_root, parameters, make_slides, executor, run_notebook)
    elif jobs > 1 and notebooks:
        with _kernel_env(out_root):  # set once around the workers, which all need the same values
            records = report_lanes.run(notebooks, profile, out_root, parameters, make_slides, jobs, run_notebook,
                                       _status_line)
    else:
        records = []
        for nb in tqdm(notebooks, desc=f"notebooks ({profile})", unit="nb"):
            record = run_notebook(nb, profile, out_root, parameters, make_slides)
            tqdm.write(_status_line(record))
            records.append(record)
    device = device_description(get_device())
    saved = out_root / "report.json"
    if only and saved.is_file():  # --only: keep the other notebooks of an earlier run of the same profile
        earlier = json.loads(saved.read_text())
        if earlier.get("profile") == profile:
            records = merge_records(earlier.get("records", []), records)
    index = build_index(records, profile, device)
    atomic_write_json(out_root / "report.json", {"profile": profile, "device": device,
                                                 "git_revision": git_revision(), "records": records})
    print(f"index: {index}")
    return records


def run_slides(only: list[str] | str | None = None) -> list[dict]:
    """Decks (and refreshed HTML pages) from the executed notebooks of the last report, without running them."""
    wanted = {p.stem for p in discover_notebooks(only)}  # a bad --only is named before anything else
    out_root = paths.reports_dir()
    saved = out_root / "report.json"
    if not saved.is_file():
        raise FileNotFoundError(f"no report in {out_root}: run `make report` (or `seqgap-lab report --slides`) first")
    report = json.loads(saved.read_text(encoding="utf-8"))
    publish_assets(out_root)
    done = []
    for record in report.get("records", []):
        stem = record.get("stem")
        executed = out_root / str(stem) / f"{stem}.ipynb"
        if stem not in wanted or not executed.is_file():
            continue
        record["offline"], pages_error = _export_pages(stem, out_root, make_slides=True)
        deck = out_root / stem / f"{stem}.slides.html"
        record["slides"] = f"{stem}/{deck.name}" if deck.is_file() and not pages_error else None
        record["error"] = record.get("error") or pages_error
        record["status"] = "failed" if record["error"] else record.get("status", "ok")
        tqdm.write(f"{stem:<32} {pages_error or 'slides'}")
        done.append(record)
    if not done:
        raise FileNotFoundError(f"no executed notebook of {sorted(wanted)} in {out_root}: run `make report` first")
    print(f"index: {build_index(report['records'], report.get('profile', '?'), report.get('device', '?'))}")
    atomic_write_json(saved, report)
    return done


def publish_assets(out_root: Path) -> bool:
    """Copy the offline web assets next to the reports; False (saying what to do) when none are installed."""
    if web_assets.publish(out_root) is not None:
        return True
    print(f"note: no offline web assets in {web_assets.assets_dir()}: the pages will load widgets and math from "
          f"the network. `make setup` (or `seqgap-lab assets install`, needs npm) installs them.")
    return False


def _status_line(record: Mapping[str, Any]) -> str:
    """One line per notebook: stem, status, elapsed time and the error if any."""
    line = f"{record['stem']:<32} {record['status']:<6} {record['elapsed_s']:8.1f} s"
    return f"{line}  {record['error']}" if record.get("error") else line
