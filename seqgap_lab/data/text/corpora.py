"""Real corpora under data/corpora/: prepare (atomically, with a manifest), check and load them.

bible      Spanish RV1909 -> English WEB verse pairs; train / dev / test (held-out verses) /
           test_ood (the poetry and wisdom books, never in training)
modernize  English KJV -> English WEB verse pairs; train / dev / test
code       Python functions of the CPython standard library, split by file; train / dev / test
prose      WEB text as ~200-word passages, split by book; train / dev / test
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from seqgap_lab.core import paths
from seqgap_lab.core.cache import atomic_write_json, file_lock, swap_in_folder, writer_dead, writer_tag
from seqgap_lab.data.text import byo
from seqgap_lab.data.text.builders import BUILDERS, CorpusUnavailable, check_sources

CORPORA = ("bible", "modernize", "code", "prose")
SPLITS = {"bible": ("train", "dev", "test", "test_ood"), "modernize": ("train", "dev", "test"),
          "code": ("train", "dev", "test"), "prose": ("train", "dev", "test")}
_TMP_PREFIX, _OLD_PREFIX = ".tmp-", ".old-"

__all__ = ["CORPORA", "SPLITS", "CorpusUnavailable", "available", "corpus_dir", "ensure", "load_code",
           "load_parallel", "load_prose", "load_refs", "manifest", "prepare"]


def corpora_dir() -> Path:
    """data/corpora ($SEQGAP_DATA_DIR/corpora)."""
    path = paths.data_dir() / "corpora"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_name(name: str) -> str:
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; expected one of {' | '.join(CORPORA)}")
    return name


def corpus_dir(name: str) -> Path:
    """Where a prepared corpus lives: data/corpora/<name>/."""
    return corpora_dir() / _check_name(name)


def available(name: str) -> bool:
    """True when the corpus is prepared and complete (its manifest is written last, inside the renamed folder)."""
    return (corpus_dir(name) / "manifest.json").is_file()


def manifest() -> dict:
    """The aggregate manifest data/corpora/manifest.json ({"corpora": {name: entry}}; empty if none)."""
    path = corpora_dir() / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {"corpora": {}}


def _make_readable(path: Path, mode: int) -> None:
    """mkdtemp and the atomic writers create owner-only (0700/0600) entries; a shared data/ wants them readable."""
    with contextlib.suppress(OSError):
        os.chmod(path, mode)


def _remove_stale(root: Path) -> None:
    """Delete temporary folders left by a prepare that was killed (its pid is in the folder name)."""
    for path in root.iterdir():
        if not path.name.startswith((_TMP_PREFIX, _OLD_PREFIX)) or not path.is_dir():
            continue
        with contextlib.suppress(ValueError, IndexError):
            if writer_dead(path.name.split("-")[2]):
                shutil.rmtree(path, ignore_errors=True)


def _install(name: str, tmp: Path) -> None:
    """Move a finished corpus into place, replacing an older one (which is gone only after the rename)."""
    swap_in_folder(tmp, corpus_dir(name), f"{_OLD_PREFIX}{name}-")


def _write_aggregate() -> None:
    """Rebuild data/corpora/manifest.json from each complete corpus's own manifest."""
    # Locked: two corpora prepared at once must not each write an aggregate that misses the other one.
    with file_lock(paths.data_dir() / "locks" / "corpora-manifest"):
        entries = {}
        for name in CORPORA:
            own = corpus_dir(name) / "manifest.json"
            if own.is_file():
                entries[name] = json.loads(own.read_text())
        _make_readable(atomic_write_json(corpora_dir() / "manifest.json", {"corpora": entries}), 0o644)


def _prepare_one(name: str, force: bool, progress: bool) -> dict:
    if available(name) and not force:
        entry = json.loads((corpus_dir(name) / "manifest.json").read_text())
        if manifest()["corpora"].get(name) != entry:  # killed between installing the corpus and the aggregate
            _write_aggregate()
        return entry
    check_sources(name)
    # The lock lives in data/locks/, not beside the corpus: data/corpora/ holds only corpora and the manifest.
    with file_lock(paths.data_dir() / "locks" / f"corpus-{name}", f"preparing the {name} corpus"):
        if available(name) and not force:  # prepared by another process while this one waited
            return json.loads((corpus_dir(name) / "manifest.json").read_text())
        return _build(name, progress)


def _build(name: str, progress: bool) -> dict:
    """Build a corpus in a temporary folder, then move it into place and update the aggregate manifest."""
    root = corpora_dir()
    _remove_stale(root)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f"{_TMP_PREFIX}{name}-{writer_tag()}-"))
    try:
        _make_readable(tmp, 0o755)
        entry = BUILDERS[name](tmp, progress)
        # The corpus's own manifest is written last: a folder without it is never taken as complete.
        _make_readable(atomic_write_json(tmp / "manifest.json", entry), 0o644)
        _install(name, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_aggregate()
    return entry


def prepare(name: str = "all", force: bool = False, progress: bool = True) -> dict[str, dict]:
    """Prepare one corpus or all of them ({name: manifest entry}); a prepared one is kept unless force=True."""
    names = CORPORA if name == "all" else (_check_name(name),)
    return {n: _prepare_one(n, force, progress) for n in names}


def ensure(name: str) -> Path:
    """The corpus folder, preparing the corpus first if it is missing."""
    if not available(name):
        _prepare_one(name, force=False, progress=True)
    return corpus_dir(name)


def _split_path(name: str, split: str, suffix: str) -> Path:
    if split not in SPLITS[_check_name(name)]:
        raise ValueError(f"unknown split {split!r} of corpus {name!r}; expected one of {' | '.join(SPLITS[name])}")
    return ensure(name) / f"{split}{suffix}"


def load_parallel(name: str, split: str) -> list[tuple[str, str]]:
    """(source, target) pairs of the bible (es -> en) or modernize (KJV -> WEB) corpus."""
    if name not in ("bible", "modernize"):
        raise ValueError(f"corpus {name!r} is not parallel; expected bible | modernize")
    return byo.load_parallel_tsv(_split_path(name, split, ".tsv"))


def load_refs(name: str, split: str) -> list[str]:
    """Provenance of each example, line-aligned with the split: 'Gen 1:1' (first verse for prose)."""
    if name not in ("bible", "modernize", "prose"):
        raise ValueError(f"corpus {name!r} has no verse references; expected bible | modernize | prose")
    return _split_path(name, split, ".ref").read_text(encoding="utf-8").splitlines()


def load_code(split: str) -> list[dict]:
    """Standard-library functions: dicts with code, file (relative to the stdlib), line (1-based), name."""
    with _split_path("code", split, ".jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def load_prose(split: str) -> list[str]:
    """WEB passages of about 200 words, one string each, in canonical order."""
    return _split_path("prose", split, ".txt").read_text(encoding="utf-8").splitlines()
