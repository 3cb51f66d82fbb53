"""Where the suite reads and writes: project root, data/, figures/, reports/."""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout root: $SEQGAP_ROOT, else the nearest parent of cwd holding pyproject.toml and notebooks/."""
    env = os.environ.get("SEQGAP_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for cand in (here, *here.parents):
        if (cand / "pyproject.toml").is_file() and (cand / "notebooks").is_dir():
            return cand
    # Why fall back to the package's parent: an editable install lives in the checkout.
    return Path(__file__).resolve().parent.parent


def _dir(env_name: str, default: str) -> Path:
    path = Path(os.environ.get(env_name) or project_root() / default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Prepared corpora and cached checkpoints ($SEQGAP_DATA_DIR overrides)."""
    return _dir("SEQGAP_DATA_DIR", "data")


def figures_dir(stem: str | None = None) -> Path:
    """Figures, one folder per notebook stem ($SEQGAP_FIGURES_DIR overrides the root)."""
    root = _dir("SEQGAP_FIGURES_DIR", "figures")
    if stem is None:
        return root
    path = root / stem
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_dir(stem: str | None = None) -> Path:
    """Executed notebooks, HTML and summary.json ($SEQGAP_REPORTS_DIR overrides the root)."""
    root = _dir("SEQGAP_REPORTS_DIR", "reports")
    if stem is None:
        return root
    path = root / stem
    path.mkdir(parents=True, exist_ok=True)
    return path
