"""lessons.compounding: TODO docstring."""
