"""Speech recognition models on one acoustic encoder: CTC, RNN transducer and an attention encoder-decoder."""
