"""TODO docstring."""
from __future__ import annotations

import math
import numbers
import re
from pathlib import Path
from typing import Any, Mapping

from seqgap_lab.core import paths
from seqgap_lab.core.cache import atomic_write_json

STEM_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def write_summary(stem: str, summary: Mapping[str, Any]) -> Path:
    """Atomically write a notebook's headline numbers to reports/<stem>/summary.json."""
    if not isinstance(stem, str) or not STEM_RE.match(stem):
        # Why: the stem becomes a folder name; a path separator would write outside reports/.
        raise ValueError(f"stem = {stem!r} is not a plain notebook stem such as '03_scheduled_sampling'")
    if not isinstance(summary, Mapping):
        raise TypeError(f"summary must be a dict, got {type(summary).__name__}")
    clean = {str(key): jsonable(value, str(key)) for key, value in summary.items()}
    return atomic_write_json(paths.reports_dir(stem) / "summary.json", clean)


def jsonable(value: Any, key: str) -> Any:
    """Plain-JSON copy of value; numpy/torch scalars become Python numbers, NaN/inf become null."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        value = value.item()  # numpy scalars and 0-d numpy arrays / torch tensors
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        # Why null: json would write NaN/Infinity, which strict readers (browsers, jq) reject.
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"summary value {key!r} is a {type(value).__name__}, which is not JSON-serialisable; "
                    "pass numbers, strings, bools, None, lists or dicts of them")
