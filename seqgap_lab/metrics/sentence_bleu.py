"""Batched sentence-BLEU, equal to ``sacrebleu.sentence_bleu(h, [r]).score`` (for MRT risks).

Matches sacrebleu's defaults for sentence BLEU: tokenizer '13a', mixed case, smoothing 'exp'
(mteval-v13a: the k-th order with no match gets precision 1 / (2^k * total)), effective order on
(orders longer than the hypothesis are left out), max order 4, brevity penalty exp(1 - r/h), score
on the 0-100 scale. Empty hypothesis or reference (after tokenisation) scores 0.0, as in sacrebleu.
One reference per hypothesis. The tests check equality with sacrebleu to 1e-9 on thousands of pairs.

Where the speed comes from (sacrebleu builds a BLEU object, re-tokenises both sides and builds
tuple n-gram Counters for every single call):

- Tokenisation. 13a's regular expressions only look at a character and its neighbours, and no
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
- Each distinct reference is tokenised and indexed once per call (MRT: n hypotheses share it).
- N-gram matching for the whole batch in numpy, without building n-gram tuples: an n-gram of a
  reference is named by the position of one of its occurrences (a representative), built order by
  order from (representative of the (n-1)-gram prefix, id of the last token) through a dense
  lookup table; a hypothesis n-gram is looked up the same way, so only n-grams whose prefix
  matched are looked up at all (unigrams: through a (reference, token) table, or a sorted search
  when references x distinct tokens is large). Clipped counts, order by order: matched hypothesis
  n-grams, less the excess where a hypothesis repeats an n-gram more often than its reference
  holds it.
- Memory on a small machine: lines are split and mapped a block at a time, and n-grams matched a
  block of references at a time, so the strings and arrays of one block are freed and their memory
  reused, still in cache, by the next (after other work has fragmented the heap, one pass over a
  large batch is ~1.3x slower); the -1 lookup tables are kept between calls and restored after use
  (a fresh table per call costs page faults); boolean-mask indexing is replaced by flatnonzero +
  take (several times faster in numpy 2).
- The final formula is vectorised over the batch in the same operation order as sacrebleu's
  ``BLEU.compute_bleu`` (numpy's log/exp may differ from ``math``'s in the last bit: measured
  differences are ~1e-14 on the 0-100 scale).
- The chunk memo and the tables are module-level (not thread-safe; the memo is dropped past 2^20
  chunks; ``clear_cache()``).

``sentence_bleu_ids`` scores integer token sequences (synthetic tasks) with the same formula and
no tokenizer; sacrebleu has no such function (the tests compare it with sacrebleu on the ids
written as distinct words joined by spaces).
"""
from __future__ import annotations

import re
from collections import defaultdict
from itertools import accumulate, chain, count, islice
from typing import Sequence

import numpy as np
from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp

MAX_ORDER = 4
# Dense lookup tables above this many entries (sum over references of length x distinct tokens)
# switch to a sort-based lookup; only very long references get there.
_MAX_TABLE = 1 << 24
# The chunk memo is dropped (between calls) once it holds more chunks than this.
_MAX_MEMO = 1 << 20
# Tables of -1 up to this many entries (16 MB) are kept between calls (_minus_ones); larger ones are not.
_MAX_KEPT = 1 << 22
# Joins the lines of a batch so that one str.split() does them all; checked absent from the lines.
_MARK = "\x00"
# Lines split at a time (see _tokenize_flat).
_BLOCK = 128
# _match_stats runs on blocks of whole references with about this many hypothesis tokens: its numpy
# temporaries then stay in cache and in the allocator's free lists (one pass over a large batch after
# other work is ~1.1-1.2x slower on a small machine).
_MATCH_TOKENS = 1 << 14


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

    The lookup tables of -1 (at most 2 x 16 MB) are kept: they hold nothing between calls.
    """
    _CHUNKS.reset()


def _check_strings(name: str, items: Sequence) -> None:
    try:
        "".join(items)  # fast path: fails on any non-string
        return
    except TypeError:
        pass
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{name}[{i}] is a {type(item).__name__}, expected a string")


def _flatten(id_lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lens = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    flat = np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=int(lens.sum()))
    return flat, lens


def _starts(lens: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=out[1:])
    return out


def _unique(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.unique(keys, return_index=True, return_inverse=True) (first occurrences), via one stable sort."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    new = np.empty(len(keys), dtype=bool)
    new[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    inv = np.empty(len(keys), dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
    return (*_compress(new, sorted_keys, order), inv)


def _compress(mask: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """(a[mask] for a in arrays); flatnonzero + take is several times faster than boolean indexing."""
    idx = np.flatnonzero(mask)
    return tuple(a.take(idx) for a in arrays)


_SCRATCH: dict[str, np.ndarray] = {}


def _minus_ones(name: str, size: int) -> np.ndarray:
    """An int32 table of `size` entries, all -1, which the caller leaves all -1 again.

    Kept between calls under `name` (up to _MAX_KEPT entries): allocating and filling a fresh table
    each call costs page faults, which dominate numpy work of this size on small machines.
    """
    if size > _MAX_KEPT:
        return np.full(size, -1, dtype=np.int32)
    buf = _SCRATCH.get(name)
    if buf is None or len(buf) < size:
        grown = max(size, 2 * len(buf) if buf is not None else 1024)
        buf = _SCRATCH[name] = np.full(grown, -1, dtype=np.int32)
    return buf[:size]


def _hyp_unigram_ids(uniq: np.ndarray, inv: np.ndarray, width: int, r_flat: np.ndarray, r_tok_ref: np.ndarray,
                     h_flat: np.ndarray, h_tok_ref: np.ndarray, n_refs: int) -> np.ndarray:
    """Unigram id (index into uniq, the sorted reference keys ref * width + token) of each hypothesis token
    in its reference, or -1; inv: the unigram id of each reference token."""
    tokens = np.unique(r_flat)
    k = len(tokens)
    if n_refs * k + 1 > _MAX_KEPT:  # sort-based
        h_key = h_tok_ref * width + h_flat
        pos = np.minimum(np.searchsorted(uniq, h_key), len(uniq) - 1)
        return np.where(uniq[pos] == h_key, pos, -1)
    # Dense: tokens -> local ids 0..k-1 (the other tokens -1), then a (reference, local id) table.
    local = _minus_ones("local", width)
    local[tokens] = np.arange(k, dtype=np.int32)
    r_key = r_tok_ref * k + local[r_flat]
    h_loc = local[h_flat]
    local[tokens] = -1
    table = _minus_ones("table", n_refs * k + 1)  # the last entry stays -1: for tokens in no reference
    table[r_key] = inv
    key = h_tok_ref * k
    key += h_loc
    np.copyto(key, n_refs * k, where=h_loc < 0)
    out = table.take(key).astype(np.int64)
    table[r_key] = -1
    return out


def _lookup(table_keys: np.ndarray, table_vals: np.ndarray, queries: np.ndarray,
            tab: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Store table_vals under table_keys (equal keys keep one of their values), then read back.

    Returns (the value kept for each table key, the value for each query or -1). `tab` is a dense
    table of -1 covering every key (left all -1 again on return), or None for a sort-based search.
    """
    if tab is not None:
        tab[table_keys] = table_vals  # duplicates: one of them wins, read back below
        out = tab[table_keys].astype(np.int64), tab[queries].astype(np.int64)
        tab[table_keys] = -1
        return out
    uniq, first, inv = np.unique(table_keys, return_index=True, return_inverse=True)
    stored = table_vals[first]
    if len(uniq) == 0 or len(queries) == 0:
        return stored[inv], np.full(len(queries), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(uniq, queries), len(uniq) - 1)
    return stored[inv], np.where(uniq[pos] == queries, stored[pos], -1)


def _match_stats(h_flat: np.ndarray, h_lens: np.ndarray, h_ref: np.ndarray,
                 r_flat: np.ndarray, r_lens: np.ndarray) -> np.ndarray:
    """Clipped n-gram matches, shape (n_hyps, MAX_ORDER), of hypotheses against their references.

    Token ids are non-negative integers; hypothesis p is scored against reference h_ref[p].
    Positions are "padded": one sentinel slot after each sentence, whose unigram id is -1, so an
    n-gram running past its sentence's end meets a sentinel and stops matching.
    A reference n-gram is named by a representative: the padded position of one of its occurrences.
    """
    n_pairs, n_refs = len(h_lens), len(r_lens)
    if n_pairs == 0 or h_flat.size == 0 or r_flat.size == 0:
        return np.zeros((n_pairs, MAX_ORDER), dtype=np.int64)
    n_r, n_h = r_flat.size, h_flat.size
    pairs, refs = np.arange(n_pairs, dtype=np.int64), np.arange(n_refs, dtype=np.int64)
    r_tok_ref = np.repeat(refs, r_lens)
    h_tok_pair = np.repeat(pairs, h_lens)
    h_tok_ref = h_ref[h_tok_pair]
    r_pad = np.arange(n_r, dtype=np.int64) + r_tok_ref  # padded position of each token
    h_pad = np.arange(n_h, dtype=np.int64)
    h_pad += h_tok_pair
    r_pad_start = _starts(r_lens + 1)

    # Unigram ids: index into the sorted distinct (reference, token) keys, so ids of reference g
    # are u_start[g] .. u_start[g+1]-1; hypothesis tokens absent from their reference get none.
    width = int(max(r_flat.max(), h_flat.max())) + 1
    uniq, first, inv = _unique(r_tok_ref * width + r_flat)
    u_start = np.searchsorted(uniq, refs * width)
    n_distinct = np.diff(np.append(u_start, len(uniq)))
    pos = _hyp_unigram_ids(uniq, inv, width, r_flat, r_tok_ref, h_flat, h_tok_ref, n_refs)
    r_uid = np.full(n_r + n_refs, -1, dtype=np.int64)
    r_uid[r_pad] = inv
    h_uid = np.full(n_h + n_pairs, -1, dtype=np.int64)
    cand, h_uni = _compress(pos >= 0, h_pad, pos)  # hypothesis n-grams (by start) still matching
    h_uid[cand] = h_uni
    u_rep = r_pad[first]  # representative of each unigram: its first occurrence
    c_rep = u_rep[h_uni]
    r_rep = u_rep[inv]
    rv = r_pad

    # Higher orders: key(representative of the (n-1)-gram, id of the next token) = rep_key[rep] + uid
    # indexes a table with, for each reference, one row of n_distinct entries per position.
    table_size = int((r_lens * n_distinct).sum())
    const = _starts(r_lens * n_distinct) - r_pad_start * n_distinct - u_start
    pad_ref = np.repeat(refs, r_lens + 1)
    rep_key = np.arange(n_r + n_refs, dtype=np.int64) * n_distinct[pad_ref] + const[pad_ref]
    tab = None if table_size > _MAX_TABLE else (
        _minus_ones("table", table_size) if n_r + n_refs < 2**31 else np.full(table_size, -1, dtype=np.int64))
    # Clipping bins: (pair p, representative r) -> bin_off[p] + r; pair p's bins start at bin_base[p].
    ref_len = r_lens[h_ref]
    bin_base = _starts(ref_len)
    clip = _Clip(np.repeat(pairs, h_lens + 1), bin_base, bin_base - r_pad_start[h_ref], int(ref_len.sum()),
                 n_r + n_refs)
    correct = np.zeros((MAX_ORDER, n_pairs), dtype=np.int64)
    correct[0] = clip(cand, c_rep, r_rep)
    for n in range(2, MAX_ORDER + 1):
        nxt = r_uid[rv + (n - 1)]
        rv, r_rep, nxt = _compress(nxt >= 0, rv, r_rep, nxt)
        hn = h_uid[cand + (n - 1)]
        cand, c_rep, hn = _compress(hn >= 0, cand, c_rep, hn)
        if cand.size == 0:
            break
        query = rep_key.take(c_rep)
        query += hn
        r_rep, h_new = _lookup(rep_key[r_rep] + nxt, rv, query, tab)
        cand, c_rep = _compress(h_new >= 0, cand, h_new)
        correct[n - 1] = clip(cand, c_rep, r_rep)
    return np.ascontiguousarray(correct.T)  # (n_pairs, MAX_ORDER)


class _Clip:
    """Clipped matches of one order per pair: each matched hypothesis n-gram counts once, less the excess
    where a hypothesis repeats an n-gram more often than its reference holds it.

    A (pair, n-gram) is a bin: bin_off[pair] + representative, pair p's bins starting at bin_base[p].
    """

    def __init__(self, pad_pair: np.ndarray, bin_base: np.ndarray, bin_off: np.ndarray, n_bins: int,
                 n_slots: int):
        self.pad_pair, self.bin_base, self.bin_off = pad_pair, bin_base, bin_off
        self.n_bins, self.n_slots, self.n_pairs = n_bins, n_slots, len(bin_base)

    def __call__(self, cand: np.ndarray, c_rep: np.ndarray, r_rep: np.ndarray) -> np.ndarray:
        """cand: padded start of each matched hypothesis n-gram, c_rep: its representative; r_rep: the
        representative of each reference n-gram. Returns (n_pairs,) counts."""
        pair = self.pad_pair.take(cand)
        bins = self.bin_off.take(pair)
        bins += c_rep
        h_count = np.bincount(bins, minlength=self.n_bins)  # hits per bin
        correct = np.bincount(pair, minlength=self.n_pairs)
        dup = np.flatnonzero(h_count > 1)  # the bins hit more than once
        if dup.size:
            p_dup = np.searchsorted(self.bin_base, dup, side="right") - 1
            r_count = np.bincount(r_rep, minlength=self.n_slots)  # per reference n-gram
            excess = np.maximum(h_count[dup] - r_count[dup - self.bin_off[p_dup]], 0)
            correct -= np.bincount(p_dup, weights=excess, minlength=self.n_pairs).astype(np.int64)
        return correct


def _bleu_from_stats(correct: np.ndarray, sys_len: np.ndarray, ref_len: np.ndarray) -> np.ndarray:
    """sacrebleu's compute_bleu (smooth 'exp', effective order) for a batch, 0-100 scale."""
    sys_len = sys_len.astype(np.int64)
    ref_len = ref_len.astype(np.int64)
    orders = np.arange(1, MAX_ORDER + 1)
    total = np.maximum(sys_len[:, None] - orders[None, :] + 1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(sys_len < ref_len,
                      np.where(sys_len > 0, np.exp(1 - ref_len / np.maximum(sys_len, 1)), 0.0), 1.0)
        # 'exp' smoothing: the k-th order without a match (counting from the first) gets 100 / (2^k * total).
        zero = correct == 0
        smooth = np.power(2.0, np.cumsum(zero, axis=1))
        prec = np.where(zero, 100.0 / (smooth * total), 100.0 * correct / total)
        logs = np.log(prec)
    eff = np.minimum(sys_len, MAX_ORDER)  # orders with total > 0
    acc = np.zeros(len(sys_len))
    for k in range(MAX_ORDER):  # left to right, like sacrebleu's sum()
        acc = acc + np.where(k < eff, logs[:, k], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = bp * np.exp(acc / np.maximum(eff, 1))
    return np.where(correct.sum(axis=1) > 0, score, 0.0)


def _score(hyps: list[str], refs: list[str], h_ref: np.ndarray) -> np.ndarray:
    """Scores of hyps[p] against refs[h_ref[p]]; h_ref is non-decreasing (pairs grouped by reference)."""
    flat, lens = _tokenize_flat(hyps + refs)  # one pass for both sides
    n_h, n_refs = len(hyps), len(refs)
    h_lens, r_lens = lens[:n_h], lens[n_h:]
    h_off, r_off = np.cumsum(np.append(0, h_lens)), np.cumsum(np.append(0, r_lens))
    h_flat, r_flat = flat[:h_off[-1]], flat[h_off[-1]:]
    # Blocks of whole references with about _MATCH_TOKENS hypothesis tokens each.
    pair_start = np.searchsorted(h_ref, np.arange(n_refs + 1))  # each reference's first pair
    block = h_off[pair_start[:-1]] // _MATCH_TOKENS
    cuts = [0, *(np.flatnonzero(np.diff(block)) + 1).tolist(), n_refs]
    correct = []
    try:
        for g0, g1 in zip(cuts, cuts[1:]):
            p0, p1 = pair_start[g0], pair_start[g1]
            correct.append(_match_stats(h_flat[h_off[p0]:h_off[p1]], h_lens[p0:p1], h_ref[p0:p1] - g0,
                                        r_flat[r_off[g0]:r_off[g1]], r_lens[g0:g1]))
    except BaseException:  # e.g. KeyboardInterrupt while a scratch table was written: drop them
        _SCRATCH.clear()
        raise
    stats = np.concatenate(correct) if correct else np.zeros((0, MAX_ORDER), dtype=np.int64)
    return _bleu_from_stats(stats, h_lens, r_lens[h_ref])


def _maybe_trim_memo() -> None:
    if len(_CHUNKS) > _MAX_MEMO:
        clear_cache()


def sentence_bleu_batch(hyps: Sequence[str], refs: Sequence[str]) -> np.ndarray:
    """Sentence BLEU of hyps[i] against refs[i] (0-100), equal to ``sacrebleu.sentence_bleu(h, [r]).score``.

    Repeated references are tokenised and indexed once.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"hyps and refs differ in length: {len(hyps)} hypotheses vs {len(refs)} references")
    _check_strings("hyps", hyps)
    _check_strings("refs", refs)
    _maybe_trim_memo()
    ref_index: dict[str, int] = {}
    h_ref = np.fromiter((ref_index.setdefault(r, len(ref_index)) for r in refs), dtype=np.int64,
                        count=len(refs))
    if not (h_ref[1:] < h_ref[:-1]).any():
        return _score(list(hyps), list(ref_index), h_ref)
    order = np.argsort(h_ref, kind="stable")  # _score wants the pairs grouped by reference
    scores = np.empty(len(hyps))
    scores[order] = _score([hyps[i] for i in order.tolist()], list(ref_index), h_ref[order])
    return scores


def sentence_bleu_multi(hyps_per_ref: Sequence[Sequence[str]], refs: Sequence[str]) -> list[np.ndarray]:
    """For each reference, the sentence BLEU of each of its hypotheses (the MRT candidate sets).

    hyps_per_ref[j] holds the hypotheses scored against refs[j] (any number, possibly none); the
    result's j-th array has one score per hypothesis, equal to ``sentence_bleu_batch`` on the pairs.
    """
    if len(hyps_per_ref) != len(refs):
        raise ValueError(f"hyps_per_ref and refs differ in length: {len(hyps_per_ref)} hypothesis lists "
                         f"vs {len(refs)} references")
    _check_strings("refs", refs)
    counts = []
    for j, group in enumerate(hyps_per_ref):
        if isinstance(group, str):
            raise TypeError(f"hyps_per_ref[{j}] is a string, expected a sequence of strings")
        _check_strings(f"hyps_per_ref[{j}]", group)
        counts.append(len(group))
    _maybe_trim_memo()
    flat_hyps = list(chain.from_iterable(hyps_per_ref))
    h_ref = np.repeat(np.arange(len(refs), dtype=np.int64), counts)
    scores = _score(flat_hyps, list(refs), h_ref)
    return [scores[end - count:end] for count, end in zip(counts, accumulate(counts))]


def _as_ids(name: str, i: int, seq) -> list[int]:
    arr = np.asarray(seq)
    if arr.ndim != 1:
        raise ValueError(f"{name}[{i}] has shape {arr.shape}, expected a 1-D sequence of token ids")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name}[{i}] has dtype {arr.dtype}, expected integer token ids")
    return arr.astype(np.int64).tolist()


def _flatten_ids(name: str, seqs: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """All sequences' ids concatenated (int64) and their lengths; checks each is 1-D and integer."""
    if all(type(seq) in (list, tuple) for seq in seqs):  # fast path: plain Python sequences
        lens = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        flat = np.array(list(chain.from_iterable(seqs)))
        if flat.size == 0 or (flat.ndim == 1 and np.issubdtype(flat.dtype, np.integer)):
            return flat.astype(np.int64), lens
    return _flatten([_as_ids(name, i, seq) for i, seq in enumerate(seqs)])


def sentence_bleu_ids(hyp_ids: Sequence[Sequence[int]], ref_ids: Sequence[Sequence[int]]) -> np.ndarray:
    """Sentence BLEU (0-100) of integer token sequences: hyp_ids[i] against ref_ids[i].

    Same formula as ``sentence_bleu_batch`` (smooth 'exp', effective order, max order 4) with each
    id as one token and no tokenizer. sacrebleu has no counterpart: it equals sacrebleu's
    sentence_bleu on the ids written as distinct words joined by spaces. Each sequence is a list,
    tuple, 1-D numpy array or 1-D tensor of integers (any values; trim padding / EOS first).
    """
    if len(hyp_ids) != len(ref_ids):
        raise ValueError(f"hyp_ids and ref_ids differ in length: {len(hyp_ids)} hypotheses vs "
                         f"{len(ref_ids)} references")
    h_flat, h_lens = _flatten_ids("hyp_ids", hyp_ids)
    r_flat, r_lens = _flatten_ids("ref_ids", ref_ids)
    # Dense non-negative ids (any integer values allowed on input).
    both = np.concatenate([h_flat, r_flat])
    _, dense = np.unique(both, return_inverse=True)
    h_flat, r_flat = dense[:h_flat.size].astype(np.int64), dense[h_flat.size:].astype(np.int64)
    h_ref = np.arange(len(h_lens), dtype=np.int64)
    correct = _match_stats(h_flat, h_lens, h_ref, r_flat, r_lens)
    return _bleu_from_stats(correct, h_lens, r_lens)
