"""`seqgap-lab train | report | slides | assets | bench | data | sweep | explore` (or python -m seqgap_lab);
errors: one line, exit 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from seqgap_lab.app import slides, web_assets
from seqgap_lab.app.explore_serve import serve
from seqgap_lab.app.report import discover_notebooks, run_report, run_slides
from seqgap_lab.bench.run import run_bench
from seqgap_lab.core import budget
from seqgap_lab.core.cache import CacheError
from seqgap_lab.core.config import MODELS, TASKS, ConfigError, check_choice, check_profile
from seqgap_lab.data.speech import corpus as speech
from seqgap_lab.data.speech.config import SpeechConfig
from seqgap_lab.data.text import corpora
from seqgap_lab.data.text.builders import CorpusUnavailable
from seqgap_lab.data.text.byo import CorpusFormatError
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.sweeps.executors import ExecutorConfig
from seqgap_lab.sweeps.runner import load_spec, run_sweep, table_path
from seqgap_lab.zoo.synthetic import configs, trained_model


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqgap-lab", description="Measure and teach exposure bias of sequence models.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (or load from cache) one model on a synthetic task")
    t.add_argument("--task", default="reverse", help=f"one of {' | '.join(TASKS)}")
    t.add_argument("--model", default="transformer", help=f"one of {' | '.join(MODELS)}")
    t.add_argument("--profile", default="default", help="smoke | default | full (sizes and steps)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=None, help="override the profile's training steps")
    t.add_argument("--device", default=None, help="auto | cpu | cuda | mps (default: auto)")
    t.add_argument("--retrain", action="store_true", help="ignore and overwrite a cached checkpoint")
    _add_budget(t)
    r = sub.add_parser("report", help="run every notebook with papermill into reports/ with HTML and an index")
    r.add_argument("--profile", default=None, help="smoke | default | full (default: full on a GPU, else default)")
    r.add_argument("--only", nargs="*", default=None, help="notebook numbers or stems, e.g. 01")
    r.add_argument("--slides", action="store_true", help="also write a reveal.js deck beside each HTML page")
    r.add_argument("--jobs", type=int, default=1,
                   help="notebooks at a time on this machine, each with cores // jobs torch threads (default 1; "
                        "2 on 2 cores: small models use one thread well, see app/report_lanes.py)")
    _add_budget(r)
    _add_executor(r)
    b = sub.add_parser("bench", help="side-by-side benchmark on the current device")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.add_argument("--size", default="small", help="tiny | small | peer (peer = the size of the HF MarianMT baselines)")
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--device", default=None)
    w = sub.add_parser("sweep", help="run a declarative grid (YAML/JSON spec) into reports/sweeps/<name>.csv, resumable")
    w.add_argument("spec", help="path of the sweep spec (.yaml, .yml or .json); see seqgap_lab/sweeps/runner.py")
    w.add_argument("--device", default=None, help="auto | cpu | cuda | mps (default: auto)")
    w.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_executor(w)
    _add_budget(w)
    _add_data_parser(sub)
    _add_explore_parser(sub)
    _add_lecture_parsers(sub)
    return p


def _add_lecture_parsers(sub) -> None:
    s = sub.add_parser("slides", help="reveal.js decks (and refreshed HTML) from the executed notebooks in reports/")
    s.add_argument("--only", nargs="*", default=None, help="notebook numbers or stems, e.g. 06")
    s.add_argument("--tag", action="store_true",
                   help="instead: rewrite the slideshow tags of notebooks/*.ipynb by the rule of app/slides.py")
    a = sub.add_parser("assets", help="the offline web assets of the reports (require.js, widgets, MathJax, reveal.js)")
    asub = a.add_subparsers(dest="assets_command", required=True)
    ai = asub.add_parser("install", help="fetch the pinned npm packages with npm, check and unpack them")
    mode = ai.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="fetch again even if installed")
    mode.add_argument("--if-missing", action="store_true", help="when npm or the registry fails, print why and exit 0")


def _add_executor(parser) -> None:
    parser.add_argument("--executor", default="serial",
                        help="serial (here, the default) | ray (tasks on a Ray cluster)")
    parser.add_argument("--ray-address", default=None,
                        help="join this Ray cluster (host:port or auto); default: start a local one and stop it after")
    parser.add_argument("--cpus-per-task", type=int, default=1, help="ray: CPUs (and torch threads) per task")
    parser.add_argument("--gpus-per-task", type=float, default=0.0, help="ray: GPUs per task, e.g. 1 or 0.5")


def _executor(args) -> ExecutorConfig:
    """The ExecutorConfig of --executor and its options (checked there)."""
    return ExecutorConfig(kind=args.executor, address=args.ray_address, cpus_per_task=args.cpus_per_task,
                          gpus_per_task=args.gpus_per_task)


def _add_budget(parser) -> None:
    parser.add_argument("--budget-scale", default=None,
                        help="train this fraction of every profile's steps, in (0, 1] (e.g. 0.01 exercises `full` "
                             "end to end); scaled models are cached apart")


def _apply_budget(args) -> None:
    """Put --budget-scale (checked) into the environment, where training, kernels and Ray workers read it."""
    if getattr(args, "budget_scale", None) is not None:
        os.environ[budget.ENV] = str(budget.check_budget_scale(args.budget_scale))


def _add_data_parser(sub) -> None:
    d = sub.add_parser("data", help="prepare the real corpora under data/corpora/ (bible, modernize, code, prose)")
    dsub = d.add_subparsers(dest="data_command", required=True)
    dp = dsub.add_parser("prepare", help="prepare a corpus (skipped when already prepared), print counts and sizes")
    dp.add_argument("name", nargs="?", default="all",
                    help="bible | modernize | code | prose | all (default: all) | speech (synthesized; not in all)")
    dp.add_argument("--profile", default="default", help="speech only: smoke | default | full (corpus size)")
    mode = dp.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    mode.add_argument("--if-missing", action="store_true",
                      help="prepare only missing corpora; when Debian packages are missing, print a notice and exit 0")


def _add_explore_parser(sub) -> None:
    e = sub.add_parser("explore", help="the three live explorers as one Voila app (no code shown) on localhost")
    e.add_argument("--profile", default="default",
                   help="smoke | default | full: whose cached models to read (the first time trains them)")
    e.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default: 8866)")
    e.add_argument("--no-browser", action="store_true", help="print the URL only, do not open a browser")


def _explore(args) -> int:

    return serve(args.profile, args.port, open_browser=not args.no_browser)


def _train(args) -> int:
    task_cfg, model_cfg, train_cfg = configs(check_profile(args.profile), args.task, args.model, args.seed)
    if args.steps is not None:  # the profile's warmup may exceed a short override: cap it, so errors name --steps
        train_cfg = train_cfg.replace(steps=args.steps, warmup_steps=min(train_cfg.warmup_steps, max(args.steps, 0)))
    run = trained_model(task_cfg, model_cfg, train_cfg, device=args.device, retrain=args.retrain)
    hyps = decode_sequences(run.model, [s for s, _ in run.splits.dev])
    exact = sum(run.task.is_valid(s, h) for h, (s, _) in zip(hyps, run.splits.dev)) / len(hyps)  # any valid target
    print(json.dumps({"checkpoint": str(run.checkpoint), "from_cache": run.from_cache,
                      "train_seconds": round(run.train_seconds, 1), "dev_exact_match": round(exact, 4)}))
    return 0


def _report(args) -> int:

    records = run_report(args.profile, only=args.only, make_slides=args.slides, executor=_executor(args),
                         jobs=args.jobs)
    return 0 if all(r["status"] == "ok" for r in records) else 1


def _slides(args) -> int:

    if args.tag:
        for path in discover_notebooks(args.only):
            print(f"{path.name}: {'tags rewritten' if slides.tag_notebook(path) else 'tags already right'}")
        return 0
    records = run_slides(args.only)
    return 0 if all(r["status"] == "ok" for r in records) else 1


def _assets(args) -> int:

    try:
        web_assets.install(force=args.force)
    except web_assets.WebAssetsUnavailable as exc:
        print(f"seqgap-lab assets: {'note' if args.if_missing else 'error'}: {exc}", file=sys.stderr)
        return 0 if args.if_missing else 2
    print(f"offline web assets ready in {web_assets.assets_dir()}")
    return 0


def _bench(args) -> int:

    result = run_bench(args.size, args.device, args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"device: {result['device']}  size: {args.size}")
        for row in result["rows"]:
            print(f"  {row['model']:<12} {row['metric']:<34} {row['value']:>12,.2f} {row['unit']:<7} {row['note']}")
    return 0


def _sweep(args) -> int:

    executor = _executor(args)
    spec = load_spec(args.spec)
    start = time.perf_counter()
    table = run_sweep(spec, device=args.device, progress=not args.no_progress, executor=executor)
    print(f"sweep {spec.name}: {len(spec.cells())} cells, {len(table):,} rows in {time.perf_counter() - start:.1f} s "
          f"({executor.kind}) -> {table_path(spec)}")
    return 0


def _data(args) -> int:

    # Checked here for every corpus: a bad --profile must not pass silently because only speech reads it.
    check_choice("prepare", "corpus", args.name, (*corpora.CORPORA, "all", "speech"))
    check_profile(args.profile)
    if args.name == "speech":
        return _data_speech(args)
    names = corpora.CORPORA if args.name == "all" else (args.name,)
    for name in names:
        was_ready = corpora.available(name) if name in corpora.CORPORA else False
        if args.if_missing and was_ready:
            continue
        start = time.perf_counter()
        try:
            entry = corpora.prepare(name, force=args.force, progress=True)[name]
        except corpora.CorpusUnavailable as exc:
            if args.if_missing:
                print(f"seqgap-lab data: skipping {name}: {exc}", file=sys.stderr)
                continue
            print(f"seqgap-lab data: error: {exc}", file=sys.stderr)
            return 2
        except CorpusFormatError as exc:
            print(f"seqgap-lab data: error: {exc}", file=sys.stderr)
            return 2
        counts = " | ".join(f"{split} {entry['counts'][split]:,}" for split in corpora.SPLITS[name])
        unit = {"code": "functions", "prose": "passages"}.get(name, "pairs")
        state = ("already prepared" if was_ready and not args.force
                 else f"prepared in {time.perf_counter() - start:.1f} s")
        print(f"{name}: {counts} {unit}; {entry['total_bytes'] / 1e6:.1f} MB in "
              f"{corpora.corpus_dir(name)} ({state})")
    return 0


def _data_speech(args) -> int:
    """Synthesize the speech corpus of a profile; missing espeak-ng (or prose sources) is reported like a missing corpus."""

    config = SpeechConfig(profile=check_profile(args.profile))
    was_ready, start = speech.available(config), time.perf_counter()
    if args.if_missing and was_ready:
        return 0
    try:
        corpus = speech.ensure(config, force=args.force)
    except CorpusUnavailable as exc:  # espeak-ng, or the SWORD package of the prose phrases, missing
        print(f"seqgap-lab data: {'skipping speech' if args.if_missing else 'error'}: {exc}", file=sys.stderr)
        return 0 if args.if_missing else 2
    counts = " | ".join(f"{s} {n:,}" for s, n in config.split_counts().items())
    state = "already prepared" if was_ready and not args.force else f"prepared in {time.perf_counter() - start:.1f} s"
    print(f"speech ({config.profile}): {counts} utterances in {corpus.folder} ({state})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `seqgap-lab` command."""
    args = _parser().parse_args(argv)
    handler = {"train": _train, "report": _report, "bench": _bench, "data": _data, "sweep": _sweep,
               "explore": _explore, "slides": _slides, "assets": _assets}[args.command]
    try:
        _apply_budget(args)
        return handler(args)
    except (ConfigError, CacheError, ValueError, FileNotFoundError) as exc:
        print(f"seqgap-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
