"""Transcripts of the speech corpus: normalisation to a character vocabulary, spoken digit strings,
prose phrases of a target length, and the length buckets the splits are made of.

Targets are characters: lowercase letters, space and apostrophe. Numbers in prose are spelled out as
words ("12" -> "twelve"); digit strings are spoken digit by digit ("471" -> "four seven one").
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from seqgap_lab.data.vocab import Vocab

CHARS = "abcdefghijklmnopqrstuvwxyz '"
# Length buckets by transcript character count; train/dev hold short and medium, test holds all three,
# so "long" measures lengths past the training range.
BUCKETS = {"short": (8, 30), "medium": (31, 60), "long": (61, 100)}
TRAIN_BUCKETS = ("short", "medium")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand"))
MAX_NUMBER = 999_999_999_999


def char_vocab() -> Vocab:
    """The character vocabulary: <pad> <bos> <eos> (ids 0-2), then a-z, space, apostrophe."""
    return Vocab(tuple(CHARS))


def _below_thousand(n: int) -> list[str]:
    words = []
    if n >= 100:
        words += [DIGIT_WORDS[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10] + (f" {DIGIT_WORDS[n % 10]}" if n % 10 else ""))
    elif n >= 10:
        words.append(_TEENS[n - 10])
    elif n or not words:
        words.append(DIGIT_WORDS[n])
    return words


def number_to_words(n: int) -> str:
    """A non-negative integer in English words without "and" or hyphens: 2024 -> "two thousand twenty four"."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number_to_words: n = {n!r} is not allowed: expected an integer in [0, {MAX_NUMBER}]")
    words = []
    for scale, name in _SCALES:
        if n >= scale:
            words += _below_thousand(n // scale) + [name]
            n %= scale
    if n or not words:
        words += _below_thousand(n)
    return " ".join(words)


def digits_to_words(digits: str) -> str:
    """A digit string spoken digit by digit: "471" -> "four seven one"."""
    if not digits or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"digits_to_words: digits = {digits!r} is not allowed: expected a non-empty string of 0-9")
    return " ".join(DIGIT_WORDS[int(d)] for d in digits)


def normalize_text(text: str) -> str:
    """Lowercase, numbers spelled as words, curly apostrophes straightened, every other symbol a space;
    apostrophes kept only inside words ("god's"); spaces collapsed."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"\d+", lambda m: f" {number_to_words(int(m.group()[:12]))} ", text)
    text = re.sub(r"[^a-z']+", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    return " ".join(text.split())


def check_transcript(text: str) -> str:
    """Return text unchanged if it is a non-empty normalised transcript, else raise ValueError naming it."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"transcript = {text!r} is not allowed: expected non-empty text")
    bad = sorted(set(text) - set(CHARS))
    if bad or text != " ".join(text.split()):
        raise ValueError(f"transcript = {text[:60]!r} is not normalised: characters {bad} are outside "
                         f"{CHARS!r} or spaces are not single; pass it through normalize_text()")
    return text


def bucket_of(text: str) -> str:
    """The length bucket (short | medium | long) of a transcript by character count."""
    n = len(text)
    for name, (lo, hi) in BUCKETS.items():
        if lo <= n <= hi:
            return name
    raise ValueError(f"transcript length {n} is outside every bucket {BUCKETS}")


def _fit(words: Sequence[str], start: int, lo: int, hi: int, target: int) -> str | None:
    """Words from `start` until the text reaches `target` chars without passing `hi`; None if under `lo`."""
    text = ""
    for word in words[start:]:
        longer = f"{text} {word}" if text else word
        if len(longer) > hi:
            break
        text = longer
        if len(text) >= target:
            break
    return text if len(text) >= lo else None


def prose_phrase(words: Sequence[str], bucket: str, rng: np.random.Generator, tries: int = 50) -> str:
    """A run of consecutive normalised words whose length falls in the bucket (target length uniform in it)."""
    lo, hi = BUCKETS[bucket]
    if len(words) < 2:
        raise ValueError(f"prose_phrase: {len(words)} words are too few to cut phrases from")
    for _ in range(tries):
        start = int(rng.integers(0, max(1, len(words) - 1)))
        text = _fit(words, start, lo, hi, int(rng.integers(lo, hi + 1)))
        if text is not None:
            return text
    raise ValueError(f"prose_phrase: no phrase of {lo}-{hi} characters found in {tries} tries")


def digit_phrase(bucket: str, rng: np.random.Generator) -> tuple[str, str]:
    """(digits, spoken words) with as many digits as fit the bucket's character range (a digit ~5 chars)."""
    lo, hi = BUCKETS[bucket]
    while True:
        count = int(rng.integers(max(1, lo // 6), hi // 4 + 1))
        digits = "".join(str(d) for d in rng.integers(0, 10, size=count))
        text = digits_to_words(digits)
        if lo <= len(text) <= hi:
            return digits, text


def text_words(passages: Sequence[str]) -> list[str]:
    """All normalised words of some passages, in order (the pool phrases are cut from)."""
    return normalize_text(" ".join(passages)).split()
