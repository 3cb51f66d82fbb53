"""Synthetic seq2seq tasks with a known oracle and controllable length: copy, reverse, sort, addition."""
