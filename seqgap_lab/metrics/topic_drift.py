"""Topic drift of a long continuation: TF-IDF cosine similarity between the prompt and successive windows.

Definition (used by notebook 10's long-form study):
- content words of a text: lower-cased alphabetic words (an inner apostrophe kept: "don't"), stopwords
  (STOPWORDS: English function words plus the archaic ones of the WEB bible, "thee", "unto", ...) and
  one-letter words removed;
- IDF from a document collection (the prose LM's training passages): idf(w) = ln((1 + N) / (1 + df(w))) + 1
  (smoothed, as scikit-learn's default); a word never seen gets the largest value, ln(1 + N) + 1;
- a text's vector: count(w) x idf(w) over its content words;
- drift curve of a continuation: the continuation split on whitespace (the words rep-n counts) into
  consecutive full windows of W words (a shorter tail is dropped), and for window k the cosine similarity
  between the prompt's vector and the window's. 1 = the same content words in the same proportions,
  0 = no content word in common (or a window with no content word at all). Topic drift = the fall of that
  similarity over the windows; the similarity of the last window is the single number.
Caveat: verbatim loops that repeat the prompt's words keep the similarity high, so read it with rep-n.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable

from seqgap_lab.core.config import check_int

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off
on once only or other our ours ourselves out over own same she should so some such than that the their theirs
them themselves then there these they this those through to too under until up upon very was we were what when
where which while who whom why will with would you your yours yourself yourselves let may might must shall one
said says say also even yet thus therefore
thee thou thy thine ye unto hath hast doth art shalt wilt didst dost saith lest whereof wherefore behold
""".split())


def content_words(text: str) -> list[str]:
    """Lower-cased alphabetic words of text without stopwords and one-letter words, in order."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS]


class TopicVectors:
    """TF-IDF vectors over content words, the IDF fitted on a document collection (see the module doc)."""

    def __init__(self, documents: Iterable[str]):
        df: Counter = Counter()
        n = 0
        for doc in documents:
            df.update(set(content_words(doc)))
            n += 1
        self.num_documents = n
        self.unseen_idf = math.log(1 + n) + 1.0
        self.idf = {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}

    def vector(self, text: str) -> dict[str, float]:
        """count x idf per content word of text."""
        return {w: c * self.idf.get(w, self.unseen_idf) for w, c in Counter(content_words(text)).items()}

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of the two texts' vectors (0.0 when either has no content word)."""
        return cosine(self.vector(a), self.vector(b))

    def window_similarities(self, prompt: str, continuation: str, window: int) -> list[float]:
        """Similarity of the prompt to each full window of `window` whitespace words of the continuation."""
        check_int("window_similarities", "window", window, 1)
        words, base = continuation.split(), self.vector(prompt)
        return [cosine(base, self.vector(" ".join(words[i:i + window])))
                for i in range(0, len(words) - window + 1, window)]


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine similarity of two sparse vectors; 0.0 when either is empty."""
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


__all__ = ["STOPWORDS", "content_words", "TopicVectors", "cosine"]
