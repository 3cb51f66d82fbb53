"""lessons.decision_guide: TODO docstring."""
