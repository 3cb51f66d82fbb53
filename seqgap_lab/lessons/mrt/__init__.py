"""lessons.mrt: TODO docstring."""
