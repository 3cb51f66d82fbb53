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
  (words) repeat a lot, so each distinct chunk goes through sacrebleu's own regular expressions
  (``TokenizerRegexp``) once (plain words and word+punctuation take a shortcut) and is memoised
  as integer token ids; a batch is joined into one string, split once and mapped chunk by chunk.
  The line-level part of 13a (rstrip, ``<skipped>``, ``-\n``, newlines, the four HTML entities)
  is applied to each line first, in 13a's order. The tests compare the tokens with
  ``Tokenizer13a`` on every tested string and on random strings.
- Each distinct reference is tokenised and indexed once per call (MRT: n hypotheses share it).
- N-gram matching for the whole batch in numpy, without building n-gram tuples: an n-gram of a
  reference is named by the position of one of its occurrences (a representative), built order by
  order from (representative of the (n-1)-gram prefix, id of the last token) through a dense
  lookup table; a hypothesis n-gram is looked up the same way, so only n-grams whose prefix
  matched are looked up at all. Clipped counts: matched hypothesis n-grams, less the excess where
  a hypothesis repeats an n-gram more often than its reference holds it.
- The final formula is vectorised over the batch in the same operation order as sacrebleu's
  ``BLEU.compute_bleu`` (numpy's log/exp may differ from ``math``'s in the last bit: measured
  differences are ~1e-14 on the 0-100 scale).
- The chunk memo is module-level (not thread-safe; dropped past 2^20 chunks; ``clear_cache()``).

``sentence_bleu_ids`` scores integer token sequences (synthetic tasks) with the same formula and
no tokenizer; sacrebleu has no such function (the tests compare it with sacrebleu on the ids
written as distinct words joined by spaces).
"""
from __future__ import annotations

from itertools import chain
from typing import Sequence

import numpy as np
from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp

MAX_ORDER = 4
# Dense lookup tables above this many entries (sum over references of length x distinct tokens)
# switch to a sort-based lookup; only very long references get there.
_MAX_TABLE = 1 << 24
# The chunk memo is dropped (between calls) once it holds more chunks than this.
_MAX_MEMO = 1 << 20
# Joins the lines of a batch so that one str.split() does them all; checked absent from the lines.
_MARK = "\x00"


def _always_split_chars() -> frozenset:
    """ASCII characters 13a pads with spaces wherever they are (its first rule), from sacrebleu's own pattern."""
    try:
        pattern = TokenizerRegexp()._re[0][0]
    except (AttributeError, IndexError, TypeError):  # internals changed: no shortcut
        return frozenset()
    return frozenset(c for c in map(chr, range(128)) if pattern.fullmatch(c) and not c.isspace())


_ALWAYS_SPLIT = _always_split_chars()
_SPLIT_AFTER_WORD = _ALWAYS_SPLIT | {".", ","}


class _Chunks(dict):
    """chunk (whitespace-free string) -> chunk index; a miss tokenises the chunk with 13a once.

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
        self.vocab: dict[str, int] = {}
        self.words: list[str] = []
        self._starts: list[int] = []
        self._lens: list[int] = []
        self._pool: list[int] = []
        self.start = np.zeros(1024, dtype=np.int64)[:0]
        self.length = np.zeros(1024, dtype=np.int64)[:0]
        self.pool = np.zeros(1024, dtype=np.int64)[:0]
        self[_MARK] = self._add(())
        self._add(self._token_ids(_MARK))

    def _token_ids(self, chunk: str) -> tuple:
        # Shortcuts for the commonest chunks; the tests compare every tokenisation with Tokenizer13a.
        if chunk.isalnum():
            # Letters and digits only: no 13a rule applies (each needs ASCII punctuation).
            tokens = (chunk,)
        elif len(chunk) > 1 and chunk[-1] in _SPLIT_AFTER_WORD and chunk[:-1].isalnum():
            # "said," "so." "him:": the mark is always split off (a period or comma followed by
            # the padding space is split whatever precedes it).
            tokens = (chunk[:-1], chunk[-1])
        elif len(chunk) > 1 and chunk[0] in _ALWAYS_SPLIT and chunk[1:].isalnum():
            tokens = (chunk[0], chunk[1:])  # "(Lord"
        else:
            tokens = self._regexp(f" {chunk} ").split()
        vocab, words = self.vocab, self.words
        ids = []
        for tok in tokens:
            i = vocab.get(tok)
            if i is None:
                i = vocab[tok] = len(words)
                words.append(tok)
            ids.append(i)
        return tuple(ids)

    def _add(self, ids: tuple) -> int:
        self._starts.append(len(self._pool))
        self._lens.append(len(ids))
        self._pool.extend(ids)
        return len(self._lens) - 1

    def __missing__(self, chunk: str) -> int:
        index = self[chunk] = self._add(self._token_ids(chunk))
        return index

    def sync(self) -> None:
        """Bring the numpy copies up to date with the chunks added since the last call."""
        self.start = _append(self.start, self._starts)
        self.length = _append(self.length, self._lens)
        self.pool = _append(self.pool, self._pool)

    def expand(self, cidx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of a chunk-index sequence, and the cumulative token count after each chunk."""
        self.sync()
        tok_len = self.length[cidx]
        cum = np.cumsum(tok_len)
        total = int(cum[-1]) if len(cum) else 0
        offset = np.repeat(self.start[cidx] - (cum - tok_len), tok_len)
        return self.pool[offset + np.arange(total)], cum


def _append(view: np.ndarray, values: list) -> np.ndarray:
    """A view of values[:] as int64, reusing `view`'s buffer (which holds values[:len(view)]) when it has room.

    The buffer doubles when full, so the copying is amortised O(1) a value.
    """
    n, m = len(view), len(values)
    if m == n:
        return view
    buf = view.base if view.base is not None else view
    if len(buf) < m:
        new = np.empty(max(m, 2 * len(buf), 1024), dtype=np.int64)
        new[:n] = view
        buf = new
    buf[n:m] = values[n:m]
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
    if joined.count(_MARK) == n - 1:
        # One split for the batch; each separator chunk maps to index 0, which has no tokens.
        chunks = joined.split()
        cidx = np.fromiter(map(_CHUNKS.__getitem__, chunks), dtype=np.int64, count=len(chunks))
        flat, cum = _CHUNKS.expand(cidx)
        ends = cum[cidx == 0]
    else:  # some line holds the separator character itself: split line by line
        split = [line.split() for line in lines]
        get = _CHUNKS.__getitem__
        cidx = np.array([1 if c == _MARK else get(c) for c in chain.from_iterable(split)], dtype=np.int64)
        flat, cum = _CHUNKS.expand(cidx)
        chunk_end = np.cumsum([len(s) for s in split])[:-1]
        ends = np.concatenate([[0], cum])[chunk_end]
    bounds = np.concatenate([[0], ends, [flat.size]])
    return flat, np.diff(bounds)


def tokenize_13a(line: str) -> list[str]:
    """The tokens sacrebleu's BLEU scores for `line` (same as ``Tokenizer13a()(line.rstrip()).split()``)."""
    if not isinstance(line, str):
        raise TypeError(f"expected a string, got {type(line).__name__}")
    flat, _ = _tokenize_flat([line])
    words = _CHUNKS.words
    return [words[i] for i in flat.tolist()]


def clear_cache() -> None:
    """Forget the memoised chunk tokenisations (for cold-start timings, or to free memory)."""
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
    return sorted_keys[new], order[new], inv


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
    h_pad = np.arange(n_h, dtype=np.int64) + h_tok_pair
    r_pad_start = _starts(r_lens + 1)

    # Unigram ids: index into the sorted distinct (reference, token) keys, so ids of reference g
    # are u_start[g] .. u_start[g+1]-1; hypothesis tokens absent from their reference get none.
    width = int(max(r_flat.max(), h_flat.max())) + 1
    uniq, first, inv = _unique(r_tok_ref * width + r_flat)
    u_start = np.searchsorted(uniq, refs * width)
    n_distinct = np.diff(np.append(u_start, len(uniq)))
    h_key = h_tok_ref * width + h_flat
    pos = np.minimum(np.searchsorted(uniq, h_key), len(uniq) - 1)
    found = uniq[pos] == h_key
    r_uid = np.full(n_r + n_refs, -1, dtype=np.int64)
    r_uid[r_pad] = inv
    h_uid = np.full(n_h + n_pairs, -1, dtype=np.int64)
    cand = h_pad[found]  # hypothesis n-grams (by start) still matching
    h_uid[cand] = pos[found]
    u_rep = r_pad[first]  # representative of each unigram: its first occurrence
    c_rep = u_rep[pos[found]]
    r_rep = u_rep[inv]
    rv = r_pad

    # Higher orders: key(representative of the (n-1)-gram, id of the next token) = rep_key[rep] + uid
    # indexes a table with, for each reference, one row of n_distinct entries per position.
    table_size = int((r_lens * n_distinct).sum())
    const = _starts(r_lens * n_distinct) - r_pad_start * n_distinct - u_start
    pad_ref = np.repeat(refs, r_lens + 1)
    rep_key = np.arange(n_r + n_refs, dtype=np.int64) * n_distinct[pad_ref] + const[pad_ref]
    tab = np.full(table_size, -1, dtype=np.int32 if n_r + n_refs < 2**31 else np.int64) \
        if table_size <= _MAX_TABLE else None
    hit_pos, hit_rep, ref_reps = [cand], [c_rep], [r_rep]
    for n in range(2, MAX_ORDER + 1):
        nxt = r_uid[rv + (n - 1)]
        keep = nxt >= 0
        rv, r_rep, nxt = rv[keep], r_rep[keep], nxt[keep]
        hn = h_uid[cand + (n - 1)]
        keep = hn >= 0
        cand, c_rep, hn = cand[keep], c_rep[keep], hn[keep]
        if cand.size == 0:
            break
        r_rep, h_new = _lookup(rep_key[r_rep] + nxt, rv, rep_key[c_rep] + hn, tab)
        keep = h_new >= 0
        cand, c_rep = cand[keep], h_new[keep]
        hit_pos.append(cand)
        hit_rep.append(c_rep)
        ref_reps.append(r_rep)

    # Clipped counts. Each matched hypothesis n-gram counts once, less the excess where the
    # hypothesis repeats an n-gram more often than the reference has it.
    orders = len(hit_pos)
    pad_pair = np.repeat(pairs, h_lens + 1)
    hit_order = np.repeat(np.arange(orders, dtype=np.int64), [len(c) for c in hit_pos])
    hit_pair = pad_pair[np.concatenate(hit_pos)]
    correct = np.bincount(hit_pair * MAX_ORDER + hit_order, minlength=n_pairs * MAX_ORDER)
    # Bin of (pair, order, reference position of the representative).
    pair_bin_base = _starts(r_lens[h_ref])
    n_bins = int(r_lens[h_ref].sum())
    bins = (hit_order * n_bins + (pair_bin_base - r_pad_start[h_ref])[hit_pair]
            + np.concatenate(hit_rep))
    h_count = np.bincount(bins, minlength=orders * n_bins)
    dup = h_count[bins] > 1
    if dup.any():
        ub = np.unique(bins[dup])
        k_u, b_u = np.divmod(ub, n_bins)
        p_u = np.searchsorted(pair_bin_base, b_u, side="right") - 1
        rep_u = b_u - pair_bin_base[p_u] + r_pad_start[h_ref[p_u]]
        n_slots = n_r + n_refs
        r_count = np.bincount(np.concatenate([k * n_slots + reps for k, reps in enumerate(ref_reps)]),
                              minlength=orders * n_slots)
        excess = np.maximum(h_count[ub] - r_count[k_u * n_slots + rep_u], 0)
        correct = correct - np.bincount(p_u * MAX_ORDER + k_u, weights=excess,
                                        minlength=n_pairs * MAX_ORDER).astype(np.int64)
    return correct.reshape(n_pairs, MAX_ORDER)


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


def _score(hyps: Sequence[str], refs: Sequence[str], h_ref: np.ndarray) -> np.ndarray:
    h_flat, h_lens = _tokenize_flat(hyps)
    r_flat, r_lens = _tokenize_flat(refs)
    correct = _match_stats(h_flat, h_lens, h_ref, r_flat, r_lens)
    return _bleu_from_stats(correct, h_lens, r_lens[h_ref])


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
    return _score(hyps, list(ref_index), h_ref)


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
    scores = _score(flat_hyps, refs, h_ref)
    return np.split(scores, np.cumsum(counts)[:-1]) if refs else []


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
