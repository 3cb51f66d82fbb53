"""Metrics: error compounding (exposure.py) and sacrebleu text scores (text.py)."""
