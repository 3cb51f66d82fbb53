"""Probes: run a model and measure it (error compounding, speech errors and CER, cached decoding cells)."""
