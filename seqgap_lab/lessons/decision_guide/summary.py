"""The decision guide's inputs from other notebooks and its takeaway (notebook 09): the summaries of notebooks
06 and 07 read back from reports/, and the guide table as Markdown bullets."""
from __future__ import annotations

import json

import pandas as pd

from seqgap_lab.core import paths


def notebook_summary(stem: str, profile: str) -> tuple[dict | None, str]:
    """Another notebook's summary.json when it exists and was made in this profile, else None; and a note."""
    path = paths.reports_dir(stem) / "summary.json"
    if not path.is_file():
        return None, f"{stem}: no summary.json yet (run notebook {stem[:2]} first; `make report` runs it before this one)"
    data = json.loads(path.read_text())
    if data.get("profile") != profile:
        return None, f"{stem}: its summary is from profile {data.get('profile')!r}, not {profile!r}: run it in {profile!r}"
    return data, f"{stem}: read {path} (device: {data.get('device')})"


def takeaway(frame: pd.DataFrame) -> str:
    """The guide as Markdown bullets: each claim, its verdict and the number of measured parts behind it."""
    lines = []
    for row in frame.itertuples(index=False):
        parts = row.evidence.split("; ")
        measured = sum(not p.endswith("[not measured]") for p in parts)
        lines.append(f"- **{row.situation}: {row.approach}** — *{row.verdict}* ({measured} of {len(parts)} parts "
                     f"measured).")
    return "\n".join(lines)
