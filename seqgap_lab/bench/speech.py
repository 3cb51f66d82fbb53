"""Measure how long each speech model (CTC, attention, transducer) takes to reach a usable CER on a corpus
profile, to size the speech notebook's budgets. A script, not a test:

    python -m seqgap_lab.bench.speech --profile default --models ctc --steps 800 --threads 2 --out ctc.json

Dev CER (greedy) is measured at every log point; its evaluation time is excluded from the training time.
Wall time swings 2-4x on a shared machine (other jobs share its 2 cores), so the curve records steps, wall seconds and
process CPU seconds: steps-to-CER does not depend on the load.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from seqgap_lab.core.cache import atomic_write_json
from seqgap_lab.core.config import TrainConfig
from seqgap_lab.data.speech import corpus as speech
from seqgap_lab.data.speech.config import SpeechConfig
from seqgap_lab.models.speech.encoder import SPEECH_MODELS, SpeechModelConfig
from seqgap_lab.probes.speech_eval import evaluate_cer
from seqgap_lab.training.speech import build_speech_model, train_speech


def measure(kind: str, corpus, steps: int, budget_s: float | None, log_every: int, batch_size: int,
            lr: float, ctc_weight: float = 0.0) -> dict:
    """Train one model with a time budget; dev CER at each log point, test CERs (greedy and beam) at the end."""
    torch.manual_seed(0)
    model_cfg = SpeechModelConfig(kind=kind, ctc_weight=ctc_weight if kind == "attention" else 0.0)
    model = build_speech_model(model_cfg, len(corpus.vocab))
    dev, curve, eval_s, cpu0 = corpus.split("dev"), [], [0.0, 0.0], time.process_time()

    def monitor(step: int, row: dict) -> None:
        """Dev CER at a log point; its time is kept out of the training time."""
        start, cpu = time.perf_counter(), time.process_time()
        result = evaluate_cer(model, dev, corpus.vocab)
        eval_s[0] += time.perf_counter() - start
        eval_s[1] += time.process_time() - cpu
        curve.append({"step": step, "train_s": round(row["elapsed_s"], 1),
                      "train_cpu_s": round(time.process_time() - cpu0 - eval_s[1], 1),
                      "loss": round(row["loss"], 4), "dev_cer": round(result["cer"], 4)})
        model.train()
        print(kind, curve[-1], result["examples"][:1], flush=True)

    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=min(150, steps // 5), log_every=log_every)
    start = time.perf_counter()
    train_speech(model, corpus.split("train"), cfg, torch.device("cpu"), [monitor], progress=False,
                 time_budget_s=budget_s)
    total = time.perf_counter() - start
    out = {"kind": kind, "ctc_weight": model_cfg.ctc_weight, "params": model.num_parameters(), "train_s": round(total - eval_s[0], 1),
           "eval_s": round(eval_s[0], 1), "curve": curve}
    for split in ("test", "test_long"):
        for method in ("greedy", "beam"):
            start = time.perf_counter()
            result = evaluate_cer(model, corpus.split(split), corpus.vocab, method)
            out[f"{split}_{method}_cer"] = round(result["cer"], 4)
            out[f"{split}_{method}_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps({k: v for k, v in out.items() if k != "curve"}), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--profile", default="default")
    p.add_argument("--models", nargs="*", default=list(SPEECH_MODELS))
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--budget", type=float, default=None, help="training seconds per model (eval excluded)")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ctc-weight", type=float, default=0.0, help="attention only: auxiliary CTC loss weight")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    corpus = speech.ensure(SpeechConfig(profile=args.profile))
    results = [measure(k, corpus, args.steps, args.budget, args.log_every, args.batch_size, args.lr, args.ctc_weight)
               for k in args.models]
    if args.out:
        atomic_write_json(args.out, results)  # a bench killed mid-write leaves the previous file whole
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
