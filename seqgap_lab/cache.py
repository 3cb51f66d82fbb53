"""Artifacts keyed by a hash of their config: atomic writes and safe, verified loads."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

# Bump when the checkpoint layout changes, so old entries are not mistaken for new ones.
CACHE_FORMAT = 1


class CacheError(RuntimeError):
    """A cache entry is corrupt or does not match the config it is asked for."""


def config_hash(config: Any) -> str:
    """Stable 16-hex-digit hash of a JSON-serialisable config (key order does not matter)."""
    blob = json.dumps({"format": CACHE_FORMAT, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes to a temporary file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomic text write (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomic JSON write, indented and key-sorted for readable diffs."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_checkpoint(path: str | os.PathLike, config: dict, state_dict: dict, extra: dict | None = None) -> Path:
    """Atomically save a checkpoint holding its config and hash beside the weights."""
    payload = {"format": CACHE_FORMAT, "hash": config_hash(config), "config": _jsonify(config),
               "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}, "extra": extra or {}}
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike, config: dict | None = None) -> dict:
    """Load a checkpoint with weights_only=True; raise CacheError if corrupt or made for another config."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises several types for truncated/garbled files
        raise CacheError(f"corrupt checkpoint {path}: {type(exc).__name__}; delete it to retrain") from None
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT or "state_dict" not in payload:
        raise CacheError(f"checkpoint {path} has an unknown layout (expected format {CACHE_FORMAT}); "
                         "delete it to retrain")
    if config is not None and (payload.get("hash") != config_hash(config) or payload.get("config") != _jsonify(config)):
        raise CacheError(f"checkpoint {path} was made for another config (hash {payload.get('hash')}, "
                         f"expected {config_hash(config)}); delete it to retrain")
    return payload


def _jsonify(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
