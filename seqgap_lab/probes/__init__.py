"""probes: TODO docstring."""
