"""The synthesized speech corpus of notebook 11: config, synthesis, features, transcripts, batches."""
