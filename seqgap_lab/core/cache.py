"""Artifacts keyed by a hash of their config: atomic writes and safe, verified loads."""
from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from tqdm.auto import tqdm

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; locking is then a no-op (one process at a time)
    fcntl = None

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
    _remove_dead_temps(path)
    # The writer's pid@host is in the temp name: a later write can tell a killed writer's leftover from a live one's.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{writer_tag()}.", suffix=".tmp")
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


def _remove_dead_temps(path: Path) -> None:
    """Delete temp files of `path` left by writers that were killed (SIGKILL skips their cleanup)."""
    for tmp in path.parent.glob(glob.escape(f".{path.name}.") + "*.tmp"):
        tag, _, rest = tmp.name[len(path.name) + 2:-len(".tmp")].partition(".")
        # "<pid>@<host>.<random>" exactly: anything else belongs to another target whose name extends this one's
        if _TAG.fullmatch(tag) and rest and "." not in rest and writer_dead(tag):
            with contextlib.suppress(OSError):
                tmp.unlink()


_TAG = re.compile(r"\d+(@\w+)?")


def _host() -> str:
    """This machine's name as a temp-name part: letters, digits and '_' only (no '.', '-' or '@')."""
    return re.sub(r"\W", "_", platform.node()) or "host"


def writer_tag() -> str:
    """'<pid>@<host>' of this process, put in temporary names: on a shared filesystem (a Ray cluster's data folder)
    a pid alone could be another machine's live writer, whose file must not be taken for a dead one's."""
    return f"{os.getpid()}@{_host()}"


def writer_dead(tag: str) -> bool:
    """True when the writer named by tag ('<pid>@<host>', or a bare pid from before hosts were recorded) is a
    process of this machine that is gone; another machine's writer is never judged from here."""
    pid, _, host = tag.partition("@")
    if host and host != _host():
        return False
    return pid.isdigit() and not pid_alive(int(pid))


def swap_in_folder(build: Path, target: Path, old_prefix: str) -> None:
    """Put the finished folder `build` at `target` with renames only, so no reader sees a half-written folder; an
    older `target` is first moved into a fresh `<old_prefix><pid@host>-*` folder beside it and deleted after (a
    killed swap leaves that folder, named so its writer can be told dead: writer_dead)."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{old_prefix}{writer_tag()}-"))
        os.replace(target, old / target.name)
    os.replace(build, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (possibly another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomic text write (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomic JSON write, indented and key-sorted for readable diffs."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, what: str | None = None) -> Iterator[Path]:
    """Hold an exclusive lock on `<path>.lock` (blocking) so that two processes never build `path` twice.

    Pattern: check the cache; if missing, take the lock, check again (another process may have built it while
    this one waited), build, write atomically, release. flock belongs to the open file, so the kernel releases
    it when the holder exits or is killed (SIGKILL included): a lock file left on disk is never stale, and an
    existing one is simply reused. Lock files are kept (unlinking one races with a process about to lock it).
    `what` names the work in the note printed when this process has to wait, e.g. "training reverse-gru".
    """
    lock = Path(f"{os.fspath(path)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                tqdm.write(f"waiting for another process {what or 'building ' + Path(path).name}", file=sys.stderr)
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield lock
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def cached_json_rows(path: str | os.PathLike, key: Any, compute: Callable[[], list], what: str | None = None
                     ) -> tuple[list, bool]:
    """(rows, from_cache): rows stored at `path` as {"key", "rows"} for this key, else compute() written atomically.

    A file that is unreadable or made for another key is recomputed and replaced (it is derived data). Two
    processes asking at once compute once: the second waits for the lock (file_lock), then reads the file."""
    path = Path(path)
    rows = _read_rows(path, key)
    if rows is None:
        with file_lock(path, what):
            rows = _read_rows(path, key)  # written by another process while this one waited?
            if rows is None:
                rows = compute()
                atomic_write_json(path, {"key": key, "rows": rows})
                return rows, False
    return rows, True


def _read_rows(path: Path, key: Any) -> list | None:
    if not path.is_file():
        return None
    try:
        blob = json.loads(path.read_text(encoding="utf-8"))
        return blob["rows"] if blob.get("key") == key else None
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None


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
