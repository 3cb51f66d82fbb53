"""app: TODO docstring."""
