"""A language with a known oracle: an order-n Markov chain over a small vocabulary, for LM lessons whose answers
must be exact (issue 17).

Each context (the previous `order` symbols, BOS-padded at the start) has its own next-symbol distribution over the
symbols and <eos>, drawn once from a Dirichlet(alpha): a small alpha makes it peaked (a few likely continuations per
context, like a language), a large one near-uniform. Because the distributions are known:
- the exact log-probability of any text (`log_prob`), so the quality of any decoding is computable;
- the oracle's next-token distribution after any prefix, the model's own included (`next_distribution`): the
  per-step error of a free-running model under its own prefix, ExAccErr as Arora et al. (2022) define it for an LM;
- the entropy of the next symbol in every context (`context_entropy`), the floor of a trained model's loss.
Texts end at <eos>, or at `max_len` symbols (cut). Ids follow data/vocab.py: symbols start after the specials.
"""
from __future__ import annotations

import string

import numpy as np

from seqgap_lab.data.vocab import BOS, EOS, SPECIALS, Vocab

FIRST = len(SPECIALS)  # id of the first symbol


class MarkovLM:
    """An order-`order` Markov chain over `num_symbols` letters plus <eos>, its distributions drawn from the seed."""

    def __init__(self, num_symbols: int = 20, order: int = 2, alpha: float = 0.1, eos_weight: float = 0.02,
                 seed: int = 0):
        if not 2 <= num_symbols <= 26:
            raise ValueError(f"MarkovLM num_symbols = {num_symbols!r} is not allowed: expected 2..26 (letters)")
        if not 1 <= order <= 3:
            raise ValueError(f"MarkovLM order = {order!r} is not allowed: expected 1, 2 or 3 (contexts grow as V^order)")
        if not alpha > 0:
            raise ValueError(f"MarkovLM alpha = {alpha!r} is not allowed: expected a Dirichlet concentration > 0")
        if not 0 < eos_weight < 1:
            raise ValueError(f"MarkovLM eos_weight = {eos_weight!r} is not allowed: expected a probability in (0, 1)")
        self.vocab = Vocab(tuple(string.ascii_lowercase[:num_symbols]))
        self.num_symbols, self.order = num_symbols, order
        rng = np.random.default_rng(seed)
        # contexts: every tuple of `order` tokens from BOS + the symbols; row = next-token probabilities over
        # [symbols..., eos], <eos> given a fixed share so texts end (mean length about 1 / eos_weight)
        self._base = num_symbols + 1  # BOS + symbols per context position
        symbols = rng.dirichlet(np.full(num_symbols, alpha), size=self._base ** order)  # (C, V)
        self._probs = np.concatenate([symbols * (1 - eos_weight), np.full((len(symbols), 1), eos_weight)], axis=1)

    def _context(self, prefix: list[int]) -> int:
        """Row of the context of the next token: the last `order` ids of BOS-padded prefix."""
        padded = [BOS] * self.order + list(prefix)
        index = 0
        for i in padded[-self.order:]:
            index = index * self._base + (0 if i == BOS else i - FIRST + 1)
        return index

    def next_distribution(self, prefix: list[int]) -> np.ndarray:
        """p(next | prefix) over ids 0..len(vocab)-1 (the specials but <eos> at 0): (len(vocab),)."""
        if any(not FIRST <= i < FIRST + self.num_symbols for i in prefix):
            raise ValueError(f"MarkovLM prefix {list(prefix)!r} holds ids outside the symbols "
                             f"{FIRST}..{FIRST + self.num_symbols - 1}")
        row = self._probs[self._context(prefix)]
        out = np.zeros(len(self.vocab))
        out[FIRST:] = row[:-1]
        out[EOS] = row[-1]
        return out

    def context_entropy(self, prefix: list[int]) -> float:
        """Entropy in nats of the next token after this prefix."""
        p = self.next_distribution(prefix)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    def log_prob(self, text: list[int], ended: bool = True) -> float:
        """Exact log-probability (nats) of a text of symbol ids, with its <eos> when `ended`."""
        total = 0.0
        for t, token in enumerate(list(text) + ([EOS] if ended else [])):
            total += float(np.log(self.next_distribution(text[:t])[token]))
        return total

    def sample(self, rng: np.random.Generator, max_len: int = 64, min_len: int = 1) -> list[int]:
        """One text of symbol ids (no specials), drawn token by token; <eos> before `min_len` is redrawn, the text
        is cut at `max_len`."""
        text: list[int] = []
        while len(text) < max_len:
            p = self.next_distribution(text)
            if len(text) < min_len:
                p = np.where(np.arange(len(p)) == EOS, 0.0, p)
                p = p / p.sum()
            token = int(rng.choice(len(p), p=p))
            if token == EOS:
                break
            text.append(token)
        return text

    def corpus(self, n: int, seed: int, max_len: int = 64, min_len: int = 1) -> list[list[int]]:
        """n texts from their own seed (the chain's distributions stay those of the constructor's seed)."""
        rng = np.random.default_rng(seed)
        return [self.sample(rng, max_len, min_len) for _ in range(n)]
