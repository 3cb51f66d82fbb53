"""seqgap-lab: measure and teach the train/inference gap (exposure bias) of sequence models."""

__version__ = "0.1.0"
