"""Which notebooks a report may run side by side: the notebooks each one loads models or summaries from, and
the order in which a free worker takes the next one.

Every model and decode is cached under a file lock, so any overlap is safe: a notebook that asks for a model
another one is training waits and loads it, and one that gets there first trains it for both. `NEEDS` only keeps
a worker from waiting on a lock for a whole notebook's worth of training (03-06 and 10 start from the checkpoints
01 and 02 train) and keeps 09 after the notebooks whose summaries and sweeps it reads (06, 07, 08, 10). Notebook
08 reuses 03-05's models too, but it may start beside them: whichever notebook reaches a model first trains it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

NEEDS: dict[str, tuple[str, ...]] = {
    "03": ("01",), "04": ("01", "02"), "05": ("01",), "06": ("02",), "08": ("01", "02"),
    "09": ("06", "07", "08", "10"), "10": ("02", "04"),
}
FIRST = ("01", "02")  # parents: their models are loaded by 03-08 and 10 (Ray's first wave)
AFTER = {"09": NEEDS["09"]}  # notebook -> notebooks whose summaries it reads (Ray's last wave)


def key(path: Path) -> str:
    """A notebook's NN prefix, the name NEEDS uses."""
    return Path(path).stem[:2]


def waves(notebooks: list[Path]) -> list[list[Path]]:
    """The notebooks in waves (for Ray, which places a wave at once): FIRST, then all others but those waiting on
    AFTER, then those, in order."""
    first = [p for p in notebooks if key(p) in FIRST]
    last = [p for p in notebooks if key(p) in AFTER]
    middle = [p for p in notebooks if p not in first and p not in last]
    return [wave for wave in (first, middle, last) if wave]


def ready(pending: Iterable[Path], finished: set[str], selected: Iterable[Path]) -> list[Path]:
    """The pending notebooks whose NEEDS among the selected ones have all finished (ok or failed: a failed parent
    does not stop the others, as in a serial report), in notebook order."""
    chosen = {key(p) for p in selected}
    return [p for p in pending if all(n in finished for n in NEEDS.get(key(p), ()) if n in chosen)]


# Seconds each notebook took in `default` with one torch thread, two at a time (`make report`, 2-core CPU,
# 2026-12-05, revision d67b3f6: the first whole report with notebook 03's and 05's part 2). Only their order
# matters: they rank the notebooks of a run that has no earlier report.json to read times from (a fresh clone), for
# every profile. Ranked by the earlier times (05 at 377 s, before its part 2), that run started notebook 05 late
# and ran it alone for its last 16 minutes.
DEFAULT_SECONDS = {"01": 205, "02": 712, "03": 2777, "04": 258, "05": 2330, "06": 528, "07": 100, "08": 1328,
                   "09": 21, "10": 776, "11": 1176}


def ranks(notebooks: list[Path], expected_s: Mapping[str, float]) -> dict[str, float]:
    """Each notebook's critical path: its expected seconds (the last report's, else DEFAULT_SECONDS, else 0)
    plus the longest path of the notebooks in the run that wait for it (NEEDS). Taking the highest rank first
    starts what the end of the run waits on first (list scheduling)."""
    own = {p.stem: expected_s.get(p.stem, DEFAULT_SECONDS.get(key(p), 0.0)) for p in notebooks}
    waiting = {p.stem: [q.stem for q in notebooks if key(p) in NEEDS.get(key(q), ())] for p in notebooks}
    out: dict[str, float] = {}

    def rank(stem: str) -> float:
        if stem not in out:  # NEEDS has no cycles, so this recursion ends
            out[stem] = own[stem] + max((rank(w) for w in waiting[stem]), default=0.0)
        return out[stem]

    for p in notebooks:
        rank(p.stem)
    return out


def pick(candidates: list[Path], rank: Mapping[str, float]) -> Path | None:
    """The next notebook for a free worker: the candidate with the highest rank (see ranks), the first in
    notebook order on a tie; None if there is none."""
    if not candidates:
        return None
    return max(candidates, key=lambda p: (rank.get(p.stem, 0.0), -candidates.index(p)))


def expected_times(report_json: Path, profile: str) -> dict[str, float]:
    """Each notebook's elapsed seconds in the last report of this profile (report.json), {} if there is none."""
    try:
        report = json.loads(report_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(report, dict) or report.get("profile") != profile:
        return {}
    return {r["stem"]: float(r["elapsed_s"]) for r in report.get("records", [])
            if isinstance(r, dict) and r.get("status") == "ok" and isinstance(r.get("elapsed_s"), (int, float))}
