"""cache.py and synthetic.trained_model: config-keyed checkpoints, verified loads, atomic writes."""
from __future__ import annotations

import dataclasses
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqgap_lab.core import cache
from seqgap_lab.training import runs as experiments
from seqgap_lab.core.cache import (CacheError, atomic_write_bytes, atomic_write_json, config_hash, load_checkpoint, save_checkpoint)
from seqgap_lab.core.config import DecodeConfig, ModelConfig, TaskConfig, TrainConfig
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.zoo import synthetic

TASK = TaskConfig(name="copy", min_len=2, train_max_len=4, test_max_len=5, num_symbols=4,
                  num_train=60, num_dev=10, num_test=10)
MODEL = ModelConfig(kind="gru", d_model=16, num_heads=2, num_layers=1, ffn_dim=32, dropout=0.0,
                    max_positions=64)
TRAIN = TrainConfig(steps=5, batch_size=8, warmup_steps=1, log_every=2)


def _run(task=TASK, model=MODEL, train=TRAIN, **kw):
    return synthetic.trained_model(task, model, train, device="cpu", progress=False, **kw)


def _weights_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _one_line_with_path(exc: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(exc.value)
    assert str(path) in msg and "\n" not in msg, msg
    return msg


def _tmp_leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_trained_model_trains_then_loads_from_cache(tmp_path):
    first = _run()
    ckpt_dir = tmp_path / "data" / "checkpoints"
    assert first.from_cache is False
    assert first.checkpoint.parent == ckpt_dir and first.checkpoint.is_file()
    assert first.checkpoint.name.startswith("copy-gru-teacher_forcing-") and first.checkpoint.suffix == ".pt"
    assert first.train_seconds > 0 and len(first.history) == 3
    assert not _tmp_leftovers(ckpt_dir)
    mtime = first.checkpoint.stat().st_mtime_ns

    second = _run()
    assert second.from_cache is True
    assert second.checkpoint == first.checkpoint
    assert second.checkpoint.stat().st_mtime_ns == mtime, "a cache hit must not rewrite the checkpoint"
    assert _weights_equal(first.model, second.model)
    assert not second.model.training
    assert second.history["loss"].tolist() == first.history["loss"].tolist()
    assert second.train_seconds == pytest.approx(first.train_seconds)
    assert second.splits == first.splits
    sources = [s for s, _ in first.splits.test]
    cfg = DecodeConfig(max_len=8)
    assert decode_sequences(first.model, sources, cfg) == decode_sequences(second.model, sources, cfg)


def test_cache_hit_does_not_train(monkeypatch):
    _run()

    def boom(*a, **k):
        raise AssertionError("train() called on a cache hit")

    monkeypatch.setattr(experiments, "train", boom)
    assert _run().from_cache is True


def test_trained_weights_differ_from_init():
    from seqgap_lab.models import build_model
    from seqgap_lab.core.runtime import seed_everything
    result = _run()
    seed_everything(TRAIN.seed)
    init = build_model(MODEL, len(result.task.vocab))
    assert not _weights_equal(init, result.model)


CHANGES = {
    TaskConfig: dict(name="reverse", min_len=1, train_max_len=5, test_max_len=6, num_symbols=5,
                     num_train=61, num_dev=11, num_test=11, seed=1, label_noise=0.1),
    ModelConfig: dict(kind="transformer", d_model=32, num_heads=4, num_layers=2, ffn_dim=64, dropout=0.1,
                      max_positions=128, positions="rotary", attention_dropout=0.0, activation_dropout=0.0),
    TrainConfig: dict(strategy="other", steps=6, batch_size=9, lr=2e-3, weight_decay=0.0, warmup_steps=2,
                      grad_clip=0.5, label_smoothing=0.1, seed=1, log_every=3, strategy_args={"mode": "naive"}),
}


def test_every_config_field_changes_the_path():
    base = {TaskConfig: TASK, ModelConfig: MODEL, TrainConfig: TRAIN}
    paths = {experiments.checkpoint_path(TASK, MODEL, TRAIN)}
    for cls, changes in CHANGES.items():
        assert set(changes) == {f.name for f in dataclasses.fields(cls)}, f"cover every field of {cls.__name__}"
        for field, value in changes.items():
            cfgs = dict(base)
            # rotary positions and the two extra dropout rates are a Transformer's alone
            extra = {"kind": "transformer"} if field in ("positions", "attention_dropout", "activation_dropout") else {}
            cfgs[cls] = base[cls].replace(**{field: value}, **extra)
            paths.add(experiments.checkpoint_path(cfgs[TaskConfig], cfgs[ModelConfig], cfgs[TrainConfig]))
    assert len(paths) == 1 + sum(len(c) for c in CHANGES.values())
    # and the same config always maps to the same path
    assert experiments.checkpoint_path(TASK, MODEL, TRAIN) == experiments.checkpoint_path(
        TaskConfig.from_dict(TASK.to_dict()), MODEL, TRAIN)


@pytest.mark.parametrize("damage", ["truncate", "garble", "empty"])
def test_corrupt_checkpoint_raises_then_retrain_replaces_it(damage):
    good = _run()
    path = good.checkpoint
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garble":
        path.write_bytes(bytes(b ^ 0x5A for b in data[:4096]) + data[4096:])
    else:
        path.write_bytes(b"")
    broken = path.read_bytes()
    with pytest.raises(CacheError) as exc:
        _run()
    _one_line_with_path(exc, path)
    assert path.read_bytes() == broken, "the corrupt file is left for the user to inspect"
    with pytest.raises(CacheError):
        load_checkpoint(path)

    fresh = _run(retrain=True)
    assert fresh.from_cache is False and fresh.checkpoint == path
    assert _weights_equal(fresh.model, good.model)  # same seed, same config, same training
    again = _run()
    assert again.from_cache is True and _weights_equal(again.model, good.model)


def test_checkpoint_for_another_config_is_rejected():
    other_train = TRAIN.replace(seed=1)
    theirs = _run(train=other_train).checkpoint
    mine = experiments.checkpoint_path(TASK, MODEL, TRAIN)
    assert theirs != mine
    shutil.copyfile(theirs, mine)
    with pytest.raises(CacheError) as exc:
        _run()
    msg = _one_line_with_path(exc, mine)
    assert "another config" in msg
    fresh = _run(retrain=True)
    assert fresh.from_cache is False
    assert load_checkpoint(mine, experiments.run_config(TASK, MODEL, TRAIN))["hash"] == config_hash(
        experiments.run_config(TASK, MODEL, TRAIN))
    assert _run().from_cache is True


def test_load_checkpoint_checks_config_and_layout(tmp_path):
    path = tmp_path / "x.pt"
    config = {"a": 1, "b": [1, 2]}
    save_checkpoint(path, config, {"w": torch.arange(3.0)}, {"note": "hi"})
    payload = load_checkpoint(path, config)
    assert torch.equal(payload["state_dict"]["w"], torch.arange(3.0))
    assert payload["extra"] == {"note": "hi"} and payload["config"] == config
    assert payload["format"] == cache.CACHE_FORMAT
    assert load_checkpoint(path)["hash"] == config_hash(config)  # no config: no check
    with pytest.raises(CacheError) as exc:
        load_checkpoint(path, {"a": 2, "b": [1, 2]})
    _one_line_with_path(exc, path)
    # a valid torch file that is not one of our checkpoints
    other = tmp_path / "other.pt"
    torch.save({"w": torch.zeros(2)}, other)
    with pytest.raises(CacheError) as exc:
        load_checkpoint(other)
    assert "layout" in _one_line_with_path(exc, other)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


class _Payload:
    """A pickled object whose unpickling would have a side effect (it must never run)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_load_checkpoint_is_weights_only(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    buf = io.BytesIO()
    torch.save({"format": cache.CACHE_FORMAT, "state_dict": {}, "obj": _Payload(str(marker))}, buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(CacheError) as exc:
        load_checkpoint(path)
    _one_line_with_path(exc, path)
    assert not marker.exists(), "unpickling ran arbitrary code"
    # sanity: a full (unsafe) load would have run it, so the check above is meaningful
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    assert atomic_write_bytes(target, b"one") == target
    assert target.read_bytes() == b"one"
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]
    j = atomic_write_json(tmp_path / "s.json", {"b": 1, "a": [1.5]})
    assert j.read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'


def test_atomic_write_failure_keeps_old_content(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old content")

    def failing_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(target, b"new content that never lands")
    monkeypatch.undo()
    assert target.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_save_checkpoint_failure_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"v": 1}, {"w": torch.ones(1)})
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"v": 2}, {"w": torch.zeros(1)})
    monkeypatch.undo()
    assert load_checkpoint(path, {"v": 1})["state_dict"]["w"].item() == 1.0
    assert not _tmp_leftovers(tmp_path)


def test_config_hash():
    a = {"x": 1, "y": {"p": [1, 2], "q": "s"}}
    b = {"y": {"q": "s", "p": [1, 2]}, "x": 1}
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 16 and int(config_hash(a), 16) >= 0
    assert config_hash(a) != config_hash({"x": 2, "y": {"p": [1, 2], "q": "s"}})
    assert config_hash(a) != config_hash({"x": 1, "y": {"p": [2, 1], "q": "s"}})  # list order matters
    run = experiments.run_config(TASK, MODEL, TRAIN)
    reordered = {k: dict(reversed(list(v.items()))) for k, v in reversed(list(run.items()))}
    assert config_hash(run) == config_hash(reordered)


def test_temp_names_carry_pid_and_host_and_only_local_dead_writers_are_cleaned(tmp_path, monkeypatch):
    """On a shared data folder (a Ray cluster's store) a pid alone could be another machine's live writer."""
    tag = cache.writer_tag()
    pid, host = tag.split("@")
    assert pid == str(os.getpid()) and host and "." not in host and "-" not in host
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine_dead = tmp_path / f".c.pt.{dead.pid}@{host}.k1ll3d00.tmp"
    other_host = tmp_path / f".c.pt.{dead.pid}@elsewhere.writing0.tmp"  # same pid number, another machine
    legacy = tmp_path / f".c.pt.{dead.pid}.old00000.tmp"  # written before hosts were recorded: this machine's
    for path in (mine_dead, other_host, legacy):
        path.write_bytes(b"partial")
    atomic_write_bytes(tmp_path / "c.pt", b"done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c.pt", other_host.name])
    assert cache.writer_dead(f"{dead.pid}@{host}") and not cache.writer_dead(f"{dead.pid}@elsewhere")
    assert not cache.writer_dead(tag), "this live process is not dead"
