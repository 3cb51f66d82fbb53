"""Bring your own parallel corpus (Multi30k, IWSLT, ...): a TSV file or two line-aligned files, validated."""
from __future__ import annotations

import os
from pathlib import Path

Pair = tuple[str, str]


class CorpusFormatError(ValueError):
    """A parallel corpus file is malformed; the message names the file and the 1-based line number."""


def _read_lines(path: str | os.PathLike) -> list[str]:
    """Lines of a UTF-8 file without their line endings; undecodable bytes are reported by line number."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorpusFormatError(f"{path}: file not found") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark, as some editors write
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line, it does not start an empty one
    out = []
    for number, raw in enumerate(lines, start=1):
        try:
            out.append(raw.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as exc:
            raise CorpusFormatError(f"{path}:{number}: not valid UTF-8 (byte {raw[exc.start]:#04x} at "
                                    f"column {exc.start + 1})") from None
    return out


def _check_side(path, number: int, text: str, side: str) -> str:
    if not text.strip():
        raise CorpusFormatError(f"{path}:{number}: empty {side}")
    return text.strip()


def load_parallel_tsv(path: str | os.PathLike) -> list[Pair]:
    """(source, target) pairs from a UTF-8 file with one `source<TAB>target` pair per line."""
    pairs = []
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise CorpusFormatError(f"{path}:{number}: expected exactly one tab (source<TAB>target), "
                                    f"found {len(fields) - 1}")
        pairs.append((_check_side(path, number, fields[0], "source"),
                      _check_side(path, number, fields[1], "target")))
    if not pairs:
        raise CorpusFormatError(f"{path}: no pairs (the file is empty)")
    return pairs


def load_parallel_files(src_path: str | os.PathLike, tgt_path: str | os.PathLike) -> list[Pair]:
    """(source, target) pairs from two line-aligned UTF-8 files (line i of one translates line i of the other)."""
    src, tgt = _read_lines(src_path), _read_lines(tgt_path)
    if len(src) != len(tgt):
        shorter, first_missing = (src_path, len(src) + 1) if len(src) < len(tgt) else (tgt_path, len(tgt) + 1)
        raise CorpusFormatError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: "
                                f"{shorter}:{first_missing} is missing")
    if not src:
        raise CorpusFormatError(f"{src_path}: no lines (the file is empty)")
    return [(_check_side(src_path, n, s, "source"), _check_side(tgt_path, n, t, "target"))
            for n, (s, t) in enumerate(zip(src, tgt), start=1)]
