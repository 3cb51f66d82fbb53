"""Metrics: error compounding (exposure.py); text and generation metrics come later."""
