"""Verse alignment between two Bible translations, deterministic splits, and contiguous prose passages."""
from __future__ import annotations

import hashlib
import random
from collections import defaultdict

from seqgap_lab.data.text.sword import VerseKey

# Poetry and wisdom books: a genre never seen in training, for the out-of-domain test.
OOD_BOOKS = ("Job", "Ps", "Prov", "Eccl", "Song")
SPLIT_SEED = 1909
MIN_WORD_RATIO, MAX_WORD_RATIO = 0.5, 2.0

Aligned = tuple[VerseKey, str, str]  # (key, source text, target text)


def ref(key: VerseKey) -> str:
    """'Gen 1:1' for ("Gen", 1, 1)."""
    return f"{key[0]} {key[1]}:{key[2]}"


def _chapters(keys) -> dict[tuple[str, int], list[VerseKey]]:
    chapters: dict[tuple[str, int], list[VerseKey]] = defaultdict(list)
    for key in keys:
        chapters[key[:2]].append(key)
    return chapters


def _ratio_ok(src: str, tgt: str) -> bool:
    return MIN_WORD_RATIO <= len(src.split()) / len(tgt.split()) <= MAX_WORD_RATIO


def align(src: dict[VerseKey, str], tgt: dict[VerseKey, str]) -> tuple[list[Aligned], dict]:
    """Verse pairs for keys in both texts, dropping whole chapters that look shifted.

    A chapter goes when any verse is empty on either side (a verse moved elsewhere) or any verse's
    source/target word ratio leaves [0.5, 2.0]: the two modules number verses differently there
    (e.g. RV1909's Job 39-40, Num 12-13, Jonah 1, Hos 11, 2 Cor 13), so neighbours are off by one too.
    """
    common = [k for k in src if k in tgt]  # src order is canonical order
    pairs: list[Aligned] = []
    report = {"verses_in_both": len(common), "chapters": 0, "dropped_empty": [], "dropped_ratio": []}
    for (book, chapter), keys in _chapters(common).items():
        report["chapters"] += 1
        name = f"{book} {chapter}"
        if any(not src[k] or not tgt[k] for k in keys):
            report["dropped_empty"].append(name)
        elif not all(_ratio_ok(src[k], tgt[k]) for k in keys):
            report["dropped_ratio"].append(name)
        else:
            pairs.extend((k, src[k], tgt[k]) for k in keys)
    report["pairs"] = len(pairs)
    return pairs, report


def split_pairs(pairs: list[Aligned], num_dev: int, num_test: int,
                ood_books: tuple[str, ...] = (), seed: int = SPLIT_SEED) -> dict[str, list[Aligned]]:
    """train/dev/test by a seeded shuffle of held-out verses (+ test_ood: whole `ood_books`), canonical order kept."""
    in_domain = [i for i, p in enumerate(pairs) if p[0][0] not in ood_books]
    if num_dev + num_test >= len(in_domain):
        raise ValueError(f"num_dev + num_test = {num_dev + num_test} leaves no training pairs "
                         f"out of {len(in_domain)}")
    order = in_domain[:]
    random.Random(seed).shuffle(order)
    held = {"dev": set(order[:num_dev]), "test": set(order[num_dev:num_dev + num_test])}
    splits: dict[str, list[Aligned]] = {"train": [], "dev": [], "test": []}
    if ood_books:
        splits["test_ood"] = [p for p in pairs if p[0][0] in ood_books]
    for i in in_domain:
        name = "dev" if i in held["dev"] else "test" if i in held["test"] else "train"
        splits[name].append(pairs[i])
    return splits


def passages(verses: dict[VerseKey, str], target_words: int = 200) -> list[tuple[VerseKey, str]]:
    """Consecutive non-empty verses joined into passages of about `target_words` words, never across books.

    Returns (first verse's key, text). A book's short remainder (under a quarter of the target) joins
    the passage before it rather than standing alone.
    """
    out: list[tuple[VerseKey, str]] = []
    by_book: dict[str, list[VerseKey]] = defaultdict(list)
    for key, text in verses.items():
        if text:
            by_book[key[0]].append(key)
    for keys in by_book.values():
        book_passages: list[tuple[VerseKey, list[str]]] = []
        current: list[str] = []
        for key in keys:
            if not current:
                book_passages.append((key, current))
            current.append(verses[key])
            if sum(len(t.split()) for t in current) >= target_words:
                current = []
        if len(book_passages) > 1 and sum(len(t.split()) for t in book_passages[-1][1]) < target_words // 4:
            book_passages[-2][1].extend(book_passages.pop()[1])
        out.extend((first, " ".join(texts)) for first, texts in book_passages)
    return out


def split_books(books_words: dict[str, int], dev_fraction: float = 0.05,
                test_fraction: float = 0.05) -> dict[str, str]:
    """Book -> train | dev | test: books in hash order fill dev, then test, to about the given word fractions."""
    total = sum(books_words.values())
    quota = {"dev": dev_fraction * total, "test": test_fraction * total}
    filled = {"dev": 0, "test": 0}
    assignment = {}
    for book in sorted(books_words, key=lambda b: hashlib.sha256(b.encode()).hexdigest()):
        target = next((s for s in ("dev", "test") if filled[s] < quota[s]), "train")
        if target != "train":
            filled[target] += books_words[book]
        assignment[book] = target
    return assignment
