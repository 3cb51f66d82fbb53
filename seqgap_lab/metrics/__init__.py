"""Metrics: error compounding (exposure.py), sacrebleu text scores and the paired bootstrap (text.py), fast
sentence-BLEU (sentence_bleu.py), generation quality: repetition, diversity, code parse rate (generation.py)."""
