"""Peer benchmark: our Transformer + seqgap_lab.decoding against an HF MarianMT of the same size + HF `generate`.

Both models have random weights (built from configs, never downloaded) and every sentence runs exactly
`decode_steps` steps (<eos> is masked until then: min_len for us, min_new_tokens for HF), so both sides do
the same work whatever the weights. A third variant runs our decoding on the same Marian through the adapter
(seqgap_lab.bench.hf_adapter.HFSeq2Seq): it separates the cost of the search loop from the cost of the model.
Timings are interleaved in one process and compared as medians of paired ratios (see bench/run.py).
"""
from __future__ import annotations

import argparse
import json
import statistics
from typing import Callable

import torch

from seqgap_lab.bench.hf_adapter import HFSeq2Seq, build_marian, transformers_available
from seqgap_lab.core.config import ModelConfig, check_choice, check_int
from seqgap_lab.core.runtime import autocast, device_description, get_device, seed_everything
from seqgap_lab.core.timing import bench_row, timed
from seqgap_lab.decoding.beam import beam_search
from seqgap_lab.decoding.search import greedy
from seqgap_lab.decoding.static import static_beam_search, static_greedy
from seqgap_lab.models import build_model
from seqgap_lab.training.step_cost import SIZES, random_batch

BEAM = 5
HF_MODEL = "hf_marian"  # HF generate on MarianMTModel
ADAPTED = "hf_marian+seqgap"  # our decoding on the same MarianMTModel, through the adapter
NO_TRANSFORMERS = "transformers is not installed (pip install transformers)"
GRAPHED = "transformer+graph"  # our Transformer, fixed-shape search with the step in a CUDA graph (CUDA only)


def _describe(size: dict) -> str:
    return (f"{size['batch']} sentences x {size['decode_steps']} tokens forced (no early <eos>), src_len "
            f"{size['src_len']}; d_model {size['d_model']}, {size['num_layers']}+{size['num_layers']} layers, "
            f"{size['num_heads']} heads, ffn {size['ffn_dim']}, vocab {size['vocab']}; random weights")


def _models(size: dict, device: torch.device):
    """Our Transformer, an HF Marian of the same size, and the adapter around that Marian; all in eval mode."""

    seed_everything(0)
    cfg = ModelConfig(kind="transformer", d_model=size["d_model"], num_heads=size["num_heads"],
                      num_layers=size["num_layers"], ffn_dim=size["ffn_dim"], dropout=0.0)
    ours = build_model(cfg, size["vocab"]).to(device).eval()
    hf = build_marian(size["vocab"], size["d_model"], size["num_layers"], size["num_heads"], size["ffn_dim"],
                      max_positions=max(512, size["src_len"], size["decode_steps"] + 1)).to(device)
    return ours, hf, HFSeq2Seq(hf).eval()


def decode_fns(size: dict, device: torch.device) -> dict[str, Callable[[], torch.Tensor]]:
    """Name -> a call that decodes the benchmark batch and returns its tokens; names are '<variant>/<method>'."""
    ours, hf, adapted = _models(size, device)
    src = random_batch(size, device).src  # (B, S), no padding
    mask, steps = src != 0, size["decode_steps"]

    def run(fn):
        def call():
            with torch.no_grad(), autocast(device):
                return fn()
        return call

    def generate(beams: int):
        return run(lambda: hf.generate(input_ids=src, attention_mask=mask.long(), do_sample=False, num_beams=beams,
                                       max_new_tokens=steps, min_new_tokens=steps, length_penalty=1.0)[:, 1:])

    fns = {
        "transformer/greedy": run(lambda: greedy(ours, src, mask, steps, min_len=steps).tokens),
        f"{HF_MODEL}/greedy": generate(1),
        f"{ADAPTED}/greedy": run(lambda: greedy(adapted, src, mask, steps, min_len=steps).tokens),
        "transformer/beam": run(lambda: beam_search(ours, src, mask, steps, beam_size=BEAM, min_len=steps).tokens),
        f"{HF_MODEL}/beam": generate(BEAM),
        f"{ADAPTED}/beam": run(lambda: beam_search(adapted, src, mask, steps, beam_size=BEAM, min_len=steps).tokens),
    }
    if device.type == "cuda":  # a graph is captured per call: its capture is part of the time
        fns[f"{GRAPHED}/greedy"] = run(lambda: static_greedy(ours, src, mask, steps, min_len=steps).tokens)
        fns[f"{GRAPHED}/beam"] = run(lambda: static_beam_search(ours, src, mask, steps, beam_size=BEAM,
                                                                min_len=steps).tokens)
    return fns


def _timed(fns: dict, size: dict, repeats: int, device: torch.device) -> dict[str, list[float]]:
    """Warm-up calls that also check the work (batch x decode_steps tokens from every variant, or the timings
    would compare different work), then `repeats` interleaved rounds; name -> seconds per round."""
    want = (size["batch"], size["decode_steps"])
    for name, fn in fns.items():
        got = tuple(fn().shape)
        if got != want:
            raise RuntimeError(f"bench_hf: {name} produced {got} tokens, expected {want}")
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return times


def hf_rows(device: torch.device | str, repeats: int, size: str = "peer", adapter: bool = True) -> list[dict]:
    """Rows in bench/run.py's format: greedy and beam-5 sentences/s of ours, HF generate (and, with adapter=True,
    our decoding on the HF model), plus speed-ups ours/HF as medians of paired (interleaved) time ratios.
    Without transformers: one note row saying so."""
    check_choice("hf_rows", "size", size, tuple(SIZES))
    check_int("hf_rows", "repeats", repeats, 1, 1000)
    if not transformers_available():
        return [bench_row(HF_MODEL, "hf_rows_skipped", 0.0, "", NO_TRANSFORMERS)]
    dev = torch.device(device) if isinstance(device, str) else device
    spec = SIZES[size]
    fns = decode_fns(spec, dev)
    if not adapter:
        fns = {k: v for k, v in fns.items() if not k.startswith(ADAPTED)}
    rows, note, n = [], _describe(spec), spec["batch"]
    for method, label in (("greedy", "greedy"), ("beam", f"beam{BEAM}")):
        names = [k for k in fns if k.endswith("/" + method)]
        times = _timed({k: fns[k] for k in names}, spec, repeats, dev)
        for name in names:
            rows.append(bench_row(name.split("/")[0], f"{label}_forced_sentences_per_s", n / statistics.median(times[name]),
                             "sent/s", note))
        ours, peer = times["transformer/" + method], times[f"{HF_MODEL}/{method}"]
        rows.append(bench_row(f"transformer_vs_{HF_MODEL}", f"{label}_speedup",
                         statistics.median(h / o for h, o in zip(peer, ours)), "x",
                         "median paired time ratio HF generate / ours, interleaved; " + note))
        if f"{GRAPHED}/{method}" in times:
            graphed = times[f"{GRAPHED}/{method}"]
            rows.append(bench_row(f"{GRAPHED}_vs_{HF_MODEL}", f"{label}_speedup",
                             statistics.median(h / g for h, g in zip(peer, graphed)), "x",
                             "median paired time ratio HF generate / our fixed-shape search in a CUDA graph "
                             "(captured per call), interleaved; " + note))
        if adapter:
            mine = times[f"{ADAPTED}/{method}"]
            rows.append(bench_row(f"{ADAPTED}_vs_{HF_MODEL}", f"{label}_speedup",
                             statistics.median(h / a for h, a in zip(peer, mine)), "x",
                             "same Marian weights: HF generate time / our decoding's time (search-loop cost)"))
    return rows


def peer_parser(doc: str) -> argparse.ArgumentParser:
    """The options every peer benchmark script takes: --size (default peer), --repeats, --device."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--size", default="peer", choices=list(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=None)
    return parser


def print_rows(device: torch.device, size: str, rows: list[dict]) -> int:
    """Print a peer benchmark's rows as JSON with the device, size, torch version and thread count; exit code 0."""
    print(json.dumps({"device": device_description(device), "size": size, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "rows": rows}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m seqgap_lab.bench.hf [--size peer] [--repeats 5] [--device cpu]`: print the rows as JSON."""
    parser = peer_parser(__doc__)
    parser.add_argument("--no-adapter", action="store_true")
    args = parser.parse_args(argv)
    dev = get_device(args.device)
    return print_rows(dev, args.size, hf_rows(dev, args.repeats, args.size, adapter=not args.no_adapter))


if __name__ == "__main__":
    raise SystemExit(main())
