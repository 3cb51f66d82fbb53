"""A Spanish -> English word lexicon from the training bitext by the Dice coefficient, and the source support
of a translation: the share of its English content words that the source licenses (notebook 10's
hallucination criterion; a translation unrelated to its source has little support).

Dice(s, e) = 2 c(s, e) / (c(s) + c(e)) over sentence pairs (c = number of pairs containing the word(s)), the
classic co-occurrence association (Smadja et al. 1996; Och & Ney 2003 use it as a baseline aligner). Each
Spanish word keeps its English words with Dice >= MIN_DICE (at most TOP_K). Words are lowercased alphabetic
runs; English function words are not counted as content.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from itertools import product
from typing import Sequence

from seqgap_lab.core import paths
from seqgap_lab.core.cache import atomic_write_json, file_lock

MIN_DICE, TOP_K, MIN_COUNT = 0.1, 8, 2
LEXICON_VERSION = 1
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# English function words (closed classes): they carry no evidence of what the source said.
STOPWORDS = frozenset("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he
her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
off on once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up upon very was we were what when where
which while who whom why will with would you your yours yourself yourselves shall thee thou thy thine ye unto hath
also let may said says one s t ll re ve d m""".split())


def words(text: str) -> list[str]:
    """Lowercased alphabetic word runs of a text."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """words() without English function words."""
    return [w for w in words(text) if w not in STOPWORDS]


def build(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Spanish word -> its English translations by Dice (see module docstring), from (es, en) sentence pairs."""
    src_count, tgt_count, joint = Counter(), Counter(), Counter()
    sets = [(set(words(s)), set(content_words(t))) for s, t in pairs]
    for s, t in sets:
        src_count.update(s)
        tgt_count.update(t)
    for s, t in sets:  # only words seen MIN_COUNT times: rare words give unreliable (and many) pairs
        joint.update(product([w for w in s if src_count[w] >= MIN_COUNT], [w for w in t if tgt_count[w] >= MIN_COUNT]))
    best: dict[str, list[tuple[float, str]]] = {}
    for (s, t), c in joint.items():
        dice = 2 * c / (src_count[s] + tgt_count[t])
        if dice >= MIN_DICE:
            best.setdefault(s, []).append((dice, t))
    return {s: [t for _, t in sorted(v, reverse=True)[:TOP_K]] for s, v in best.items()}


def cached(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """build(pairs), cached as JSON under data/lexicons/ by a hash of the pairs (written atomically)."""
    digest = hashlib.sha256("\n".join(f"{s}\t{t}" for s, t in pairs).encode()).hexdigest()[:16]
    path = paths.data_dir() / "lexicons" / f"es-en-{LEXICON_VERSION}-{digest}.json"
    if path.is_file():
        return json.loads(path.read_text())
    with file_lock(path, "building the es-en lexicon"):
        if path.is_file():  # built by another process while this one waited
            return json.loads(path.read_text())
        lexicon = build(pairs)
        atomic_write_json(path, lexicon)
    return lexicon


def support(source: str, hypothesis: str, lexicon: dict[str, list[str]]) -> float:
    """Share of the hypothesis's English content words that some source word translates to (or that appear in
    the source itself, e.g. names); 1.0 for a hypothesis without content words (nothing unsupported)."""
    hyp = content_words(hypothesis)
    if not hyp:
        return 1.0
    src = set(words(source))
    licensed = src | {t for w in src for t in lexicon.get(w, ())}
    return sum(w in licensed for w in hyp) / len(hyp)
