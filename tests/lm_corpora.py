"""Fixtures for tests that train smoke-profile LMs on the real corpora (as tests/test_lm.py does): the checkout's
prepared corpora linked read only, tokenizers and checkpoints written under the test's own data dir."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqgap_lab.data.text import corpora, sword

CHECKOUT_CORPORA = Path(__file__).resolve().parents[1] / "data" / "corpora"
NEEDED = ("bible", "prose", "code")


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory):
    """A folder holding prepared corpora: the checkout's (linked, read only) or, failing that, prepared once."""
    if all((CHECKOUT_CORPORA / n / "manifest.json").is_file() for n in NEEDED):
        return CHECKOUT_CORPORA
    missing = sword.missing_modules(("spaRV1909eb", "engWEB2015eb"))
    if missing:
        pytest.skip(f"SWORD modules {missing} not installed (`make system-deps`) and {CHECKOUT_CORPORA} not prepared")
    root = tmp_path_factory.mktemp("lm-corpora")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQGAP_DATA_DIR", str(root))
        for name in NEEDED:
            corpora.prepare(name, progress=False)
    return root / "corpora"


@pytest.fixture
def data_dir(corpus_root, tmp_path, monkeypatch):
    """This test's own data dir, its corpora/ a link to the prepared ones."""
    root = tmp_path / "lmdata"
    root.mkdir()
    os.symlink(corpus_root, root / "corpora")
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(root))
    return root
