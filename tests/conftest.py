"""Shared fixtures: every test writes its data, figures and reports under its own tmp_path; tests that train
smoke-profile LMs on the real corpora get them through `data_dir` (shared helpers that are not fixtures: helpers.py)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from seqgap_lab.data.text import corpora, sword

# The checkout's prepared corpora, and those the corpus-backed LM tests need (the corpus_root fixture). Defined here,
# not in helpers.py, so that loading this conftest imports no more than the package's corpus modules.
CHECKOUT_CORPORA = Path(__file__).resolve().parent.parent / "data" / "corpora"
LM_CORPORA = ("bible", "prose", "code")


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread():
    """The models here are tiny: intra-op threads only add synchronisation, and on a shared 2-core
    machine they spin against other processes (measured: 55 s with 2 threads vs 3 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_output_dirs(tmp_path, monkeypatch):
    """Point SEQGAP_DATA_DIR / SEQGAP_FIGURES_DIR / SEQGAP_REPORTS_DIR at tmp_path subfolders."""
    dirs = {name: tmp_path / sub for name, sub in (("SEQGAP_DATA_DIR", "data"),
                                                   ("SEQGAP_FIGURES_DIR", "figures"),
                                                   ("SEQGAP_REPORTS_DIR", "reports"))}
    for name, path in dirs.items():
        monkeypatch.setenv(name, str(path))
    return dirs


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory):
    """A folder holding prepared corpora: the checkout's (linked, read only) or, failing that, prepared once."""
    if all((CHECKOUT_CORPORA / n / "manifest.json").is_file() for n in LM_CORPORA):
        return CHECKOUT_CORPORA
    missing = sword.missing_modules(("spaRV1909eb", "engWEB2015eb"))
    if missing:
        pytest.skip(f"SWORD modules {missing} not installed (`make system-deps`) and {CHECKOUT_CORPORA} not prepared")
    root = tmp_path_factory.mktemp("lm-corpora")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQGAP_DATA_DIR", str(root))
        for name in LM_CORPORA:
            corpora.prepare(name, progress=False)
    return root / "corpora"


@pytest.fixture
def data_dir(corpus_root, tmp_path, monkeypatch):
    """For tests that train smoke-profile LMs on the real corpora: this test's own data dir, its corpora/ a link to
    the prepared ones (the checkout's, read only); tokenizers and checkpoints are written under it."""
    root = tmp_path / "lmdata"
    root.mkdir()
    os.symlink(corpus_root, root / "corpora")
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(root))
    return root
