"""Metrics: pure scores of ids and strings, never a model.

sacrebleu text scores and the paired bootstrap (text.py), fast sentence-BLEU (sentence_bleu.py, tokenize_13a.py),
generation quality: repetition, diversity, code parse rate (generation.py), topic drift (topic_drift.py), CER (cer.py).
Error compounding is measured in probes/exposure.py.
"""
