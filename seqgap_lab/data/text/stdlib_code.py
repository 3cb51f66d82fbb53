"""Python functions from the CPython standard library: one example per function, with file/line provenance."""
from __future__ import annotations

import ast
import hashlib
import sysconfig
import textwrap
import warnings
from pathlib import Path

from tqdm.auto import tqdm

# Directories that are tests or test data (some of it deliberately invalid Python), or third-party code.
EXCLUDED_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"})
MIN_LINES, MAX_LINES = 3, 200


def stdlib_root() -> Path:
    """The running interpreter's standard library directory."""
    return Path(sysconfig.get_paths()["stdlib"])


def is_test_path(rel: Path) -> bool:
    """True for test code or test data: a test directory anywhere in the path, or a test_*.py file."""
    dirs = rel.parts[:-1]
    return (any(d in EXCLUDED_DIRS or d.startswith("test_") for d in dirs)
            or rel.name.startswith("test_") or rel.stem.endswith("_test"))


def stdlib_files(root: Path | None = None) -> list[Path]:
    """Every non-test .py file under the standard library, as paths relative to it, sorted."""
    root = root or stdlib_root()
    files = (p.relative_to(root) for p in root.rglob("*.py") if p.is_file())
    return sorted(rel for rel in files if not is_test_path(rel))


def _function_nodes(tree: ast.Module):
    """Top-level functions and the methods of top-level classes (nested functions stay inside their parent)."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node
        elif isinstance(node, ast.ClassDef):
            yield from (n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))


def _parses(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in old code warn, they still parse
            ast.parse(code)
    except SyntaxError:
        return False
    return True


def extract_functions(source: str, rel: str) -> tuple[list[dict], int]:
    """(functions of MIN_LINES..MAX_LINES lines that re-parse on their own, number rejected) from one file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(source, filename=rel)
    lines = source.splitlines(keepends=True)
    found, rejected = [], 0
    for node in _function_nodes(tree):
        num_lines = node.end_lineno - node.lineno + 1
        if not MIN_LINES <= num_lines <= MAX_LINES:
            continue
        # Equivalent to ast.get_source_segment(source, node, padded=True) for a def, which spans whole
        # lines; that call re-splits the whole file for every node (quadratic on big modules).
        segment = "".join(lines[node.lineno - 1:node.end_lineno])
        code = textwrap.dedent(segment).rstrip() + "\n"
        if not _parses(code):
            rejected += 1  # e.g. a method whose multi-line string is less indented than the def
            continue
        found.append({"code": code, "file": rel, "line": node.lineno, "name": node.name})
    return found, rejected


def file_split(rel: str, dev_percent: int = 5, test_percent: int = 5) -> str:
    """train | dev | test for a file, from a hash of its relative path (every function of a file in one split)."""
    bucket = int(hashlib.sha256(rel.encode()).hexdigest()[:8], 16) % 100
    if bucket < dev_percent:
        return "dev"
    if bucket < dev_percent + test_percent:
        return "test"
    return "train"


def collect(root: Path | None = None, progress: bool = False) -> tuple[dict[str, list[dict]], dict]:
    """Functions of the whole standard library grouped by split, and counts for the manifest."""
    root = root or stdlib_root()
    files = stdlib_files(root)
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    stats = {"files": len(files), "unreadable_files": 0, "rejected_functions": 0}
    if progress:

        files = tqdm(files, desc="code: stdlib files", unit="file")
    for rel in files:
        try:
            source = (root / rel).read_text(encoding="utf-8")
            found, rejected = extract_functions(source, rel.as_posix())
        except (SyntaxError, UnicodeDecodeError, ValueError):
            stats["unreadable_files"] += 1  # not Python 3 source (lib2to3 fixtures and the like)
            continue
        stats["rejected_functions"] += rejected
        splits[file_split(rel.as_posix())].extend(found)
    return splits, stats
