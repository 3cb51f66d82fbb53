"""sacrebleu's 13a tokenisation as BLEU applies it, memoised per whitespace-separated chunk (for
metrics/sentence_bleu.py; the tests compare every tokenisation with sacrebleu's ``Tokenizer13a``).

13a's regular expressions only look at a character and its neighbours, and no
rule relates characters across whitespace (every whitespace character is a "non-digit" to them,
exactly like the space 13a pads each line with), so tokenising a line equals tokenising each of
its whitespace-separated chunks on its own (padded with spaces) and concatenating. Chunks
(words) repeat a lot, so each distinct chunk is tokenised once and memoised as integer token
ids; a batch (hypotheses and references together) is joined into one string, split once and
mapped chunk by chunk through a dict whose misses are numbered in C (a defaultdict with a
counter); the new chunks are tokenised together afterwards. Most chunks never reach the regular
expressions: letters and digits only (no rule applies), "word." / "word," (the mark is split
off), no ASCII digit (rules 2-4 then split '.' and ',' like rule 1's characters: one
str.translate), digits but no '.', ',' or digit-dash (rule 1 alone: one str.translate); the
rest go through sacrebleu's own ``TokenizerRegexp``. The shortcuts are on only while
sacrebleu's four 13a patterns are the ones they were derived from (checked at import). The
line-level part of 13a (rstrip, ``<skipped>``, ``-\n``, newlines, the four HTML entities) is
applied to each line first, in 13a's order. The tests compare the tokens with ``Tokenizer13a``
on every tested string and on random strings.
"""
from __future__ import annotations

import re
from collections import defaultdict
from itertools import chain, count, islice
from typing import Sequence

import numpy as np
from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp

# The chunk memo is dropped (between calls) once it holds more chunks than this.
_MAX_MEMO = 1 << 20

# Joins the lines of a batch so that one str.split() does them all; checked absent from the lines.
_MARK = "\x00"
# Lines split at a time (see _tokenize_flat).
_BLOCK = 128



# sacrebleu's 13a rules (TokenizerRegexp), checked at import: the shortcuts below rely on them.
_RULES_13A = (r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r"([^0-9])([\.,])", r"([\.,])([^0-9])", r"([0-9])(-)")
# Rule 4 ("([0-9])(-)") matches in a chunk iff a digit is followed by a dash there: rules 1-3 only insert
# spaces around other characters, which never creates that pair nor breaks it.
_DIGIT_DASH = re.compile(r"[0-9]-")
_DIGIT = re.compile(r"[0-9]")


def _always_split_chars() -> frozenset:
    """ASCII characters 13a pads with spaces wherever they are (rule 1); empty if its rules changed."""
    try:
        rules = TokenizerRegexp()._re
        if tuple(pattern.pattern for pattern, _ in rules) != _RULES_13A:
            return frozenset()  # unknown rules: no shortcut, every chunk goes through the regexes
    except (AttributeError, TypeError, ValueError):
        return frozenset()
    return frozenset(c for c in map(chr, range(128)) if rules[0][0].fullmatch(c) and not c.isspace())


_ALWAYS_SPLIT = _always_split_chars()
# Rule 1 as one str.translate: each always-split character padded with spaces.
_PAD_ALWAYS = str.maketrans({c: f" {c} " for c in _ALWAYS_SPLIT})
# Rules 1-4 on a chunk without ASCII digits: every character matches [^0-9], so rules 2 and 3 split off
# every period and comma (rule 3 splits one that rule 2 skipped because the mark before it was just
# consumed), and rule 4 never matches: periods and commas are split like rule 1's characters.
_PAD_NO_DIGIT = str.maketrans({c: f" {c} " for c in _ALWAYS_SPLIT | {".", ","}})


def _newest(d: dict, n: int) -> list:
    """The n keys inserted last into d, oldest first (reversed() on a dict starts at its end)."""
    return list(islice(reversed(d), n))[::-1]


class _Vocab(defaultdict):
    """token -> id; a new token gets the next id, from a counter called by defaultdict in C."""

    def __init__(self):
        super().__init__(count().__next__)
        self._words: list[str] = []

    @property
    def words(self) -> list[str]:
        """id -> token."""
        if len(self._words) < len(self):
            self._words.extend(_newest(self, len(self) - len(self._words)))
        return self._words


class _Chunks(defaultdict):
    """chunk (whitespace-free string) -> chunk index; a new chunk gets the next index (in C, like _Vocab)
    and is tokenised with 13a once, at the next sync(), with the other chunks added since.

    Chunk c's token ids are pool[start[c] : start[c] + length[c]] (ids index `words`). Index 0 is
    the line separator (no tokens); index 1 holds the separator character's own tokens.
    """

    def __init__(self):
        super().__init__()
        regexp = TokenizerRegexp()  # sacrebleu's own 13a regular expressions
        # Bypass its lru_cache (this memo is the cache) where the wrapped function is reachable.
        plain = getattr(TokenizerRegexp.__call__, "__wrapped__", None)
        self._regexp = (lambda text: plain(regexp, text)) if plain is not None else regexp
        self.reset()

    def reset(self) -> None:
        self.clear()
        self.vocab = _Vocab()
        self[_MARK] = 0  # the separator: no tokens
        self.default_factory = count(2).__next__  # index 1 is not a key: see the docstring
        self.start = _extend(np.zeros(1024, dtype=np.int64)[:0], [0, 0])
        self.length = _extend(np.zeros(1024, dtype=np.int64)[:0], [0, 1])
        self.pool = _extend(np.zeros(1024, dtype=np.int64)[:0], [self.vocab[_MARK]])

    @property
    def words(self) -> list[str]:
        """token id -> token."""
        return self.vocab.words

    def _tokens(self, chunk: str):
        """13a tokens of a chunk that is not letters and digits only."""
        if not _ALWAYS_SPLIT:  # sacrebleu's rules changed: no shortcut
            return self._regexp(f" {chunk} ").split()
        # Shortcuts for the commonest chunks; the tests compare every tokenisation with Tokenizer13a.
        if chunk[-1] in ".," and chunk[:-1].isalnum():
            # "said," "so." "3.": the mark is always split off (a period or comma followed by the padding
            # space is split whatever precedes it), and the word has nothing for a rule to match.
            return chunk[:-1], chunk[-1]
        if not _DIGIT.search(chunk):
            return chunk.translate(_PAD_NO_DIGIT).split()  # '“Behold,' 'sky.”' 'Beer-sheba;'
        if "." not in chunk and "," not in chunk and not _DIGIT_DASH.search(chunk):
            return chunk.translate(_PAD_ALWAYS).split()  # rules 2-4 never match: rule 1 alone
        return self._regexp(f" {chunk} ").split()

    def sync(self) -> None:
        """Tokenise the chunks added since the last call and append them to the numpy arrays."""
        n_new = len(self) + 1 - len(self.length)  # + 1: index 1 is not a key
        if n_new <= 0:
            return
        tok = self._tokens
        if _ALWAYS_SPLIT:  # a letters-and-digits chunk is one token (every rule needs ASCII punctuation)
            tokens = [(c,) if c.isalnum() else tok(c) for c in _newest(self, n_new)]
        else:
            tokens = [tok(c) for c in _newest(self, n_new)]
        lens = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        ids = np.fromiter(map(self.vocab.__getitem__, chain.from_iterable(tokens)), dtype=np.int64,
                          count=int(lens.sum()))
        self.start = _extend(self.start, len(self.pool) + _starts(lens))
        self.length = _extend(self.length, lens)
        self.pool = _extend(self.pool, ids)

    def expand(self, cidx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of a chunk-index sequence, and the cumulative token count after each chunk."""
        self.sync()
        tok_len = self.length.take(cidx)
        cum = np.cumsum(tok_len)
        total = int(cum[-1]) if len(cum) else 0
        first = self.start.take(cidx)  # in place: pool index of each chunk's first token less its flat index
        first -= cum
        first += tok_len
        offset = np.repeat(first, tok_len)
        offset += np.arange(total)
        return self.pool.take(offset), cum


def _extend(view: np.ndarray, values) -> np.ndarray:
    """view followed by values, as int64, reusing `view`'s buffer when it has room (it doubles when full)."""
    n = len(view)
    m = n + len(values)
    buf = view.base if view.base is not None else view
    if len(buf) < m:
        new = np.empty(max(m, 2 * len(buf), 1024), dtype=np.int64)
        new[:n] = view
        buf = new
    buf[n:m] = values
    return buf[:m]


_CHUNKS = _Chunks()


def _prepare(line: str) -> str:
    """sacrebleu's BLEU preprocessing before the regular expressions: rstrip, then 13a's line-level part."""
    line = line.rstrip()
    # 13a's language-independent part, same replacements in the same order.
    if "<skipped>" in line:
        line = line.replace("<skipped>", "")
    if "\n" in line:
        line = line.replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = (line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                .replace("&gt;", ">"))
    return line


def _tokenize_flat(lines: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (13a, as sacrebleu's BLEU) of all lines concatenated, and each line's token count."""
    n = len(lines)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    joined = f" {_MARK} ".join(lines)
    if "&" in joined or "\n" in joined or "<skipped>" in joined:
        lines = [_prepare(line) for line in lines]
        joined = f" {_MARK} ".join(lines)
    # (Otherwise rstrip() only removes what split() ignores anyway.)
    if joined.count(_MARK) != n - 1:  # some line holds the separator character itself
        return _tokenize_lines(lines)
    # One split per block of lines; each separator chunk maps to index 0, which has no tokens. Blocks,
    # because the chunk strings and arrays of one block are freed before the next is made, so their
    # memory is reused while in cache (one pass over a whole batch after other work has fragmented the
    # heap is ~1.3x slower).
    del joined
    get, sep, flats, lens = _CHUNKS.__getitem__, f" {_MARK} ", [], []
    for i in range(0, n, _BLOCK):
        chunks = sep.join(lines[i:i + _BLOCK]).split()
        cidx = np.fromiter(map(get, chunks), dtype=np.int64, count=len(chunks))
        del chunks
        flat, cum = _CHUNKS.expand(cidx)
        flats.append(flat)
        lens.append(np.diff(np.concatenate([[0], cum.take(np.flatnonzero(cidx == 0)), [flat.size]])))
    return np.concatenate(flats), np.concatenate(lens)


def _tokenize_lines(lines: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """_tokenize_flat for lines that may hold the separator character: split line by line."""
    split = [line.split() for line in lines]
    get = _CHUNKS.__getitem__
    cidx = np.array([1 if c == _MARK else get(c) for c in chain.from_iterable(split)], dtype=np.int64)
    flat, cum = _CHUNKS.expand(cidx)
    chunk_end = np.cumsum([len(s) for s in split])[:-1]
    ends = np.concatenate([[0], cum])[chunk_end]
    return flat, np.diff(np.concatenate([[0], ends, [flat.size]]))


def tokenize_13a(line: str) -> list[str]:
    """The tokens sacrebleu's BLEU scores for `line` (same as ``Tokenizer13a()(line.rstrip()).split()``)."""
    if not isinstance(line, str):
        raise TypeError(f"expected a string, got {type(line).__name__}")
    flat, _ = _tokenize_flat([line])
    words = _CHUNKS.words
    return [words[i] for i in flat.tolist()]


def clear_cache() -> None:
    """Forget the memoised chunk tokenisations (for cold-start timings, or to free memory).

    sentence_bleu's lookup tables of -1 are not touched: they hold nothing between calls.
    """
    _CHUNKS.reset()

def _starts(lens: np.ndarray) -> np.ndarray:
    """Start offset of each run of the given lengths (exclusive cumulative sum)."""
    out = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=out[1:])
    return out


def trim_memo() -> None:
    """Drop the chunk memo once it holds more than _MAX_MEMO chunks (called between batches)."""
    if len(_CHUNKS) > _MAX_MEMO:
        clear_cache()
