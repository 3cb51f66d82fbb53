"""Synthetic seq2seq tasks with a known oracle and controllable length: copy, reverse, sort, addition, running sum.

Addition is written in columns: source token i is the pair of digit i of both operands (symbol "ab"),
least significant first; the target is the sum, least significant first, with one more digit when the
last column carries. Each output digit then aligns with one source column and the carry must be read
from the previous column and the previous output digit (or recomputed from all earlier columns).

The running sum (num_symbols = k digits 0..k-1): y_t = (x_1 + ... + x_t) mod k, i.e. y_t = (y_{t-1} + x_t) mod k.
A model that learns the short recurrence reads its own previous output, so one wrong digit makes every later one
wrong unless it recomputes the sum from the source: a task where exposure bias can compound by construction, while
the oracle (the true prefix sums) stays fixed by the source, as for the other tasks.

The counter is the running sum with increments 0 or 1 only (outputs still count modulo k). Measured here: the
Transformer of the default profile does not learn the running sum in 1,500 steps (loss 2.25, near ln 10 = 2.30:
neither the previous output nor x_t alone says anything about y_t, a parity-like problem), while the counter's
previous output alone narrows y_t to two digits, so it is learned; recomputing the count from up to 48 source bits
is the hard way, so the model reads its own prefix.

Dialects: two valid targets per source. The source is copied in one of two dialects, consistent within a
sequence: the target opens with the dialect's tag (symbol "A" or "B"); dialect A then writes every symbol as
itself, dialect B swaps the symbol pairs (a, b), (c, d), ... over the first half of the alphabet (rounded down to
pairs) and writes the rest as A does. A decoder chooses the dialect with its first token and must keep to that
choice, read from its own prefix, at every swapped symbol; mixing the two is wrong. Each training target takes a
dialect at random (its own random stream); dev and test store dialect A and are scored against both
(`valid_targets`, `is_valid`).
Why the tag: it makes the choice one token, at a fixed place, as multilingual translation does with a
target-language token. Without it, the `default` Transformer (d 64, 2 layers, dropout 0.1) was valid in 8% of its
greedy outputs on 4-48-token sources, after 1,500 and after 4,500 steps (loss stuck at 0.4 ln 2: every swapped
symbol a fresh coin flip). The tag alone did not fix that (4% valid); dropping dropout did (zoo/dialects.py).
Whether the tag is still needed without dropout was not tested.
"""
from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from seqgap_lab.core.config import PREFIX_TASKS, TaskConfig
from seqgap_lab.data.vocab import Vocab

Pair = tuple[list[int], list[int]]  # (source ids, target ids), no specials
DIALECT_TAGS = ("A", "B")  # the first target token of the dialects task: which dialect follows


@dataclass(frozen=True)
class Splits:
    """Train/dev on lengths [min_len, train_max_len]; test uniform over [min_len, test_max_len]."""

    train: list[Pair]
    dev: list[Pair]
    test: list[Pair]


class Task:
    """A task: its vocabulary, a length-controlled source generator and the oracle mapping source to target."""

    def __init__(self, config: TaskConfig):
        self.config = config
        if config.name == "addition":
            self.vocab = Vocab(tuple(string.digits) + tuple(a + b for a in string.digits for b in string.digits))
        elif config.name in PREFIX_TASKS:
            self.vocab = Vocab(tuple(string.digits[: config.num_symbols]))
        elif config.name == "dialects":
            self.vocab = Vocab(tuple(string.ascii_lowercase[: config.num_symbols]) + DIALECT_TAGS)
        else:
            self.vocab = Vocab(tuple(string.ascii_lowercase[: config.num_symbols]))
        self._first = self.vocab.first_symbol_id()

    @property
    def name(self) -> str:
        """Task name (copy | reverse | sort | addition | running_sum | counter | dialects)."""
        return self.config.name

    def output_symbol_ids(self) -> list[int]:
        """Ids a correct target may contain (used to draw wrong tokens for error injection)."""
        if self.name == "addition":
            return self.vocab.encode(string.digits)
        return list(range(self._first, self._first + self.config.num_symbols))

    def sample_source(self, length: int, rng: np.random.Generator) -> list[int]:
        """A random source of the given length (for addition: columns, i.e. digits per operand)."""
        if self.name == "addition":
            a, b = (rng.integers(0, 10, size=length) for _ in range(2))
            return self.vocab.encode([f"{x}{y}" for x, y in zip(a, b)])
        # The counter's inputs are increments 0 or 1: reading the previous output alone already narrows the next
        # one to two digits, which gives gradient descent a path in (the running sum's x + y mod 10 gives none).
        width = 2 if self.name == "counter" else self.config.num_symbols
        return [int(x) for x in rng.integers(self._first, self._first + width, size=length)]

    def valid_targets(self, src: list[int]) -> list[list[int]]:
        """Every correct target of a source: one, except for dialects (A and B, each with its tag)."""
        if self.name != "dialects":
            return [self.oracle(src)]
        return [self.oracle(src), self._dialect_b(src)]

    def is_valid(self, src: list[int], hyp: list[int]) -> bool:
        """Whether an output (no specials) is one of the source's correct targets."""
        return list(hyp) in self.valid_targets(src)

    def _dialect_b(self, src: list[int]) -> list[int]:
        """Dialect B's target: its tag, then the source with the pairs of the first half of the alphabet swapped."""
        swapped = 2 * (self.config.num_symbols // 4)  # symbols 0..swapped-1 swap in pairs
        out = self.vocab.encode(DIALECT_TAGS[1:])
        for x in src:
            v = x - self._first
            out.append(self._first + (v ^ 1 if v < swapped else v))
        return out

    def oracle(self, src: list[int]) -> list[int]:
        """The correct target for a source (dialects: dialect A, tag first; see valid_targets for every one)."""
        if self.name == "copy":
            return list(src)
        if self.name == "dialects":
            return self.vocab.encode(DIALECT_TAGS[:1]) + list(src)
        if self.name == "reverse":
            return list(reversed(src))
        if self.name == "sort":
            return sorted(src)
        if self.name in PREFIX_TASKS:
            return self._running_sum(src)
        return self._add(src)

    def _running_sum(self, src: list[int]) -> list[int]:
        k, total, out = self.config.num_symbols, 0, []
        for x in src:
            total = (total + x - self._first) % k  # ids -> digit values: the first symbol is digit 0
            out.append(self._first + total)
        return out

    def _add(self, src: list[int]) -> list[int]:
        columns = self.vocab.decode(src)
        a = int("".join(c[0] for c in reversed(columns)))
        b = int("".join(c[1] for c in reversed(columns)))
        digits = str(a + b)[::-1].ljust(len(columns), "0")  # little-endian, at least one digit per column
        return self.vocab.encode(digits)

    def make_splits(self) -> Splits:
        """Generate train/dev/test; dev and test exclude sources seen in training. With label_noise, that share of
        the training targets has one token replaced by another output symbol (dev and test stay clean)."""
        c = self.config
        rng = np.random.default_rng(c.seed)
        train = self._sample(c.num_train, c.min_len, c.train_max_len, rng)
        seen = {tuple(s) for s, _ in train}
        dev = self._sample(c.num_dev, c.min_len, c.train_max_len, rng, exclude=seen)
        test = self._sample(c.num_test, c.min_len, c.test_max_len, rng, exclude=seen)
        if self.name == "dialects":
            train = self._dialects(train)
        return Splits(self._corrupt(train) if c.label_noise else train, dev, test)

    def _dialects(self, pairs: list[Pair]) -> list[Pair]:
        """Each training target in dialect A or B, half and half at random (its own random stream)."""
        rng = np.random.default_rng([self.config.seed, 2])
        return [(src, self._dialect_b(src) if rng.random() < 0.5 else tgt) for src, tgt in pairs]

    def _corrupt(self, pairs: list[Pair]) -> list[Pair]:
        """Each target, with probability label_noise, gets one position replaced by a different output symbol
        (its own random stream: the clean pairs are the same as without noise)."""
        rng, symbols, out = np.random.default_rng([self.config.seed, 1]), self.output_symbol_ids(), []
        tagged = int(self.name == "dialects")
        for src, tgt in pairs:
            if rng.random() < self.config.label_noise:
                tgt, t = list(tgt), int(rng.integers(len(tgt) - tagged)) + tagged  # a symbol, never the tag
                tgt[t] = int(rng.choice([s for s in symbols if s != tgt[t]]))
            out.append((src, tgt))
        return out

    def _sample(self, n: int, lo: int, hi: int, rng: np.random.Generator, exclude: set | None = None) -> list[Pair]:
        out: list[Pair] = []
        tries = 0
        while len(out) < n:
            tries += 1
            if tries > 50 * n + 1000:
                raise RuntimeError(f"could not draw {n} distinct {self.name} examples of length {lo}..{hi}; "
                                   "lower num_dev/num_test or widen the length range")
            src = self.sample_source(int(rng.integers(lo, hi + 1)), rng)
            if exclude is not None and tuple(src) in exclude:
                continue
            out.append((src, self.oracle(src)))
        return out

    def source_length(self, src: list[int]) -> int:
        """Source tokens (for addition: columns, i.e. digits per operand)."""
        return len(src)


def make_task(config: TaskConfig) -> Task:
    """Build a Task from its config."""
    return Task(config)
