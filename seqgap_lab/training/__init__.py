"""training: TODO docstring."""
