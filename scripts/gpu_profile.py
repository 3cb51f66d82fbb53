"""Where the time of one beam-5 / greedy run goes on the current device (torch.profiler), plus fp32 vs bf16
side by side for ours and HF generate. Run by scripts/gpu_check.sh on the GPU machine; prints plain text.

Usage: python scripts/gpu_profile.py [--device cuda] [--repeats 5]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics

import torch

from seqgap_lab.bench import SIZES, _time
from seqgap_lab.bench import _batch
from seqgap_lab.bench_hf import BEAM, _models
from seqgap_lab.decoding.beam import beam_search
from seqgap_lab.decoding.search import greedy
from seqgap_lab.runtime import get_device


def _calls(size, dev, dtype):
    """name -> zero-argument call; dtype None = fp32 (no autocast), else autocast to dtype."""
    ours, hf, _ = _models(size, dev)
    src = _batch(size, dev).src
    mask, steps = src != 0, size["decode_steps"]

    def ctx():
        return torch.autocast(dev.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()

    def wrap(fn):
        def call():
            with torch.no_grad(), ctx():
                return fn()
        return call

    def gen(beams):
        return wrap(lambda: hf.generate(input_ids=src, attention_mask=mask.long(), do_sample=False,
                                        num_beams=beams, max_new_tokens=steps, min_new_tokens=steps,
                                        length_penalty=1.0))
    return {
        "ours/greedy": wrap(lambda: greedy(ours, src, mask, steps, min_len=steps)),
        "hf/greedy": gen(1),
        "ours/beam5": wrap(lambda: beam_search(ours, src, mask, steps, beam_size=BEAM, min_len=steps)),
        "hf/beam5": gen(BEAM),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dev = get_device(args.device)
    size = SIZES["peer"]
    n = size["batch"]
    for label, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        if dtype is not None and dev.type != "cuda":
            continue
        calls = _calls(size, dev, dtype)
        for fn in calls.values():
            fn()
        times = {k: [] for k in calls}
        for _ in range(args.repeats):
            for k, fn in calls.items():
                times[k].append(_time(fn, dev))
        print(f"== {label}: sentences/s (median of {args.repeats}, interleaved)")
        for k, t in times.items():
            print(f"  {k:12s} {n / statistics.median(t):9.1f} sent/s   ({statistics.median(t) * 1000:.1f} ms a run)")
        for m in ("greedy", "beam5"):
            ratio = statistics.median(h / o for h, o in zip(times[f"hf/{m}"], times[f"ours/{m}"]))
            print(f"  {m}: ours / HF speed-up (median paired) {ratio:.2f}x")
        if dtype is None:
            acts = [torch.profiler.ProfilerActivity.CPU]
            if dev.type == "cuda":
                acts.append(torch.profiler.ProfilerActivity.CUDA)
            for k in ("ours/beam5", "ours/greedy"):
                with torch.profiler.profile(activities=acts) as prof:
                    calls[k]()
                    if dev.type == "cuda":
                        torch.cuda.synchronize()
                sort = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
                print(f"== profile of {k} (fp32), top 25 by {sort}")
                print(prof.key_averages().table(sort_by=sort, row_limit=25, max_name_column_width=50))


if __name__ == "__main__":
    main()
