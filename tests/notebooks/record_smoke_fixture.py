"""Re-record notebooks' entries in tests/fixtures/smoke_before_layout_move.json, for an issue that changes their
smoke numbers on purpose: `python tests/notebooks/record_smoke_fixture.py --why "issue N: ..." [STEM ...]`.

Each notebook runs in the smoke profile in its own fresh data folder, as test_notebooks_repeat.py runs it; an
entry is rewritten only where its numbers or cache keys changed, and the fixture's `re_recorded` list says which,
at which commit and why. Without STEMs every notebook runs. Run it on the machine the fixture's fingerprint names.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_notebooks_repeat import BEFORE_MOVE, FIXTURES, NOTEBOOKS, _smoke_run, cache_files, differences, fingerprint  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stems", nargs="*", help="notebook stems, e.g. 01_error_compounding (default: all)")
    parser.add_argument("--why", required=True, help="the issue and the change that moved the numbers")
    parser.add_argument("--new-machine", action="store_true",
                        help="record every notebook on this machine and make its fingerprint the fixture's")
    args = parser.parse_args()
    if args.new_machine and args.stems:
        raise SystemExit("--new-machine records every notebook: give no STEMs")
    if fingerprint() != BEFORE_MOVE["fingerprint"] and not args.new_machine:
        raise SystemExit(f"the fixture was recorded with {BEFORE_MOVE['fingerprint']}; this machine has "
                         f"{fingerprint()} (--new-machine records it here anew)")
    known = {p.stem: p for p in NOTEBOOKS}
    unknown = sorted(set(args.stems) - set(known))
    if unknown:
        raise SystemExit(f"unknown notebook(s) {unknown}; expected some of {sorted(known)}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    fixture, changed = json.loads(json.dumps(BEFORE_MOVE)), []
    if args.new_machine:
        fixture["fingerprint"] = fingerprint()
    for stem in args.stems or sorted(known):
        with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as monkeypatch:
            summary, data = _smoke_run(known[stem], Path(tmp), monkeypatch)
            files = sorted(cache_files(Path(data)))
        diffs = differences(fixture["summaries"][stem], summary)
        if diffs or files != sorted(fixture["cache_files"][stem]):
            print(f"{stem}: {len(diffs)} number(s) changed, e.g. {diffs[:3]}", flush=True)
            fixture["summaries"][stem], fixture["cache_files"][stem] = summary, files
            changed.append(stem)
        else:
            print(f"{stem}: unchanged", flush=True)
    if changed or args.new_machine:
        fixture.setdefault("re_recorded", []).append({"commit": commit, "notebooks": changed, "why": args.why})
        path = FIXTURES / "smoke_before_layout_move.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)  # atomic: never a half-written fixture
    print("re-recorded:", changed or "nothing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
