"""Metrics: error compounding (exposure.py), sacrebleu text scores (text.py), fast sentence-BLEU (sentence_bleu.py)."""
