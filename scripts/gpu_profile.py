"""Where the time of one beam-5 / greedy run goes on the current device (torch.profiler), plus fp32 vs bf16
side by side for ours and HF generate. Run by scripts/gpu_check.sh on the GPU machine; prints plain text.

Usage: python scripts/gpu_profile.py [--device cuda] [--repeats 5]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics

import torch

from seqgap_lab.training.step_cost import SIZES
from seqgap_lab.core.timing import timed
from seqgap_lab.training.step_cost import random_batch
from seqgap_lab.bench.hf import BEAM, _models
from seqgap_lab.decoding.beam import beam_search
from seqgap_lab.decoding.search import greedy
from seqgap_lab.decoding.static import static_beam_search, static_greedy
from seqgap_lab.core.runtime import get_device


def _calls(size, dev, dtype, graphs=True):
    """name -> zero-argument call; dtype None = fp32 (no autocast), else autocast to dtype."""
    ours, hf, _ = _models(size, dev)
    src = random_batch(size, dev).src
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
    calls = {
        "ours/greedy": wrap(lambda: greedy(ours, src, mask, steps, min_len=steps)),
        "hf/greedy": gen(1),
        "ours/beam5": wrap(lambda: beam_search(ours, src, mask, steps, beam_size=BEAM, min_len=steps)),
        "hf/beam5": gen(BEAM),
    }
    if dev.type == "cuda" and graphs:
        calls["graph/greedy"] = wrap(lambda: static_greedy(ours, src, mask, steps, min_len=steps))
        calls["graph/beam5"] = wrap(lambda: static_beam_search(ours, src, mask, steps, beam_size=BEAM, min_len=steps))
    return calls


def checks(size, dev) -> None:
    """Graph replay vs the same steps run eagerly (must be identical), and vs the dynamic searches (rows with
    identical tokens: random weights have near-ties, so a few may differ by summation order); forced length
    and free length (finished-hypothesis bookkeeping and early stop on the device)."""
    ours, _, _ = _models(size, dev)
    src = random_batch(size, dev).src
    mask, steps = src != 0, size["decode_steps"]
    with torch.no_grad():
        for min_len in (steps, 0):
            for name, stat, dyn in (
                    ("greedy", lambda g: static_greedy(ours, src, mask, steps, min_len=min_len, graphs=g),
                     lambda: greedy(ours, src, mask, steps, min_len=min_len)),
                    ("beam5", lambda g: static_beam_search(ours, src, mask, steps, beam_size=BEAM, min_len=min_len,
                                                           graphs=g),
                     lambda: beam_search(ours, src, mask, steps, beam_size=BEAM, min_len=min_len))):
                graph, eager, ref = stat(True), stat(False), dyn()
                same_rows = (graph.tokens == ref.tokens).all(1).float().mean().item()
                print(f"check {name} min_len={min_len}: graph == eager static: tokens "
                      f"{torch.equal(graph.tokens, eager.tokens)}, lengths {torch.equal(graph.lengths, eager.lengths)},"
                      f" max |score diff| {(graph.scores - eager.scores).abs().max().item():.2e}; rows equal to the "
                      f"dynamic search {same_rows:.3f}, max |score diff| {(graph.scores - ref.scores).abs().max().item():.2e}"
                      f", mean length {graph.lengths.float().mean().item():.1f} vs {ref.lengths.float().mean().item():.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dev = get_device(args.device)
    size = SIZES["peer"]
    n = size["batch"]
    graphs_ok = dev.type == "cuda"
    if graphs_ok:
        try:
            checks(size, dev)
        except Exception:  # report and go on without the graph variants: the other timings still count
            import traceback
            traceback.print_exc()
            graphs_ok = False
    for label, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        if dtype is not None and dev.type != "cuda":
            continue
        calls = _calls(size, dev, dtype, graphs_ok)
        for fn in calls.values():
            fn()
        times = {k: [] for k in calls}
        for _ in range(args.repeats):
            for k, fn in calls.items():
                times[k].append(timed(fn, dev))
        print(f"== {label}: sentences/s (median of {args.repeats}, interleaved)")
        for k, t in times.items():
            print(f"  {k:12s} {n / statistics.median(t):9.1f} sent/s   ({statistics.median(t) * 1000:.1f} ms a run)")
        for m in ("greedy", "beam5"):
            for who in ("ours", "graph"):
                if f"{who}/{m}" in times:
                    ratio = statistics.median(h / o for h, o in zip(times[f"hf/{m}"], times[f"{who}/{m}"]))
                    print(f"  {m}: {who} / HF speed-up (median paired) {ratio:.2f}x")
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
                print(f"== profile of {k} (fp32), top 15 by {sort}")
                print(prof.key_averages().table(sort_by=sort, row_limit=15, max_name_column_width=50))


if __name__ == "__main__":
    main()
