"""Real corpora: OSIS cleaning on real module text, the prepared corpora (markup, glued words, alignment,
splits, manifest), atomic preparation, missing packages, and the `data prepare` command."""
from __future__ import annotations

import ast
import collections
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import FIXTURES
from pysword.cleaner import OSISCleaner

from seqgap_lab.core import paths
from seqgap_lab.app.cli import main
from seqgap_lab.data.text import builders, corpora, stdlib_code, sword, verses

ALL_MODULES = tuple(sword.MODULE_PACKAGES)
needs_sword = pytest.mark.skipif(
    bool(sword.missing_modules(ALL_MODULES)),
    reason=f"Debian packages {' '.join(sword.MODULE_PACKAGES.values())} not installed (`make system-deps`)")


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory):
    """All four corpora prepared once per session into their own data dir (about 10 s here)."""
    if sword.missing_modules(ALL_MODULES):
        pytest.skip("Debian sword-text-* packages not installed: the real corpora cannot be prepared")
    root = tmp_path_factory.mktemp("prepared-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQGAP_DATA_DIR", str(root))
        corpora.prepare("all", progress=False)
    return root


@pytest.fixture
def prepared(prepared_dir, monkeypatch):
    """Point SEQGAP_DATA_DIR at the session's prepared corpora (read-only use)."""
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(prepared_dir))
    return prepared_dir / "corpora"


def _osis_fixtures():
    return json.loads((FIXTURES / "osis_verses.json").read_text(encoding="utf-8"))


# --- cleaning: raw verses copied from the installed modules -------------------------------------------

@pytest.mark.parametrize("case", _osis_fixtures(), ids=lambda c: f"{c['module']}-{c['ref']}")
def test_clean_osis_on_real_verses(case):
    text = sword.clean_osis(case["raw"], keep_titles=case["keep_titles"])
    assert text == case["clean"], case["why"]
    for bad in ("<", ">", "strong:", "&amp;", "\\", "¶", "  "):
        assert bad not in text


def test_pysword_clean_glues_words_and_ours_does_not():
    """Why the cleaner is ours: pysword's clean=True deletes a note with no space where it stood."""
    raw = next(c["raw"] for c in _osis_fixtures() if c["module"] == "engWEB2015eb" and c["ref"] == "Gen 1:1")
    assert "Godcreated" in OSISCleaner().clean(raw)
    assert "God created" in sword.clean_osis(raw)


def test_psalm_titles_and_entities():
    raw = next(c["raw"] for c in _osis_fixtures() if c["module"] == "engWEB2015eb" and c["ref"] == "Ps 3:1")
    assert sword.clean_osis(raw, keep_titles=True).startswith("A Psalm by David")
    assert sword.clean_osis(raw).startswith("Yahweh, how")
    assert sword.clean_osis('<w lemma="strong:H1">salt &amp; light</w><note>a &lt;b&gt;</note>.') == "salt & light."


@needs_sword
def test_memoised_reader_decompresses_each_block_once(monkeypatch):
    counts = collections.Counter()
    for memoise in (True, False):
        bible = sword.open_module("engKJV2006eb", memoise=memoise)
        real = bible._decompress
        monkeypatch.setattr(bible, "_decompress", lambda data, real=real, m=memoise: counts.update([m]) or real(data))
        texts = list(bible.get_iter(books="Ruth", clean=False))
        assert len(texts) == 85 and "Naomi" in texts[1]
    assert counts[True] == 1 and counts[False] == 85  # plain pysword re-inflates the book for every verse


# --- the prepared corpora ------------------------------------------------------------------------------

def _all_pairs(name: str):
    return {split: (corpora.load_parallel(name, split), corpora.load_refs(name, split))
            for split in corpora.SPLITS[name]}


def test_counts_printed_and_in_manifest(prepared, capsys):
    assert main(["data", "prepare", "all"]) == 0
    out = capsys.readouterr().out
    entries = corpora.manifest()["corpora"]
    for name in corpora.CORPORA:
        counts = " | ".join(f"{s} {entries[name]['counts'][s]:,}" for s in corpora.SPLITS[name])
        assert f"{name}: {counts}" in out and "already prepared" in out
    assert 27_000 <= sum(entries["bible"]["counts"].values()) <= 31_000  # NOTES: about 29,000 pairs


def test_manifest_sha256_sizes_and_sources(prepared):
    aggregate = corpora.manifest()["corpora"]
    assert set(aggregate) == set(corpora.CORPORA)
    for name, entry in aggregate.items():
        assert entry == json.loads((prepared / name / "manifest.json").read_text())
        on_disk = {p.name for p in (prepared / name).iterdir()} - {"manifest.json"}
        assert on_disk == set(entry["files"])
        for fname, meta in entry["files"].items():
            data = (prepared / name / fname).read_bytes()
            assert meta == {"bytes": len(data), "lines": data.count(b"\n"), "sha256": hashlib.sha256(data).hexdigest()}
    for key, src in aggregate["bible"]["sources"].items():
        assert src["package"] == sword.MODULE_PACKAGES[key]
        if shutil.which("dpkg-query"):
            assert src["package_version"] != "unknown"
    assert aggregate["code"]["sources"]["python"].count(".") == 2


def test_no_markup_left_in_prepared_text(prepared):
    texts = [s for name in ("bible", "modernize") for split in corpora.SPLITS[name]
             for pair in corpora.load_parallel(name, split) for s in pair]
    texts += [p for split in corpora.SPLITS["prose"] for p in corpora.load_prose(split)]
    pattern = re.compile(r"[<>\\¶]|strong:[GH]\d|lemma=|&[a-z]+;|\s\s")  # KJV has "and strong: but"
    leftovers = [t for t in texts if pattern.search(t) or t != t.strip()]
    assert not leftovers, leftovers[:3]


_WORD = re.compile(r"[^\W\d_]+")


def _glued_rate(texts) -> float:
    """Per 10k tokens: words seen once that split into two words each seen >= 20 times ("godcreated")."""
    tokens = [w.lower() for t in texts for w in _WORD.findall(t)]
    counts = collections.Counter(tokens)
    frequent = {w for w, c in counts.items() if c >= 20}
    glued = sum(1 for w in tokens if counts[w] == 1 and len(w) >= 4
                and any(w[:i] in frequent and w[i:] in frequent for i in range(2, len(w) - 1)))
    return 1e4 * glued / len(tokens)


def test_no_glued_words(prepared):
    """Measured on the whole bible corpus (sword-text-sparv 2.60-1, sword-text-web 426.0-1): 8.2 per 10k
    tokens in Spanish, 1.4 in English, all real compounds or enclitics ("dióle", "halfway"). The same
    verses cleaned by pysword's clean=True score 9.8 and 2.3 ("engendróun", "godcreated"); the
    thresholds sit between. Hapaxes only, because real compounds recur and glue mostly does not."""
    pairs = [p for split in corpora.SPLITS["bible"] for p in corpora.load_parallel("bible", split)]
    assert _glued_rate(s for s, _ in pairs) < 9.0
    assert _glued_rate(t for _, t in pairs) < 1.9


def test_alignment_filter_drops_shifted_chapters(prepared):
    refs = {r for split in corpora.SPLITS["bible"] for r in corpora.load_refs("bible", split)}
    chapters = {r.rsplit(":", 1)[0] for r in refs}
    # NOTES: RV1909 shifts verses in these chapters relative to the WEB.
    for shifted in ("Job 39", "Job 40", "Num 12", "Num 13", "Jonah 1", "Hos 11", "2Cor 13"):
        assert shifted not in chapters
    assert {"Gen 1", "Ps 23", "John 3"} <= chapters
    report = corpora.manifest()["corpora"]["bible"]["stats"]["alignment"]
    assert "Job 40" in report["dropped_empty"] and "Job 39" in report["dropped_ratio"]
    for split in corpora.SPLITS["bible"]:
        for src, tgt in corpora.load_parallel("bible", split):
            assert 0.5 <= len(src.split()) / len(tgt.split()) <= 2.0


@pytest.mark.parametrize("name", ["bible", "modernize"])
def test_splits_disjoint_and_ood_books(prepared, name):
    splits = _all_pairs(name)
    refs = {split: refs for split, (_, refs) in splits.items()}
    assert all(len(pairs) == len(refs[split]) for split, (pairs, _) in splits.items())
    seen: set[str] = set()
    for split, split_refs in refs.items():
        assert not seen & set(split_refs), f"{split} overlaps an earlier split"
        seen |= set(split_refs)
    assert (len(refs["dev"]), len(refs["test"])) == (builders.BIBLE_DEV, builders.BIBLE_TEST)
    book = lambda r: r.rsplit(" ", 1)[0]  # noqa: E731
    if name == "bible":
        assert {book(r) for r in refs["test_ood"]} == set(verses.OOD_BOOKS)
        for split in ("train", "dev", "test"):
            assert not {book(r) for r in refs[split]} & set(verses.OOD_BOOKS)


def test_code_corpus_parses_and_comes_from_non_test_files(prepared):
    files_by_split = {}
    root = stdlib_code.stdlib_root()
    for split in corpora.SPLITS["code"]:
        functions = corpora.load_code(split)
        assert functions
        files_by_split[split] = {f["file"] for f in functions}
        for f in functions:
            assert set(f) == {"code", "file", "line", "name"}
            tree = ast.parse(f["code"])
            assert isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)) and tree.body[0].name == f["name"]
            assert stdlib_code.MIN_LINES <= f["code"].count("\n") <= stdlib_code.MAX_LINES
            assert not stdlib_code.is_test_path(Path(f["file"])) and "site-packages" not in f["file"]
        for f in functions[::500]:  # provenance: the line really is that def
            line = (root / f["file"]).read_text(encoding="utf-8").splitlines()[f["line"] - 1]
            assert re.match(rf"\s*(async\s+)?def\s+{f['name']}\b", line)
    train, dev, test = files_by_split["train"], files_by_split["dev"], files_by_split["test"]
    assert not (train & dev or train & test or dev & test)


def test_prose_passages(prepared):
    refs = {s: corpora.load_refs("prose", s) for s in corpora.SPLITS["prose"]}
    books = {s: {r.rsplit(" ", 1)[0] for r in rs} for s, rs in refs.items()}
    assert not (books["train"] & books["dev"] or books["train"] & books["test"] or books["dev"] & books["test"])
    passages = corpora.load_prose("train")
    assert len(passages) == len(refs["train"])
    words = sorted(len(p.split()) for p in passages)
    assert 180 <= words[len(words) // 2] <= 240 and words[0] >= 20


def test_loader_argument_errors(prepared):
    with pytest.raises(ValueError, match="'validation'.*train \\| dev \\| test \\| test_ood"):
        corpora.load_parallel("bible", "validation")
    with pytest.raises(ValueError, match="'code' is not parallel"):
        corpora.load_parallel("code", "train")
    with pytest.raises(ValueError, match="unknown corpus 'wiki'"):
        corpora.prepare("wiki")


# --- preparing: atomic, resumable, and clear when the packages are missing -----------------------------

def _corpora_entries() -> set[str]:
    root = paths.data_dir() / "corpora"
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


@needs_sword
def test_interrupted_prepare_leaves_nothing(prepared_dir, monkeypatch):
    stale = paths.data_dir() / "corpora" / ".tmp-bible-999999999-x"  # left by a process that is gone
    stale.mkdir(parents=True)
    real = builders.write_lines

    def failing(path, lines):
        if path.name == "test.tsv":
            raise KeyboardInterrupt("simulated interruption")
        real(path, lines)

    monkeypatch.setattr(builders, "write_lines", failing)
    with pytest.raises(KeyboardInterrupt):
        corpora.prepare("bible", progress=False)
    assert _corpora_entries() == set()  # no corpus, no temp folder, no manifest
    assert not corpora.available("bible")
    # Over an existing corpus (force=True), an interruption keeps the old one intact.
    shutil.copytree(prepared_dir / "corpora" / "bible", paths.data_dir() / "corpora" / "bible")
    before = (paths.data_dir() / "corpora" / "bible" / "train.tsv").read_bytes()
    with pytest.raises(KeyboardInterrupt):
        corpora.prepare("bible", force=True, progress=False)
    assert _corpora_entries() == {"bible"} and corpora.available("bible")
    assert (paths.data_dir() / "corpora" / "bible" / "train.tsv").read_bytes() == before


@needs_sword
def test_force_replaces_in_place_and_is_deterministic(prepared_dir):
    shutil.copytree(prepared_dir / "corpora" / "prose", paths.data_dir() / "corpora" / "prose")
    (paths.data_dir() / "corpora" / "prose" / "stray.txt").write_text("from the old folder")
    entry = corpora.prepare("prose", force=True, progress=False)["prose"]
    assert _corpora_entries() == {"prose", "manifest.json"}  # no .tmp-/.old- folder left
    assert not (paths.data_dir() / "corpora" / "prose" / "stray.txt").exists()
    session = json.loads((prepared_dir / "corpora" / "prose" / "manifest.json").read_text())
    assert entry["files"] == session["files"]  # same sha256: preparing is deterministic


@needs_sword
def test_killed_prepare_is_not_taken_as_a_corpus():
    """A real SIGKILL mid-way: the corpus is absent, and the next prepare removes the dead temp folder."""
    env = dict(os.environ, PYTHONPATH=str(Path(corpora.__file__).parents[3]))
    proc = subprocess.Popen([sys.executable, "-c", "from seqgap_lab.data.text import corpora; "
                             "corpora.prepare('code', progress=False)"], env=env)
    root = paths.data_dir() / "corpora"
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".tmp-code-") for p in (root.iterdir() if root.is_dir() else ())):
        assert proc.poll() is None and time.monotonic() < deadline, "prepare finished before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not corpora.available("code") and "code" not in _corpora_entries()
    corpora._remove_stale(root)  # what every prepare does first
    assert not any(p.name.startswith(".tmp-") for p in root.iterdir())


def test_missing_packages_one_clear_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SEQGAP_SWORD_DIR", str(tmp_path / "no-sword"))
    with pytest.raises(corpora.CorpusUnavailable) as err:
        corpora.load_parallel("bible", "train")
    message = str(err.value)
    assert "\n" not in message
    for needle in ("sword-text-sparv", "sword-text-web", "apt-get install -y", "load_parallel_tsv"):
        assert needle in message
    assert main(["data", "prepare", "modernize"]) == 2
    err_line = capsys.readouterr().err.strip()
    assert "\n" not in err_line and "sword-text-kjv" in err_line
    assert not corpora.available("modernize")


def test_if_missing_skips_unavailable_with_a_notice(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SEQGAP_SWORD_DIR", str(tmp_path / "no-sword"))
    monkeypatch.setattr(corpora, "CORPORA", ("bible", "prose"))  # keep it fast: no code corpus
    assert main(["data", "prepare", "all", "--if-missing"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("seqgap-lab data: skipping") for line in err)


def test_cli_data_errors(capsys):
    assert main(["data", "prepare", "wiki"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'wiki'" in err
    with pytest.raises(SystemExit):
        main(["data", "prepare", "bible", "--force", "--if-missing"])
