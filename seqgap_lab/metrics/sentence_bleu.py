"""Batched sentence-BLEU, equal to ``sacrebleu.sentence_bleu(h, [r]).score`` (for MRT risks).

Matches sacrebleu's defaults for sentence BLEU: tokenizer '13a', mixed case, smoothing 'exp'
(mteval-v13a: the k-th order with no match gets precision 1 / (2^k * total)), effective order on
(orders longer than the hypothesis are left out), max order 4, brevity penalty exp(1 - r/h), score
on the 0-100 scale. Empty hypothesis or reference (after tokenisation) scores 0.0, as in sacrebleu.
One reference per hypothesis. The tests check equality with sacrebleu to 1e-9 on thousands of pairs.

Where the speed comes from (sacrebleu builds a BLEU object, re-tokenises both sides and builds
tuple n-gram Counters for every single call):

- Tokenisation: 13a, memoised per whitespace-separated chunk (``metrics/tokenize_13a.py`` says how
  and why).
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
- The chunk memo (tokenize_13a) and the tables are module-level (not thread-safe; the memo is dropped
  past 2^20 chunks; ``clear_cache()``).

``sentence_bleu_ids`` scores integer token sequences (synthetic tasks) with the same formula and
no tokenizer; sacrebleu has no such function (the tests compare it with sacrebleu on the ids
written as distinct words joined by spaces).
"""
from __future__ import annotations

from itertools import accumulate, chain
from typing import Sequence

import numpy as np

# tokenize_13a and clear_cache are part of this module's interface (re-exported).
from seqgap_lab.metrics.tokenize_13a import _starts, _tokenize_flat, clear_cache, tokenize_13a, trim_memo

__all__ = ["MAX_ORDER", "clear_cache", "sentence_bleu_batch", "sentence_bleu_ids", "sentence_bleu_multi",
           "tokenize_13a"]

MAX_ORDER = 4
# Dense lookup tables above this many entries (sum over references of length x distinct tokens)
# switch to a sort-based lookup; only very long references get there.
_MAX_TABLE = 1 << 24
# Tables of -1 up to this many entries (16 MB) are kept between calls (_minus_ones); larger ones are not.
_MAX_KEPT = 1 << 22
# _match_stats runs on blocks of whole references with about this many hypothesis tokens: its numpy
# temporaries then stay in cache and in the allocator's free lists (one pass over a large batch after
# other work is ~1.1-1.2x slower on a small machine).
_MATCH_TOKENS = 1 << 14


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



def sentence_bleu_batch(hyps: Sequence[str], refs: Sequence[str]) -> np.ndarray:
    """Sentence BLEU of hyps[i] against refs[i] (0-100), equal to ``sacrebleu.sentence_bleu(h, [r]).score``.

    Repeated references are tokenised and indexed once.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"hyps and refs differ in length: {len(hyps)} hypotheses vs {len(refs)} references")
    _check_strings("hyps", hyps)
    _check_strings("refs", refs)
    trim_memo()
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
    trim_memo()
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
