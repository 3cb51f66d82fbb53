"""lessons.scheduled_sampling: TODO docstring."""
