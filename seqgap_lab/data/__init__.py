"""Data: vocabularies and length-bucketed batching, and the corpora in three subpackages.

synthetic/ holds the tasks with oracles, text/ the real corpora and subword vocabularies, speech/ the synthesized speech
corpus.
"""
