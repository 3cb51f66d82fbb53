"""The bad-input matrix: every public config field, papermill parameter, CLI option and widget setting, given a
wrong type, a value out of range, an unknown name or a missing/empty/invalid file, fails where it enters with one
ConfigError (CLI: exit status 2, one error line, no traceback) that names the value and says what is allowed.

The tables live in tests/helpers.py; the number of cases tried is printed at the end of the module."""
from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections import Counter

import pandas as pd
import pytest

from helpers import CONFIGS, CROSS_FIELD, KIND_FOR, NOTEBOOK_PARAMETERS, STRATEGY_ARGS, Case, cases_for
from seqgap_lab.core import paths
from seqgap_lab.lessons.beam.study import BeamTables
from seqgap_lab.lessons.beam.explorer import check_setting as beam_setting
from seqgap_lab.app.cli import main
from seqgap_lab.core.config import MODELS, ONE_TARGET_TASKS, PROFILES, TASKS, ConfigError
from seqgap_lab.lessons.contrastive.summary import check_setting as contrastive_setting
from seqgap_lab.core.runtime import DEVICES
from seqgap_lab.strategies import get_strategy

TRIED: Counter = Counter()
REJECTED: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def _print_count(request):
    """After the module: print how many bad inputs were tried, by kind, and how many were rejected cleanly."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    kinds = ", ".join(f"{kind} {n}" for kind, n in TRIED.items())
    line = (f"bad-input matrix: {sum(TRIED.values())} cases tried ({kinds}); "
            f"{sum(REJECTED.values())} rejected with a clear error, {sum((TRIED - REJECTED).values())} lost")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # the teardown runs under capture: write past it
            reporter.write_line("\n" + line)


def _check_message(kind: str, message: str, case: Case) -> None:
    """One line that names the bad value and every allowed word; counts the case as rejected."""
    assert "\n" not in message, message
    assert case.expected_value() in message, f"{case.expected_value()!r} not named in: {message}"
    for word in case.allowed:
        assert str(word) in message, f"{word!r} (what is allowed) missing from: {message}"
    REJECTED[kind] += 1


# ---- config fields --------------------------------------------------------------------------------------------
CONFIG_CASES = [pytest.param(cls, name, case, KIND_FOR.get((cls, name), {}), id=f"{cls.__name__}.{case.id}")
                for cls, fields in CONFIGS.items() for name, rule in fields.items() for case in cases_for(name, rule)]
CONFIG_CASES += [pytest.param(cls, name, Case(f"cross{i}", value, allowed, *shown), base,
                              id=f"{cls.__name__}.{name}-cross{i}")
                 for i, (cls, base, name, value, allowed, *shown) in enumerate(CROSS_FIELD)]


@pytest.mark.parametrize("cls, name, case, base", CONFIG_CASES)
def test_config_field(cls, name, case, base):
    TRIED["config fields"] += 1
    cls(**base)  # the base values alone are valid: the error below is the bad field's
    with pytest.raises(ConfigError) as info:
        cls(**{**base, name: case.value})
    _check_message("config fields", str(info.value), case)
    assert re.sub(r"(ies|s)$", "", name) in str(info.value), f"the field {name} is not named: {info.value}"


@pytest.mark.parametrize("cls", [c for c in CONFIGS if hasattr(c, "from_dict")], ids=lambda c: c.__name__)
def test_from_dict_rejects_unknown_keys_and_non_mappings(cls):
    TRIED["config fields"] += 2
    with pytest.raises(ConfigError) as info:
        cls.from_dict({"epochs": 3})
    _check_message("config fields", str(info.value), Case("unknown", ["epochs"], ("allowed keys",), "['epochs']"))
    with pytest.raises(ConfigError) as info:
        cls.from_dict(["epochs"])
    _check_message("config fields", str(info.value), Case("list", ["epochs"], ("mapping",), "list"))


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_field_has_cases(cls):
    assert set(CONFIGS[cls]) == {f.name for f in dataclasses.fields(cls)}


STRATEGY_CASES = [pytest.param(strategy, name, case, id=f"{strategy}.{case.id}")
                  for strategy, args in STRATEGY_ARGS.items() for name, rule in args.items()
                  for case in cases_for(name, rule)]


@pytest.mark.parametrize("strategy, name, case", STRATEGY_CASES)
def test_strategy_argument(strategy, name, case):
    """TrainConfig.strategy_args: train() builds the strategy by name from them before the first step."""
    TRIED["strategy arguments"] += 1
    teacher = {"teacher": object()} if strategy in ("word_kd", "on_policy_kd") else {}  # checked before any use
    with pytest.raises(ConfigError) as info:
        get_strategy(strategy, **teacher, **{name: case.value})
    _check_message("strategy arguments", str(info.value), case)


# ---- papermill parameters: the notebook's own checks, run in-process as papermill would run them ------------
NOTEBOOK_DIR = paths.project_root() / "notebooks"


@functools.cache
def _notebook_code(stem: str) -> tuple[str, str]:
    """(the parameters cell, the next cell's lines up to `pd.set_option(`: where parameters are checked)."""
    cells = [c for c in json.loads((NOTEBOOK_DIR / f"{stem}.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    i = next(k for k, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    checks = []
    for line in "".join(cells[i + 1]["source"]).splitlines():
        if line.startswith("pd.set_option("):
            return "".join(cells[i]["source"]), "\n".join(checks)
        checks.append("" if line.startswith("%") else line)
    raise AssertionError(f"{stem}: the cell after the parameters has no `pd.set_option(` line after its checks")


def _run_checks(stem: str, **overrides) -> dict:
    """Run a notebook's parameters cell, papermill's overrides, then its parameter checks; return the namespace."""
    params, checks = _notebook_code(stem)
    namespace: dict = {}
    exec(compile(params, f"{stem}:parameters", "exec"), namespace)  # noqa: S102 (the repository's own notebook)
    namespace.update(overrides)
    exec(compile(checks, f"{stem}:checks", "exec"), namespace)  # noqa: S102
    return namespace


NOTEBOOK_CASES = [pytest.param(stem, name, case, id=f"{stem[:2]}.{case.id}")
                  for stem, params in NOTEBOOK_PARAMETERS.items() for name, rule in params.items()
                  for case in cases_for(name, rule)]


@pytest.mark.parametrize("stem, name, case", NOTEBOOK_CASES)
def test_notebook_parameter(stem, name, case):
    TRIED["notebook parameters"] += 1
    with pytest.raises(ConfigError) as info:
        _run_checks(stem, **{name: case.value})
    _check_message("notebook parameters", str(info.value), case)


@pytest.mark.parametrize("stem", sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")))
def test_every_notebook_parameter_has_cases_and_defaults_pass(stem):
    params, _ = _notebook_code(stem)
    assert re.findall(r"^(\w+)\s*:", params, re.M) == list(NOTEBOOK_PARAMETERS[stem])
    _run_checks(stem)  # the defaults pass the same checks
    _run_checks(stem, profile="smoke")


@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_papermill_run_with_a_bad_parameter_fails_at_once(tmp_path):
    """One real papermill run: the kernel stops in the checks cell with the one-line ConfigError."""
    from seqgap_lab.app.report import run_notebook

    TRIED["papermill runs"] += 1
    record = run_notebook(NOTEBOOK_DIR / "01_error_compounding.ipynb", "smoke", tmp_path / "reports",
                          {"tasks": "reverse,nope"})
    assert record["status"] == "failed" and record["error"].startswith("ConfigError: "), record
    _check_message("papermill runs", record["error"], Case("run", "reverse,nope", ONE_TARGET_TASKS))
    assert record["elapsed_s"] < 60, record


# ---- the command line -------------------------------------------------------------------------------------------
SPEC_FILES = {"empty.yaml": b"", "comment.yaml": b"# nothing here\n", "unknown.yaml": b"name: x\nepochs: 3\n",
              "invalid.yaml": b"tasks: [reverse\nseeds: [0]\n", "invalid.json": b'{"tasks": ["reverse"',
              "list.yaml": b"- reverse\n", "value.yaml": b"seeds: [-1]\n", "latin1.yaml": b"name: caf\xe9\n",
              "tag.yaml": b"name: !!python/object/apply:os.system [echo hi]\n",
              "good.yaml": b"name: good\nprofile: smoke\nmodels: [gru]\nstrategies: [tf]\n"}
_T = "{tmp}/"
CLI_CASES = [
    ("no-command", [], "command", ("required",)),
    ("unknown-command", ["nope"], "'nope'", ("train", "sweep", "data")),
    ("unknown-option", ["train", "--nope"], "--nope", ("unrecognized",)),
    ("train-task", ["train", "--task", "nope"], "'nope'", TASKS),
    ("train-model", ["train", "--model", "rnn"], "'rnn'", MODELS),
    ("train-profile", ["train", "--profile", "fast"], "'fast'", PROFILES),
    ("train-seed-str", ["train", "--seed", "abc"], "'abc'", ("int",)),
    ("train-seed-float", ["train", "--seed", "1.5"], "'1.5'", ("int",)),
    ("train-seed-negative", ["train", "--seed", "-1"], "= -1", (">= 0",)),
    ("train-seed-missing", ["train", "--seed"], "--seed", ("expected one argument",)),
    ("train-steps-zero", ["train", "--steps", "0"], "steps = 0", (">= 1",)),
    ("train-steps-negative", ["train", "--steps", "-5"], "steps = -5", (">= 1",)),
    ("train-steps-huge", ["train", "--steps", "10000001"], "steps = 10000001", ("<= 10000000",)),
    ("train-steps-str", ["train", "--steps", "many"], "'many'", ("int",)),
    ("train-device", ["train", "--device", "gpu"], "'gpu'", DEVICES),
    ("report-profile", ["report", "--profile", "fast"], "'fast'", PROFILES),
    ("report-only-number", ["report", "--only", "99"], "'99'", ("01_error_compounding",)),
    ("report-only-name", ["report", "--only", "nope"], "'nope'", ("11_speech_ctc_vs_transducer",)),
    ("slides-only-number", ["slides", "--only", "99"], "'99'", ("01_error_compounding",)),
    ("slides-tag-only-name", ["slides", "--tag", "--only", "nope"], "'nope'", ("11_speech_ctc_vs_transducer",)),
    ("slides-no-report", ["slides"], "no report in", ("make report",)),
    ("assets-no-subcommand", ["assets"], "assets_command", ("required",)),
    ("assets-both-modes", ["assets", "install", "--force", "--if-missing"], "--if-missing", ("not allowed with",)),
    ("bench-size", ["bench", "--size", "huge"], "'huge'", ("tiny", "small", "peer")),
    ("bench-repeats-zero", ["bench", "--repeats", "0"], "= 0", ("1", "1000")),
    ("bench-repeats-above", ["bench", "--repeats", "1001"], "= 1001", ("1", "1000")),
    ("bench-repeats-str", ["bench", "--repeats", "five"], "'five'", ("int",)),
    ("bench-device", ["bench", "--device", "tpu"], "'tpu'", DEVICES),
    ("sweep-no-spec", ["sweep"], "spec", ("required",)),
    ("sweep-missing-file", ["sweep", _T + "missing.yaml"], "missing.yaml'", ("does not exist",)),
    ("sweep-folder", ["sweep", "{tmp}"], "{tmp}'", ("a .yaml, .yml or .json file",)),
    ("sweep-empty-file", ["sweep", _T + "empty.yaml"], "empty.yaml'", ("empty", "name", "seeds")),
    ("sweep-comment-only", ["sweep", _T + "comment.yaml"], "comment.yaml'", ("empty", "name", "seeds")),
    ("sweep-unknown-key", ["sweep", _T + "unknown.yaml"], "'epochs'", ("allowed keys", "seeds")),
    ("sweep-invalid-yaml", ["sweep", _T + "invalid.yaml"], "invalid.yaml'", ("not valid YAML", "line 2")),
    ("sweep-invalid-json", ["sweep", _T + "invalid.json"], "invalid.json'", ("not valid JSON",)),
    ("sweep-not-mapping", ["sweep", _T + "list.yaml"], "list.yaml'", ("mapping",)),
    ("sweep-bad-value", ["sweep", _T + "value.yaml"], "seeds = -1", (">= 0",)),
    ("sweep-not-utf8", ["sweep", _T + "latin1.yaml"], "latin1.yaml'", ("UTF-8",)),
    ("sweep-python-tag", ["sweep", _T + "tag.yaml"], "tag.yaml'", ("not valid YAML",)),
    ("sweep-device", ["sweep", _T + "good.yaml", "--device", "tpu"], "'tpu'", DEVICES),
    ("sweep-executor", ["sweep", _T + "good.yaml", "--executor", "dask"], "'dask'", ("serial", "ray")),
    ("sweep-cpus-zero", ["sweep", _T + "good.yaml", "--executor", "ray", "--cpus-per-task", "0"], "= 0", (">= 1",)),
    ("sweep-gpus-negative", ["sweep", _T + "good.yaml", "--executor", "ray", "--gpus-per-task", "-1"], "= -1",
     ("[0.0, 8.0]",)),
    ("sweep-gpus-serial", ["sweep", _T + "good.yaml", "--gpus-per-task", "1"], "gpus_per_task", ("kind='ray'",)),
    ("sweep-cpus-str", ["sweep", _T + "good.yaml", "--cpus-per-task", "two"], "'two'", ("int",)),
    ("sweep-budget-zero", ["sweep", _T + "good.yaml", "--budget-scale", "0"], "'0'", ("(0, 1]",)),
    ("report-budget-above", ["report", "--budget-scale", "1.5"], "'1.5'", ("(0, 1]",)),
    ("train-budget-str", ["train", "--budget-scale", "tiny"], "'tiny'", ("(0, 1]",)),
    ("data-no-subcommand", ["data"], "data_command", ("required",)),
    ("data-unknown-corpus", ["data", "prepare", "nope"], "'nope'", ("bible", "prose", "all", "speech")),
    ("data-speech-profile", ["data", "prepare", "speech", "--profile", "fast"], "'fast'", PROFILES),
    ("data-corpus-profile", ["data", "prepare", "bible", "--profile", "fast"], "'fast'", PROFILES),
    ("data-both-modes", ["data", "prepare", "--force", "--if-missing"], "--if-missing", ("not allowed with",)),
    ("explore-profile", ["explore", "--profile", "fast"], "'fast'", PROFILES),
    ("explore-port-str", ["explore", "--port", "http"], "'http'", ("int",)),
    ("explore-port-zero", ["explore", "--port", "0"], "port = 0", (">= 1", "<= 65535")),
    ("explore-port-above", ["explore", "--port", "65536"], "port = 65536", (">= 1", "<= 65535")),
]


@pytest.fixture()
def no_real_work(monkeypatch):
    """Fail loudly (not by training, decoding or building corpora) if a bad input got past the checks."""
    def reached(*args, **kwargs):
        raise AssertionError("a bad input got past validation: real work started")

    for target in ("seqgap_lab.zoo.synthetic.make_task", "seqgap_lab.app.report.run_notebook",
                   "seqgap_lab.bench.bleu.bench_sentence_bleu", "seqgap_lab.sweeps.runner.measure_cell",
                   "seqgap_lab.data.text.corpora._prepare_one", "seqgap_lab.data.speech.corpus.ensure",
                   "seqgap_lab.app.explore_serve.check_port_free", "seqgap_lab.app.slides.build_deck",
                   "seqgap_lab.sweeps.ray_backend.run_units",
                   "seqgap_lab.app.slides.tag_notebook", "seqgap_lab.app.web_assets.install"):
        monkeypatch.setattr(target, reached)


@pytest.mark.parametrize("argv, shown, allowed", [pytest.param(*c[1:], id=c[0]) for c in CLI_CASES])
def test_cli_option(argv, shown, allowed, tmp_path, capsys, no_real_work):
    TRIED["CLI options"] += 1
    for name, content in SPEC_FILES.items():
        (tmp_path / name).write_bytes(content)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse: usage, then one error line
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    _check_message("CLI options", lines[0], Case("cli", None, tuple(allowed), shown.replace("{tmp}", str(tmp_path))))


# ---- widget settings (the explorers' entry points) -------------------------------------------------------------
def _beam_tables() -> BeamTables:
    rows = [("greedy", 1, 0.0, 0.0)] + [("gnmt", b, a, c) for b in (1, 2, 4) for a in (0.6, 1.0) for c in (0.0, 0.2)]
    rows += [("hf", b, 1.0, 0.0) for b in (1, 2, 4)]
    grid = pd.DataFrame(rows, columns=["penalty", "beam_size", "alpha", "beta"])
    return BeamTables(grid=grid, outputs={}, sources=[], refs=[], values={})


BEAM = dict(penalty="gnmt", alpha=0.6, beta=0.0, beam_size=4)
BEAM_CASES = [("penalty", "none", ("gnmt", "hf")), ("penalty", None, ("gnmt", "hf")), ("alpha", 0.3, ("0 | 0.6 | 1",)),
              ("alpha", "0.6", ("0 | 0.6 | 1",)), ("beta", 0.5, ("0 | 0.2",))]
BEAM_CASES += [("beam_size", v, ("1 | 2 | 4",)) for v in (3, 4.0, True, "4")]
KNOB_GRID = pd.DataFrame([(w, a, t) for w in (0.0, 1.0) for a in (0.1,) for t in (0.5, 1.0)],
                         columns=["weight", "plausibility", "amateur_temperature"])
CONTRASTIVE = dict(weight=1.0, plausibility=0.1, amateur_temperature=1.0)
CONTRASTIVE_CASES = [("weight", 0.5, ("0 | 1",)), ("weight", "1", ("0 | 1",)), ("weight", True, ("0 | 1",)),
                     ("weight", -1.0, ("0 | 1",)), ("plausibility", float("nan"), ("0.1",)),
                     ("amateur_temperature", None, ("0.5 | 1",))]


@pytest.mark.parametrize("name, value, allowed", [pytest.param(*c, id=f"beam.{c[0]}-{c[1]!r}") for c in BEAM_CASES])
def test_beam_widget_setting(name, value, allowed):
    TRIED["widget settings"] += 1
    with pytest.raises(ConfigError) as info:
        beam_setting(_beam_tables(), **{**BEAM, name: value})
    _check_message("widget settings", str(info.value), Case(name, value, allowed))


@pytest.mark.parametrize("name, value, allowed",
                         [pytest.param(*c, id=f"contrastive.{c[0]}-{c[1]!r}") for c in CONTRASTIVE_CASES])
def test_contrastive_widget_setting(name, value, allowed):
    TRIED["widget settings"] += 1
    with pytest.raises(ConfigError) as info:
        contrastive_setting(KNOB_GRID, **{**CONTRASTIVE, name: value})
    _check_message("widget settings", str(info.value), Case(name, value, allowed))
