"""Build each real corpus into a folder: its split files and a manifest entry (sizes, counts, sha256, sources)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from seqgap_lab.data.text import stdlib_code, sword, verses

FORMAT = 1
# Which SWORD modules each corpus reads; code needs none.
REQUIRED_MODULES = {"bible": ("spaRV1909eb", "engWEB2015eb"), "modernize": ("engKJV2006eb", "engWEB2015eb"),
                    "prose": ("engWEB2015eb",), "code": ()}
BIBLE_DEV, BIBLE_TEST = 1000, 2000


class CorpusUnavailable(RuntimeError):
    """The Debian packages a corpus is built from are not installed."""


def check_sources(name: str) -> None:
    """Raise CorpusUnavailable, in one line, when a SWORD module the corpus needs is missing."""
    missing = sword.missing_modules(REQUIRED_MODULES[name])
    if not missing:
        return
    pkgs = " ".join(sword.MODULE_PACKAGES[m] for m in missing)
    raise CorpusUnavailable(
        f"corpus {name!r} needs the Debian package(s) {pkgs} (SWORD module(s) {', '.join(missing)} not found "
        f"under {sword.sword_dir()}): install with `sudo apt-get install -y {pkgs}` (or `make system-deps`), "
        f"or use your own corpus with seqgap_lab.data.text.byo.load_parallel_tsv(path)")


def package_version(package: str) -> str:
    """The installed Debian package version (dpkg-query), or "unknown" off Debian or when not installed."""
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def _module_sources(keys) -> dict:
    confs = sword.installed_modules()
    return {key: {"package": sword.MODULE_PACKAGES[key], "package_version": package_version(sword.MODULE_PACKAGES[key]),
                  "module_version": confs.get(key, {}).get("version", "unknown")} for key in keys}


def write_lines(path: Path, lines) -> None:
    """Write one record per line (UTF-8, '\\n'); a record holding a newline would corrupt the file, so refuse it."""
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            if "\n" in line or "\r" in line:
                raise ValueError(f"{path.name}: a record contains a line break: {line[:60]!r}")
            fh.write(line + "\n")


def _tsv_line(src: str, tgt: str) -> str:
    if "\t" in src or "\t" in tgt or not src or not tgt:
        raise ValueError(f"a pair cannot be written as TSV (tab or empty side): {src[:40]!r} / {tgt[:40]!r}")
    return f"{src}\t{tgt}"


def _file_entry(path: Path) -> dict:
    data = path.read_bytes()
    return {"bytes": len(data), "lines": data.count(b"\n"), "sha256": hashlib.sha256(data).hexdigest()}


def _entry(name: str, folder: Path, counts: dict, sources: dict, stats: dict) -> dict:
    files = {p.name: _file_entry(p) for p in sorted(folder.iterdir()) if p.name != "manifest.json"}
    return {"name": name, "format": FORMAT, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "counts": counts, "files": files, "total_bytes": sum(f["bytes"] for f in files.values()),
            "sources": sources, "stats": stats}


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _length_stats(texts) -> dict:
    words = sorted(len(t.split()) for t in texts)
    return {"median": statistics.median(words), "p99": words[int(0.99 * (len(words) - 1))], "max": words[-1]}


def _write_parallel(folder: Path, splits: dict) -> dict:
    for split, pairs in splits.items():
        write_lines(folder / f"{split}.tsv", (_tsv_line(s, t) for _, s, t in pairs))
        write_lines(folder / f"{split}.ref", (verses.ref(k) for k, _, _ in pairs))
    return {split: len(pairs) for split, pairs in splits.items()}


def build_bible(folder: Path, progress: bool) -> dict:
    """Spanish RV1909 -> English WEB, aligned, with held-out dev/test verses and the poetry books as test_ood."""
    _say(progress, "bible: reading spaRV1909eb and engWEB2015eb")
    src = sword.read_clean("spaRV1909eb")
    # RV1909 numbers a psalm's title as part of verse 1; the WEB keeps it apart as a canonical title.
    tgt = sword.read_clean("engWEB2015eb", keep_titles=True)
    pairs, report = verses.align(src, tgt)
    splits = verses.split_pairs(pairs, BIBLE_DEV, BIBLE_TEST, verses.OOD_BOOKS)
    counts = _write_parallel(folder, splits)
    stats = {"alignment": report, "ood_books": list(verses.OOD_BOOKS), "split_seed": verses.SPLIT_SEED,
             "src_words": _length_stats(s for _, s, _ in pairs), "tgt_words": _length_stats(t for _, _, t in pairs)}
    return _entry("bible", folder, counts, _module_sources(REQUIRED_MODULES["bible"]), stats)


def build_modernize(folder: Path, progress: bool) -> dict:
    """English KJV -> English WEB, aligned like the bible corpus, with held-out dev/test verses."""
    _say(progress, "modernize: reading engKJV2006eb and engWEB2015eb")
    pairs, report = verses.align(sword.read_clean("engKJV2006eb", keep_titles=True),
                                 sword.read_clean("engWEB2015eb", keep_titles=True))
    counts = _write_parallel(folder, verses.split_pairs(pairs, BIBLE_DEV, BIBLE_TEST))
    stats = {"alignment": report, "split_seed": verses.SPLIT_SEED,
             "src_words": _length_stats(s for _, s, _ in pairs), "tgt_words": _length_stats(t for _, _, t in pairs)}
    return _entry("modernize", folder, counts, _module_sources(REQUIRED_MODULES["modernize"]), stats)


def build_prose(folder: Path, progress: bool) -> dict:
    """WEB passages of about 200 words, whole books assigned to train/dev/test."""
    _say(progress, "prose: reading engWEB2015eb")
    found = verses.passages(sword.read_clean("engWEB2015eb", keep_titles=True))
    words: dict[str, int] = {}
    for key, text in found:
        words[key[0]] = words.get(key[0], 0) + len(text.split())
    assignment = verses.split_books(words)
    counts = {}
    for split in ("train", "dev", "test"):
        chosen = [(k, t) for k, t in found if assignment[k[0]] == split]
        write_lines(folder / f"{split}.txt", (t for _, t in chosen))
        write_lines(folder / f"{split}.ref", (verses.ref(k) for k, _ in chosen))
        counts[split] = len(chosen)
    books = {s: sorted(b for b, a in assignment.items() if a == s) for s in ("dev", "test")}
    stats = {"words": sum(words.values()), "books_held_out": books, "passage_words": _length_stats(t for _, t in found)}
    return _entry("prose", folder, counts, _module_sources(REQUIRED_MODULES["prose"]), stats)


def build_code(folder: Path, progress: bool) -> dict:
    """Functions of the running interpreter's standard library, every file's functions in one split."""
    splits, stats = stdlib_code.collect(progress=progress)
    for split, functions in splits.items():
        write_lines(folder / f"{split}.jsonl", (json.dumps(f, ensure_ascii=False) for f in functions))
    lines = sorted(f["code"].count("\n") for fs in splits.values() for f in fs)
    stats["function_lines"] = {"median": statistics.median(lines), "p99": lines[int(0.99 * (len(lines) - 1))],
                               "max": lines[-1]}
    sources = {"python": platform.python_version(), "implementation": platform.python_implementation(),
               "stdlib": str(stdlib_code.stdlib_root())}
    return _entry("code", folder, {s: len(f) for s, f in splits.items()}, sources, stats)


BUILDERS = {"bible": build_bible, "modernize": build_modernize, "code": build_code, "prose": build_prose}
