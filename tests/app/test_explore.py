"""`seqgap-lab explore`: the Tab of three explorers built lazily (synchronously here, through the worker thread
under a running loop), errors shown in their tab, bad profile / port rejected, the Voila command line."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import socket

import ipywidgets as W
import pytest

from seqgap_lab.app import explore, explore_serve
from seqgap_lab.app.cli import main
from seqgap_lab.core.config import ConfigError
from seqgap_lab.data.text.builders import CorpusUnavailable


def _fake_explorers(monkeypatch, fail: dict | None = None) -> list:
    """Replace the three builders by instant ones; `fail` maps a tab index to the exception its tables raise."""
    calls = []

    def tables(index):
        def build(profile, seed, device):
            calls.append((index, profile, seed))
            if index in (fail or {}):
                raise fail[index]
            return f"tables {index}"
        return build

    fakes = tuple(explore.Explorer(e.title, tables(i), lambda t: W.HTML(t)) for i, e in enumerate(explore.EXPLORERS))
    monkeypatch.setattr(explore, "EXPLORERS", fakes)
    return calls


def test_tabs_are_built_when_first_selected(monkeypatch):
    calls = _fake_explorers(monkeypatch)
    tab = explore.app("smoke", background=False)
    assert tab.titles == explore.TITLES == ("Scheduled sampling", "Beam search", "Contrastive decoding")
    assert calls == [(0, "smoke", 0)] and tab.children[0].children[0].value == "tables 0"
    assert "Building the <b>Beam search</b> explorer" in tab.children[1].children[0].value
    tab.selected_index = 2
    tab.selected_index = 0
    tab.selected_index = 2
    assert calls == [(0, "smoke", 0), (2, "smoke", 0)], "each tab is built once"
    assert tab.explorers[2].value == "tables 2" and tab.explorers[1] is None


def _run_in_own_loop(make_coro, timeout: float):
    """asyncio.run in a fresh thread: the main thread may already run a loop (playwright's, from tests/browser)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(asyncio.wait_for(make_coro(), timeout))).result()


async def _select_all(tab: W.Tab) -> W.Tab:
    """Select each tab in turn and wait until its explorer (or its error) is in place."""
    for index in range(len(tab.children)):
        tab.selected_index = index
        while tab.explorers[index] is None and tab.errors[index] is None:
            await asyncio.sleep(0.01)
    return tab


@pytest.mark.parametrize("background", [False, True], ids=["synchronous", "worker thread"])
def test_a_missing_corpus_shows_in_its_tab_only(background, monkeypatch):
    _fake_explorers(monkeypatch, {1: CorpusUnavailable("corpus 'bible' needs the Debian package(s) sword-text-sparv")})

    async def build():  # under a running loop, as in a kernel: the worker thread computes the tables
        return await _select_all(explore.app("smoke", background=background))

    tab = _run_in_own_loop(build, 30)
    note = tab.children[1].children[0].value
    assert "needs a real corpus" in note and "sword-text-sparv" in note and "other tabs still work" in note
    assert tab.explorers[0].value == "tables 0" and tab.explorers[2].value == "tables 2"
    assert isinstance(tab.errors[1], CorpusUnavailable) and tab.errors[0] is None


@pytest.mark.parametrize("profile", ["fast", "", None, 1])
def test_bad_profile_is_rejected(profile, monkeypatch):
    _fake_explorers(monkeypatch)
    with pytest.raises(ConfigError, match=re.escape("smoke | default | full")) as info:
        explore.app(profile)
    assert repr(profile) in str(info.value)
    with pytest.raises(ConfigError, match=r"explore\.seed = -1"):
        explore.app("smoke", seed=-1)


@pytest.mark.parametrize("port", [0, -1, 65536, "8866", 1.5, True])
def test_bad_port_is_rejected(port):
    with pytest.raises(ConfigError, match=r"explore\.port = .* expected an integer >= 1 and <= 65535"):
        explore_serve.check_port(port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_runs_voila_without_code_on_localhost(monkeypatch, capsys):
    seen = {}

    class FakePopen:
        def __init__(self, cmd, env):
            seen.update(cmd=cmd, env=env)

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(explore_serve.subprocess, "Popen", FakePopen)
    port = _free_port()
    assert main(["explore", "--profile", "smoke", "--port", str(port), "--no-browser"]) == 0
    cmd = seen["cmd"]
    assert cmd[1:4] == ["-m", "voila", str(explore_serve.APP_NOTEBOOK)]
    for flag in ("--strip_sources=True", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
                 "--Voila.port_retries=0"):
        assert flag in cmd
    assert seen["env"]["SEQGAP_EXPLORE_PROFILE"] == "smoke" and seen["env"]["SEQGAP_ROOT"]
    assert f"http://127.0.0.1:{port}/" in capsys.readouterr().out
    assert main(["explore", "--port", str(port)]) == 0
    assert "--no-browser" not in seen["cmd"] and seen["env"]["SEQGAP_EXPLORE_PROFILE"] == "default"


@pytest.mark.parametrize("args, needles", [(["--port", "0"], ["explore.port = 0", "65535"]),
                                           (["--profile", "huge"], ["'huge'", "smoke | default | full"])])
def test_cli_errors_are_one_line(args, needles, monkeypatch, capsys):
    monkeypatch.setattr(explore_serve.subprocess, "Popen", lambda *a, **k: pytest.fail("voila must not start"))
    assert main(["explore", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("seqgap-lab explore: error:")
    assert all(n in err for n in needles), err


def test_a_busy_port_is_an_error_not_another_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError, match=f"explore.port = {port} .* in use"):
            explore_serve.check_port_free(port)


def test_app_notebook_reads_the_profile_and_shows_the_app():
    nb = json.loads(explore_serve.APP_NOTEBOOK.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3" and nb["metadata"]["language_info"]["name"] == "python"
    first, second = ("".join(c["source"]) for c in nb["cells"])
    assert "parameters" in nb["cells"][0]["metadata"]["tags"] and explore_serve.PROFILE_ENV in first
    assert second.strip().endswith("app(profile)")
    assert all(not c.get("outputs") for c in nb["cells"])


@pytest.mark.timeout(900)
def test_smoke_app_builds_every_explorer_through_the_worker(data_dir):
    """The real builders on smoke tables, under a running loop as in a kernel: tables off the main thread."""

    async def build_all():
        return await _select_all(explore.app("smoke"))

    tab = _run_in_own_loop(build_all, 800)
    assert tab.errors == [None, None, None], tab.errors
    ss, beam, contrastive = tab.explorers
    assert [tab.children[i].children[0] for i in range(3)] == tab.explorers
    before = ss.numbers.value
    ss.slider.value = ss.slider.options[-1][1]
    assert ss.numbers.value != before
    before = beam.numbers.value
    beam.sliders["alpha"].value = beam.sliders["alpha"].options[-1][1]
    assert beam.numbers.value != before
    before = contrastive.text.value
    contrastive.sliders["weight"].value = contrastive.sliders["weight"].options[0][1]
    assert contrastive.text.value != before
