"""zoo: TODO docstring."""
