"""reports/index.html: one row per notebook with its status, run time, seeds, headline numbers and its key
figure as a thumbnail (copied into reports/<stem>/ so that the reports folder opens offline on its own)."""
from __future__ import annotations

import datetime
import html
import numbers
import subprocess
from pathlib import Path
from typing import Any, Mapping

from seqgap_lab.core import paths
from seqgap_lab.core.cache import atomic_write_bytes, atomic_write_text

# The figure that best shows each notebook's result; a notebook not listed (or whose figure is missing)
# shows its first figure in name order. A summary may name its own with the key "key_figure".
KEY_FIGURES = {"01_error_compounding": "per_position_error", "02_nmt_long_sentences": "scores_by_bucket",
               "03_scheduled_sampling": "grid", "04_minimum_risk_training": "reverse_cells",
               "05_self_distillation": "greedy_vs_beam", "06_beam_search_length_penalty": "nmt_beam_size",
               "07_contrastive_decoding": "metrics_by_length", "08_strategies_across_lengths": "synthetic_exact_match",
               "09_decision_guide": "decision_guide", "11_speech_ctc_vs_transducer": "cer_by_bucket"}
META_KEYS = ("profile", "device", "seeds", "elapsed_s", "peak_ram_mb", "peak_gpu_mb", "key_figure")
MAX_LINES = 14  # headline lines shown per notebook; the rest stay in its summary.json

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.4em .7em;vertical-align:top;text-align:left}
th{background:#f3f3f3}.ok{color:#1a7f37;font-weight:600}.failed{color:#c62828;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}.err{color:#c62828;font-family:monospace}
.headline{font-family:monospace;white-space:pre-line;font-size:85%}.meta td,.meta th{border:none;padding:.1em .7em .1em 0}
img.thumb{max-width:260px;max-height:200px;border:1px solid #ddd}"""


def git_revision(root: Path | None = None) -> str:
    """Short git revision of the checkout, with '+dirty' if it has changes; 'unknown' outside git."""
    root = root or paths.project_root()
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        if rev.returncode != 0 or not rev.stdout.strip():
            return "unknown"
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                                text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    dirty = status.returncode == 0 and bool(status.stdout.strip())
    return rev.stdout.strip() + ("+dirty" if dirty else "")


def flatten_summary(summary: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Scalar values of a (nested) summary as (dotted key, formatted value) pairs; floats to 4 significant digits."""
    items: list[tuple[str, str]] = []
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items.extend(flatten_summary(value, prefix=f"{name}."))
        elif value is None or isinstance(value, (bool, str, numbers.Number)):
            items.append((name, _format_scalar(value)))
    return items


def _format_scalar(value: Any) -> str:
    """Human-readable scalar: floats rounded to 4 significant digits, None as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def headline_lines(summary: Mapping[str, Any], limit: int = MAX_LINES) -> tuple[list[str], int]:
    """The first `limit` headline numbers (run metadata and per-seed spreads left out) and how many more exist."""
    lines = [f"{k} = {v}" for k, v in flatten_summary({k: v for k, v in summary.items() if k not in META_KEYS})
             if not k.endswith(("_seed_sd", "_per_seed"))]
    return lines[:limit], max(0, len(lines) - limit)


def thumbnail(stem: str, summary: Mapping[str, Any]) -> str | None:
    """Copy the notebook's key figure to reports/<stem>/key_figure.png; its path relative to reports/, or None."""
    folder = paths.figures_dir(stem)
    wanted = summary.get("key_figure") or KEY_FIGURES.get(stem)
    figure = folder / f"{wanted}.png" if wanted else None
    if figure is None or not figure.is_file():
        found = sorted(folder.glob("*.png")) if folder.is_dir() else []
        figure = found[0] if found else None
    if figure is None:
        return None
    atomic_write_bytes(paths.reports_dir(stem) / "key_figure.png", figure.read_bytes())
    return f"{stem}/key_figure.png"


def build_index(records: list[Mapping[str, Any]], profile: str, device: Any) -> Path:
    """Write reports/index.html: each notebook linked to its HTML, with status, time, seeds, headline numbers
    and a thumbnail of its key figure."""
    esc = html.escape
    num_ok = sum(r.get("status") == "ok" for r in records)
    total = sum(r.get("elapsed_s") or 0.0 for r in records)
    meta = [("profile", profile), ("device", device), ("date", _now()), ("git revision", git_revision()),
            ("notebooks", f"{num_ok} ok / {len(records)}"), ("total run time", f"{total / 60:.1f} min"),
            ("offline", offline_note(records))]
    meta_rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in meta)
    rows = "\n".join(_index_row(r) for r in records) or '<tr><td colspan="6">no notebooks were run</td></tr>'
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>seqgap-lab report</title>
<style>{_CSS}</style></head><body>
<h1>seqgap-lab report</h1>
<table class="meta">
{meta_rows}
</table>
<h2>Notebooks</h2>
<table>
<tr><th>notebook</th><th>status</th><th>time (s)</th><th>seeds</th><th>key figure</th><th>headline numbers</th></tr>
{rows}
</table>
</body></html>
"""
    return atomic_write_text(paths.reports_dir() / "index.html", page)


def offline_note(records: list[Mapping[str, Any]]) -> str:
    """Whether the pages render widgets and math with no network (their assets under assets/), in words."""
    pages = [bool(r.get("offline")) for r in records if r.get("html")]
    if pages and all(pages):
        return "yes: widgets and math load from assets/ beside this page (copy the whole folder)"
    missing = "widgets and math load from the network; `make setup` (needs npm) installs the offline assets"
    return f"no: {missing}" if not any(pages) else f"partly ({sum(pages)} of {len(pages)} pages): {missing}"


def _index_row(record: Mapping[str, Any]) -> str:
    """One <tr> of the index for a notebook record."""
    esc = html.escape
    stem = str(record.get("stem", "?"))
    summary = record.get("summary") or {}
    link = record.get("html", f"{stem}/{stem}.html")
    name = f'<a href="{esc(link, quote=True)}">{esc(stem)}</a>' if link else esc(stem)
    if record.get("slides"):
        name += f'<br><a class="slides" href="{esc(record["slides"], quote=True)}">slides</a>'
    status = str(record.get("status", "?"))
    elapsed = record.get("elapsed_s")
    elapsed_txt = f"{elapsed:.1f}" if isinstance(elapsed, (int, float)) else ""
    lines, more = headline_lines(summary)
    if more:
        lines.append(f"... {more} more in summary.json")
    cell = f'<div class="headline">{esc(chr(10).join(lines))}</div>'
    if summary:
        cell += f'<a href="{esc(stem, quote=True)}/summary.json">summary.json</a>'
    if record.get("error"):
        cell = f'<div class="err">{esc(str(record["error"]))}</div>' + cell
    thumb = thumbnail(stem, summary) if status == "ok" else None
    figure = f'<a href="{esc(thumb, quote=True)}"><img class="thumb" src="{esc(thumb, quote=True)}" alt="{esc(stem)}"></a>' \
        if thumb else ""
    seeds = esc(str(summary.get("seeds", ""))) if summary.get("seeds") is not None else ""
    return (f'<tr><td>{name}</td><td class="{esc(status, quote=True)}">{esc(status)}</td>'
            f'<td class="num">{elapsed_txt}</td><td>{seeds}</td><td>{figure}</td><td>{cell}</td></tr>')


def _now() -> str:
    """Local date and time with the zone, for the index page."""
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def merge_records(previous: list[Mapping[str, Any]], fresh: list[Mapping[str, Any]]) -> list[dict]:
    """`report --only`: the fresh records replace earlier ones of the same notebook, the others are kept; in
    notebook order."""
    by_stem = {str(r.get("stem")): dict(r) for r in previous}
    by_stem.update({str(r.get("stem")): dict(r) for r in fresh})
    return [by_stem[k] for k in sorted(by_stem)]
