"""Synthetic data with a known oracle: seq2seq tasks (copy, reverse, sort, addition, running sum; tasks.py) and a
Markov-chain language whose probabilities are exact (markov_lm.py)."""
