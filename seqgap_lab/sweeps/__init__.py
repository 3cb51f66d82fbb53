"""sweeps: TODO docstring."""
