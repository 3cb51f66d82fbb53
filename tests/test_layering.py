"""The package's layering, written as rules and enforced: an import scanner over every module of seqgap_lab.

Layers, bottom to top (docs/design.md explains each):
    core <- data <- models <- {metrics, decoding} <- strategies <- probes <- training <- zoo <- sweeps
    <- lessons <- {bench, app};  views (plot helpers and the explorer kit) sits on core alone.
A package may import its own layer and the layers its rule names, nothing above. On top of that:
metrics never touch a model; a lesson never imports another lesson (shared parts live in lessons/*.py
modules or zoo); explorers and figures never train or decode; nothing but app imports bench, nothing
imports app; no function-level imports except optional dependencies.
"""
from __future__ import annotations

import ast
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import seqgap_lab

PACKAGE = Path(seqgap_lab.__file__).resolve().parent

BELOW = {  # package -> the packages of the suite it may import besides itself
    "core": set(),
    "views": {"core"},
    "data": {"core"},
    "models": {"core", "data"},
    "metrics": {"core", "data"},  # pure scores of ids and strings: never a model
    "decoding": {"core", "data", "models"},
    "strategies": {"core", "data", "models", "metrics", "decoding"},
    "probes": {"core", "data", "models", "metrics", "decoding"},
    "training": {"core", "data", "models", "metrics", "decoding", "strategies", "probes"},
    "zoo": {"core", "data", "models", "metrics", "decoding", "strategies", "probes", "training"},
    "sweeps": {"core", "data", "models", "metrics", "decoding", "strategies", "probes", "training", "zoo"},
    "lessons": {"core", "data", "models", "metrics", "decoding", "strategies", "probes", "training", "zoo",
                "sweeps", "views"},
    "bench": {"core", "data", "models", "metrics", "decoding", "strategies", "probes", "training", "zoo",
              "sweeps", "lessons", "views"},
    "app": {"core", "data", "models", "metrics", "decoding", "strategies", "probes", "training", "zoo",
            "sweeps", "lessons", "views", "bench"},
    "": {"app"},  # seqgap_lab/__init__.py and __main__.py
}
# What explorers and figures may not import: everything that trains or decodes (their lesson's study.py
# included); they only read tables that a study made.
NO_TRAIN_OR_DECODE = {"models", "decoding", "strategies", "probes", "training", "zoo", "sweeps"}
# Optional dependencies: the only imports a function may make (lazily). transformers, ray and playwright are
# extras; pyarrow is optional for pandas' parquet; resource exists on Unix only.
OPTIONAL = {"transformers", "ray", "playwright", "pyarrow", "resource"}
RULES = [
    "core imports nothing else of the package",
    "each package imports only the layers below it (BELOW)",
    "metrics never touch a model (no models, decoding, strategies, probes, training)",
    "a lesson never imports another lesson (shared parts: lessons/*.py modules, zoo)",
    "explorers and figures never train or decode (no models, decoding, strategies, probes, training, zoo, "
    "sweeps, nor their lesson's study.py)",
    "nothing but app imports bench; nothing imports app (but seqgap_lab.__main__)",
    "no function-level imports, except optional dependencies (transformers, ray, playwright, pyarrow, resource)",
]


@dataclass(frozen=True)
class Import:
    """One import statement: the importing module, the imported module, its line and whether it is in a function."""

    module: str
    target: str
    line: int
    in_function: bool


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, in_function: bool = False):
    """Every import under `tree` (type-checking-only blocks skipped), with relative imports resolved."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, in_function)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                # `from seqgap_lab.x import y` may import the module x.y: count it as such
                yield Import(module, f"{prefix}.{alias.name}" if prefix.startswith("seqgap_lab") else prefix,
                             node.lineno, in_function)
        yield from _imports(node, module, is_package, inner)


def scan(root: Path) -> list[Import]:
    """All imports of every module under the package folder `root`."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        is_package = rel.name == "__init__"
        module = ".".join(rel.parts[:-1] if is_package else rel.parts)
        out += list(_imports(ast.parse(path.read_text(encoding="utf-8")), module, is_package))
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in BELOW) else ""


def _lesson(module: str) -> str | None:
    """The lesson folder of a module (lessons/<name>/...), None for lessons/*.py and outside lessons."""
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "lessons" else None


def _suite_target(imp: Import, modules: set[str]) -> str | None:
    """The suite module an import names (the longest known prefix), None for third-party imports."""
    if not imp.target.startswith("seqgap_lab"):
        return None
    parts = imp.target.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in modules:
            return ".".join(parts[:i])
    return imp.target


def violations(root: Path) -> list[str]:
    """Every broken rule under the package folder `root`, one readable line each."""
    imports = scan(root)
    modules = {i.module for i in imports} | {
        ".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__") for p in root.rglob("*.py")}
    out = []
    for imp in imports:
        where = f"{imp.module}:{imp.line}"
        target = _suite_target(imp, modules)
        if target is None:
            top = imp.target.split(".")[0]
            if imp.in_function and top not in OPTIONAL and top != "__future__":
                out.append(f"{where}: function-level import of {imp.target} (only optional dependencies may be)")
            continue
        if imp.in_function:
            out.append(f"{where}: function-level import of {target}")
        src, dst = _layer(imp.module), _layer(target)
        if dst == "app" and imp.module != "seqgap_lab.__main__" and src != "app":
            out.append(f"{where}: imports {target} (nothing imports app)")
        elif dst == "bench" and src not in ("bench", "app"):
            out.append(f"{where}: imports {target} (nothing but app imports bench)")
        elif src != dst and dst not in BELOW.get(src, set()) and dst:
            out.append(f"{where}: {src or 'seqgap_lab'} may not import {dst} ({target})")
        a, b = _lesson(imp.module), _lesson(target)
        if a and b and a != b:
            out.append(f"{where}: lesson {a} imports lesson {b} ({target})")
        leaf = imp.module.rsplit(".", 1)[-1]
        if a and leaf in ("explorer", "figures") and (
                dst in NO_TRAIN_OR_DECODE or target == f"seqgap_lab.lessons.{a}.study"):
            out.append(f"{where}: {leaf} imports {target} (explorers and figures never train or decode)")
    return out


def test_the_package_keeps_its_layers():
    found = violations(PACKAGE)
    assert not found, "layering broken:\n" + "\n".join(found)


PLANTED = {  # file under the package -> (a line appended to it, a phrase of the violation it must cause)
    "core/paths.py": ("from seqgap_lab.models import gru", "core may not import models"),
    "metrics/cer.py": ("from seqgap_lab.probes import exposure", "metrics may not import probes"),
    "models/gru.py": ("from seqgap_lab.strategies import base", "models may not import strategies"),
    "lessons/beam/study.py": ("from seqgap_lab.lessons.mrt import study", "lesson beam imports lesson mrt"),
    "lessons/beam/explorer.py": ("from seqgap_lab.lessons.beam import study", "never train or decode"),
    "lessons/contrastive/figures.py": ("from seqgap_lab.zoo import lms", "never train or decode"),
    "zoo/lms.py": ("from seqgap_lab.bench import run", "nothing but app imports bench"),
    "lessons/common.py": ("from seqgap_lab.app import cli", "nothing imports app"),
    "data/vocab.py": ("def planted():\n    from seqgap_lab.core import paths", "function-level import"),
    "views/plots.py": ("def planted():\n    import pandas", "function-level import of pandas"),
}


@pytest.mark.parametrize("path", sorted(PLANTED))
def test_a_planted_violation_is_caught(path, tmp_path):
    copy = tmp_path / "seqgap_lab"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    line, phrase = PLANTED[path]
    with open(copy / path, "a", encoding="utf-8") as fh:
        fh.write("\n" + line + "\n")
    found = violations(copy)
    assert any(phrase in v for v in found), (path, found)


def test_optional_dependencies_may_be_imported_in_functions(tmp_path):
    copy = tmp_path / "seqgap_lab"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "bench" / "hf.py", "a", encoding="utf-8") as fh:
        fh.write("\ndef planted():\n    import transformers\n")
    assert violations(copy) == []


def test_no_file_of_the_package_points_outside_the_repo():
    outside = ("../shared", "shared/DESIGN", "SCOPE.md", "NOTES.md", "DESIGN.md")
    hits = [f"{p.relative_to(PACKAGE)}: {word}" for p in PACKAGE.rglob("*") if p.suffix in (".py", ".ipynb")
            for word in outside if word in p.read_text(encoding="utf-8")]
    assert not hits, hits


def test_rules_are_written_down_in_the_design_doc():
    design = (PACKAGE.parent / "docs" / "design.md").read_text(encoding="utf-8")
    for package in BELOW:
        if package:
            assert f"{package}/" in design, f"docs/design.md does not describe {package}/"
    assert "test_layering.py" in design


if __name__ == "__main__":  # print the rules and the modules per folder (for notes and docs)
    print("\n".join(f"- {r}" for r in RULES))
    counts: dict[str, int] = {}
    for p in PACKAGE.rglob("*.py"):
        rel = p.relative_to(PACKAGE).parent
        counts[str(rel)] = counts.get(str(rel), 0) + (p.name != "__init__.py")
    for folder, n in sorted(counts.items()):
        print(f"{folder}: {n}")
    sys.exit(0)
