"""Training: one loop for every model and strategy, cached runs, speech training, step costs."""
