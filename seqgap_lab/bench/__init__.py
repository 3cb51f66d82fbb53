"""Benchmarks: `seqgap-lab bench` and the scripts that compare speed with peers and size budgets.

Training and decoding throughput, the peer comparison with HF models (hf, hf_adapter), batched sentence-BLEU, the cost
of MRT and contrastive decoding, and speech training budgets.
"""
