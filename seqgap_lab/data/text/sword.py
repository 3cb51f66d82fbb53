"""Read SWORD Bible modules (Debian sword-text-*) with pysword, and clean their OSIS markup into plain text."""
from __future__ import annotations

import html
import os
import re
from pathlib import Path

from pysword.bible import ZTextModule, ZTextModule4
from pysword.modules import SwordModules

# Module key -> the Debian package that ships it (for messages and provenance).
MODULE_PACKAGES = {
    "spaRV1909eb": "sword-text-sparv",
    "engWEB2015eb": "sword-text-web",
    "engKJV2006eb": "sword-text-kjv",
}
DEFAULT_SWORD_DIR = "/usr/share/sword"

VerseKey = tuple[str, int, int]  # (OSIS book name, chapter, verse)


def sword_dir() -> Path:
    """Where SWORD modules live: $SEQGAP_SWORD_DIR, else /usr/share/sword (Debian's place)."""
    return Path(os.environ.get("SEQGAP_SWORD_DIR") or DEFAULT_SWORD_DIR)


def installed_modules(root: Path | None = None) -> dict[str, dict]:
    """Module key -> parsed .conf (lower-case keys) for every module under the SWORD directory."""
    root = root or sword_dir()
    if not (root / "mods.d").is_dir():
        return {}
    return SwordModules(str(root)).parse_modules()


def missing_modules(keys, root: Path | None = None) -> list[str]:
    """The module keys among `keys` that the SWORD directory does not hold."""
    installed = installed_modules(root)
    return [k for k in keys if k not in installed]


class _MemoDecompress:
    """Mixin: decompress each (testament, block) once per instance.

    pysword re-inflates the whole book for every verse it reads (BlockType=BOOK): measured 35 s to read
    the KJV module, 0.1 s with this cache. Caching on the instance leaves pysword itself untouched.
    """

    def _decompressed_text(self, testament, buf_num):
        cache = self.__dict__.setdefault("_seqgap_blocks", {})
        key = (testament, buf_num)
        if key not in cache:
            cache[key] = super()._decompressed_text(testament, buf_num)
        return cache[key]


class MemoZText(_MemoDecompress, ZTextModule):
    """pysword's zText reader with per-instance memoised block decompression."""


class MemoZText4(_MemoDecompress, ZTextModule4):
    """pysword's zText4 reader with per-instance memoised block decompression."""


_READERS = {"ztext": MemoZText, "ztext4": MemoZText4}


def module_conf(key: str, root: Path | None = None) -> dict:
    """The parsed .conf of one module (lower-case keys, as pysword parses them)."""
    root = root or sword_dir()
    confs = installed_modules(root)
    if key not in confs:
        raise FileNotFoundError(f"SWORD module {key!r} not found under {root}/mods.d")
    return confs[key]


def open_module(key: str, root: Path | None = None, memoise: bool = True):
    """A pysword Bible object for module `key`, with memoised decompression unless memoise=False."""
    root = root or sword_dir()
    conf = module_conf(key, root)
    driver = conf.get("moddrv", "zText").lower()
    if driver not in _READERS:
        raise ValueError(f"SWORD module {key!r} uses driver {driver!r}; only zText/zText4 are supported")
    cls = _READERS[driver] if memoise else {"ztext": ZTextModule, "ztext4": ZTextModule4}[driver]
    return cls(os.path.join(str(root), conf["datapath"]), driver, conf.get("versification", "kjv").lower(),
               conf.get("encoding", "utf-8").lower(), conf.get("sourcetype", "OSIS"),
               conf.get("blocktype", "BOOK"))


def read_raw(key: str, root: Path | None = None, memoise: bool = True) -> dict[VerseKey, str]:
    """Every verse of a module as raw OSIS, keyed (book, chapter, verse), in canonical order."""
    bible = open_module(key, root, memoise)
    verses: dict[VerseKey, str] = {}
    for books in bible.get_structure().get_books().values():
        for book in books:
            texts = list(bible.get_iter(books=book.name, clean=False))
            keys = [(book.osis_name, ch + 1, v + 1)
                    for ch, n in enumerate(book.chapter_lengths) for v in range(n)]
            if len(texts) != len(keys):
                raise ValueError(f"SWORD module {key!r}: {book.osis_name} has {len(texts)} verses, "
                                 f"its versification says {len(keys)}")
            for vkey, text in zip(keys, texts):
                # pysword returns b'' for an index past the end of its data: an empty verse.
                verses[vkey] = text if isinstance(text, str) else ""
    return verses


# Elements dropped with their content: notes (footnotes, cross references), non-canonical headings
# (KJV epistle subscriptions, section titles) and Song of Solomon speaker labels, none of which
# the other translation has.
_DROP_WITH_CONTENT = re.compile(
    r"<note\b[^>]*/>|<note\b[^>]*>.*?</note>"
    r"|<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>"
    r"|<speaker\b[^>]*>.*?</speaker>", re.S)
_CLOSING_PUNCT = frozenset(",.;:!?)]”’»")
_CANONICAL_TITLE = re.compile(r"<title\b[^>]*canonical=\"true\"[^>]*>(.*?)</title>", re.S)
# A closing tag directly followed by an opening one separates two words ("allí</w><transChange>también",
# ".”</q><w>Then"); a tag inside a word ("preguntándo<transChange>le", "tear</w>s") must not.
_BETWEEN_ELEMENTS = re.compile(r"(</[A-Za-z][^>]*>)(?=<[A-Za-z])")
# Line, paragraph and division markers stand between words; inline ones (w, q, transChange,
# divineName, seg, foreign, name) sit inside a phrase, next to punctuation.
_BLOCK_TAG = re.compile(r"</?(?:l|lg|lb|div|chapter|milestone|list|item|p|title|verse|table|row|cell)\b[^>]*>")
_ANY_TAG = re.compile(r"<[^>]*>")
# Leftovers of the modules' USFM sources (KJV: "the \\nd LORD") and the KJV's paragraph pilcrows (¶).
_USFM_MARKER = re.compile(r"\\\+?[a-z]+\d*\*?|¶")
_SPACE = re.compile(r"\s+")


def _gap(match: re.Match) -> str:
    """What a dropped element leaves: a space between words, nothing before closing punctuation."""
    following = match.string[match.end():match.end() + 1]
    return "" if following in _CLOSING_PUNCT else " "


def clean_osis(raw: str, keep_titles: bool = False) -> str:
    """Plain text of one OSIS verse: words kept apart, notes dropped, entities unescaped, one line.

    keep_titles=True keeps canonical psalm titles (<title canonical="true">) as the verse's first words,
    as the Spanish RV1909 module has them in verse 1; otherwise they are dropped like other headings.
    """
    end = raw.find("<chapter eID")
    if end >= 0:  # past the chapter's end: KJV epistle subscriptions, WEB's glossary after Rev 22:21
        raw = raw[:end]
    text = _DROP_WITH_CONTENT.sub(_gap, raw)
    text = _CANONICAL_TITLE.sub((lambda m: f" {m.group(1)} ") if keep_titles else " ", text)
    text = _BETWEEN_ELEMENTS.sub(r"\1 ", text)
    text = _BLOCK_TAG.sub(" ", text)
    text = _ANY_TAG.sub("", text)
    if "<" in text or ">" in text:  # an unbalanced tag would leave markup behind: fail loudly
        raise ValueError(f"unbalanced OSIS markup left after cleaning: {text[:80]!r}")
    text = _USFM_MARKER.sub("", html.unescape(text))
    return _SPACE.sub(" ", text).strip()


def read_clean(key: str, root: Path | None = None, keep_titles: bool = False) -> dict[VerseKey, str]:
    """Every verse of a module as clean plain text (empty string where the module has no text)."""
    return {k: clean_osis(v, keep_titles) for k, v in read_raw(key, root).items()}
