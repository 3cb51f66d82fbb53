"""Bring-your-own parallel corpus: a TSV file or two line-aligned files; every error names file and line."""
from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FIXTURES

from seqgap_lab.data.text.byo import CorpusFormatError, load_parallel_files, load_parallel_tsv

SAMPLE = FIXTURES / "bible_es_en_sample.tsv"  # six real es-en verse pairs


def _lines() -> list[str]:
    return SAMPLE.read_text(encoding="utf-8").splitlines()


def _write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_text("".join(line + end for line in lines), encoding="utf-8", newline="")
    return path


def test_tsv_loads_real_pairs():
    pairs = load_parallel_tsv(SAMPLE)
    assert len(pairs) == 6
    assert pairs[0][0].startswith("Y llamó Dios") and pairs[0][1].startswith("God called the dry land")


def test_tsv_tolerates_crlf_bom_and_no_final_newline(tmp_path):
    path = _write(tmp_path / "crlf.tsv", _lines(), end="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().rstrip(b"\r\n"))
    assert load_parallel_tsv(path) == load_parallel_tsv(SAMPLE)


@pytest.mark.parametrize("line, message", [
    ("no tab at all", "expected exactly one tab (source<TAB>target), found 0"),
    ("one\ttwo\tthree", "found 2"),
    ("   \tsome target", "empty source"),
    ("una fuente\t", "empty target"),
    ("", "found 0"),
])
def test_tsv_errors_name_the_line(tmp_path, line, message):
    lines = _lines()
    lines.insert(3, line)
    path = _write(tmp_path / "broken.tsv", lines)
    with pytest.raises(CorpusFormatError) as err:
        load_parallel_tsv(path)
    assert str(err.value).startswith(f"{path}:4: ") and message in str(err.value)


def test_undecodable_utf8_reports_the_line(tmp_path):
    data = SAMPLE.read_bytes().split(b"\n")
    data[4] = data[4].replace("ó".encode(), b"\xf3", 1)  # Latin-1 'ó', as a mis-saved file has it
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"\n".join(data))
    with pytest.raises(CorpusFormatError, match=r"latin1.tsv:5: not valid UTF-8 \(byte 0xf3"):
        load_parallel_tsv(path)


def test_empty_file(tmp_path):
    with pytest.raises(CorpusFormatError, match="no pairs"):
        load_parallel_tsv(_write(tmp_path / "empty.tsv", []))
    with pytest.raises(CorpusFormatError, match="file not found"):
        load_parallel_tsv(tmp_path / "missing.tsv")


def _split_files(tmp_path: Path, src_lines=None, tgt_lines=None):
    src, tgt = zip(*(line.split("\t") for line in _lines()))
    return (_write(tmp_path / "train.es", list(src) if src_lines is None else src_lines),
            _write(tmp_path / "train.en", list(tgt) if tgt_lines is None else tgt_lines))


def test_line_aligned_files_equal_the_tsv(tmp_path):
    assert load_parallel_files(*_split_files(tmp_path)) == load_parallel_tsv(SAMPLE)


def test_mismatched_line_counts(tmp_path):
    src, tgt = _split_files(tmp_path)
    _write(tgt, tgt.read_text(encoding="utf-8").splitlines()[:-1])
    with pytest.raises(CorpusFormatError) as err:
        load_parallel_files(src, tgt)
    assert str(err.value) == f"{src} has 6 lines but {tgt} has 5: {tgt}:6 is missing"


def test_empty_line_in_one_file(tmp_path):
    src, tgt = _split_files(tmp_path)
    lines = tgt.read_text(encoding="utf-8").splitlines()
    lines[2] = " "
    _write(tgt, lines)
    with pytest.raises(CorpusFormatError, match=rf"^{tgt}:3: empty target$"):
        load_parallel_files(src, tgt)


def test_undecodable_line_in_aligned_files(tmp_path):
    src, tgt = _split_files(tmp_path)
    src.write_bytes(src.read_bytes().replace("á".encode(), b"\xe1", 1))
    first = next(i for i, line in enumerate(_lines(), start=1) if "á" in line.split("\t")[0])
    with pytest.raises(CorpusFormatError, match=rf"train.es:{first}: not valid UTF-8"):
        load_parallel_files(src, tgt)
