"""Browser tests: skipped (with the reason) without Debian's chromium or PyPI playwright; a JupyterLab fixture.

`make setup` installs both (chromium via apt-get as root, playwright in the dev extra). The `lab` fixture
serves smoke-profile copies of notebooks from a tmp folder, with data, figures and reports in tmp folders
too (the repo's prepared corpora are linked in read-only, so no corpus is rebuilt); screenshots go to the
repo's reports/screenshots/ (harness.screenshots_dir).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

import harness
from seqgap_lab.core import paths

HERE = Path(__file__).resolve().parent
# Copies served by the `lab` fixture, with the papermill-style parameters set in their `parameters` cell.
LAB_NOTEBOOKS = {"03_scheduled_sampling": {"profile": "smoke"},
                 "06_beam_search_length_penalty": {"profile": "smoke"},
                 "07_contrastive_decoding": {"profile": "smoke"}}
# JupyterLab user settings: no news prompt or update check, every cell kept in the DOM, no autosave.
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
                "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
                "@jupyterlab/docmanager-extension/plugin": {"autosave": False}}


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not harness.CHROMIUM.is_file():
        return f"{harness.CHROMIUM} missing: `make setup` as root installs Debian's chromium (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "PyPI playwright missing: `make setup` installs it (dev extra); never `playwright install`"
    return None


def pytest_collection_modifyitems(config, items):
    """Skip every test of this folder, saying why, on a machine without chromium or playwright."""
    reason = missing_browser()
    if reason is None:
        return
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.skip(reason=reason))


def set_parameters(source: str, params: dict) -> str:
    """The parameters cell with `name: type = value` lines rewritten to these values (comments kept)."""
    for name, value in params.items():
        pattern = re.compile(rf"^({re.escape(name)}\s*:\s*\w+\s*=\s*)([^#\n]*?)(\s*#.*)?$", re.M)
        literal = json.dumps(value) if isinstance(value, str) else repr(value)  # "smoke", as the notebooks write it
        source, n = pattern.subn(lambda m: f"{m[1]}{literal}{m[3] or ''}", source)
        if n != 1:
            raise ValueError(f"parameter {name!r} not found once in the parameters cell")
    return source


def notebook_copy(stem: str, dest: Path, params: dict) -> Path:
    """A copy of notebooks/<stem>.ipynb in dest with its `parameters` cell set to params."""
    nb = nbformat.read(paths.project_root() / "notebooks" / f"{stem}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = set_parameters(cell.source, params)
    path = dest / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


@dataclass
class Lab:
    """A running JupyterLab: base URL, token, the folder it serves and the tmp data folder its kernels use."""

    url: str
    token: str
    root_dir: Path
    data_dir: Path
    server: harness.Server

    def notebook_url(self, stem: str) -> str:
        """The URL that opens root_dir/<stem>.ipynb in JupyterLab."""
        return f"{self.url}/lab/tree/{stem}.ipynb?token={self.token}"


def lab_argv(port: int, token: str, tmp: Path) -> list[str]:
    """python -m jupyterlab (this venv's python) on 127.0.0.1:port with a token and no outside calls."""
    argv = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", "--ServerApp.open_browser=False", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={tmp / 'notebooks'}", "--ServerApp.terminals_enabled=False",
            "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly", f"--LabApp.user_settings_dir={tmp / 'lab-settings'}",
            f"--LabApp.workspaces_dir={tmp / 'lab-workspaces'}"]
    return argv + (["--allow-root"] if os.getuid() == 0 else [])


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    """JupyterLab serving smoke copies of LAB_NOTEBOOKS; stopped (with its kernels) by PID at the end."""
    tmp = tmp_path_factory.mktemp("lab")
    (tmp / "notebooks").mkdir()
    for stem, params in LAB_NOTEBOOKS.items():
        notebook_copy(stem, tmp / "notebooks", params)
    for plugin, values in LAB_SETTINGS.items():
        path = tmp / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    harness.link_corpora(tmp / "data")
    port, token = harness.free_port(), secrets.token_hex(16)
    with harness.server(lab_argv(port, token, tmp), port, tmp / "logs", env=harness.lab_env(tmp), cwd=tmp / "notebooks",
                        name="jupyterlab") as srv:
        yield Lab(srv.url, token, tmp / "notebooks", tmp / "data", srv)


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    """One headless Chromium for the session (pages are cheap, starting the browser is not)."""
    with harness.launch_browser(tmp_path_factory.mktemp("chromium")) as context:
        yield context
