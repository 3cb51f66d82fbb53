"""lessons.lengths: TODO docstring."""
