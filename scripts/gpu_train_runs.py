"""Real training runs through training/loop.py on the current device (the GPU check, scripts/gpu_train_check.sh):
the default synthetic Transformer and GRU on reverse (teacher forcing and two-pass scheduled sampling), a few
hundred steps each; prints steps/s, target tokens/s and the last loss, and checks the history is finite.

Usage: python scripts/gpu_train_runs.py [--device cuda] [--steps 300]
"""
from __future__ import annotations

import argparse
import math
import time

from seqgap_lab.core.config import ModelConfig, TrainConfig
from seqgap_lab.core.runtime import device_description, get_device
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.models import build_model
from seqgap_lab.training.loop import train
from seqgap_lab.zoo.synthetic import configs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    dev = get_device(args.device)
    print("device", device_description(dev))
    for kind in ("transformer", "gru"):
        task_cfg, model_cfg, train_cfg = configs("default", "reverse", kind, 0)
        task = make_task(task_cfg)
        train_pairs = task.make_splits().train
        for strategy, extra in (("teacher_forcing", {}), ("scheduled_sampling",
                                                          {"schedule": {"name": "constant", "p": 0.75}})):
            model = build_model(model_cfg, len(task.vocab))
            cfg = TrainConfig(**{**train_cfg.to_dict(), "steps": args.steps, "strategy": strategy, "warmup_steps": args.steps // 10,
                                 "strategy_args": extra, "log_every": 50})
            start = time.perf_counter()
            history = train(model, train_pairs, cfg, dev, progress=False)
            seconds = time.perf_counter() - start
            assert history["loss"].map(math.isfinite).all(), history
            print(f"{kind:12s} {strategy:19s} {args.steps / seconds:8.1f} steps/s "
                  f"{history['tokens_per_s'].iloc[1:].median():10.0f} tok/s  loss {history['loss'].iloc[-1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
