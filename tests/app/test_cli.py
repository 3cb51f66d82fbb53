"""The command line: one-line errors with exit status 2, train through the cache, bench rows."""
from __future__ import annotations

import json

import torch

from seqgap_lab.core import paths
from seqgap_lab.app.cli import main
from seqgap_lab.core.config import ModelConfig
from seqgap_lab.decoding.search import greedy
from seqgap_lab.models import build_model
from seqgap_lab.training import step_cost


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_bad_profile(capsys):
    assert main(["train", "--profile", "fast"]) == 2
    _one_line_error(capsys, "'fast'", "smoke | default | full")


def test_bad_task_and_negative_steps(capsys):
    assert main(["train", "--task", "nope", "--profile", "smoke"]) == 2
    _one_line_error(capsys, "TaskConfig.name", "'nope'")
    assert main(["train", "--profile", "smoke", "--steps", "-5"]) == 2
    _one_line_error(capsys, "TrainConfig.steps", "-5")


def test_train_then_cache_then_corrupt(capsys):
    args = ["train", "--profile", "smoke", "--steps", "20", "--model", "gru"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["from_cache"] is False and 0.0 <= first["dev_exact_match"] <= 1.0
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["from_cache"] is True
    ckpt = paths.data_dir() / "checkpoints"
    (path,) = list(ckpt.glob("*.pt"))
    path.write_bytes(path.read_bytes()[:100])
    assert main(args) == 2
    _one_line_error(capsys, "corrupt checkpoint", path.name)
    assert main(args + ["--retrain"]) == 0


def test_bench_json_rows(capsys):
    assert main(["bench", "--json", "--size", "tiny", "--repeats", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    metrics = {(r["model"], r["metric"]) for r in out["rows"]}
    for kind in ("transformer", "gru"):
        for metric in ("train_tgt_tokens_per_s", "greedy_sentences_per_s", "greedy_cache_speedup"):
            assert (kind, metric) in metrics
    assert ("all", "peak_ram_mb") in metrics
    assert ("sentence_bleu", "sentence_bleu_speedup") in metrics
    assert all(r["value"] > 0 for r in out["rows"])


def test_bench_bad_size(capsys):
    assert main(["bench", "--size", "huge"]) == 2
    _one_line_error(capsys, "'huge'", "tiny | small | peer")


def test_cached_and_naive_greedy_agree():
    """The benchmark's two greedy variants must produce the same tokens, or the ratio means nothing."""
    torch.manual_seed(0)
    for kind in ("transformer", "gru"):
        model = build_model(ModelConfig(kind=kind, d_model=32, num_heads=2, num_layers=2, ffn_dim=64,
                                        dropout=0.0), 30).eval()
        src = torch.randint(3, 30, (5, 7))
        src[2, 4:] = 0
        with torch.no_grad():
            fast = greedy(model, src, src != 0, 9, min_len=9).tokens
            slow = step_cost.naive_greedy(model, src, 9)
        assert torch.equal(fast, slow)
