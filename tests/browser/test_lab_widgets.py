"""The live widgets of notebooks 03, 06 and 07 in a real JupyterLab: run all cells, move a slider with the
keyboard, and check that the numbers shown are the package's numbers for the new setting and the figure changed.

The expected numbers come from the same package functions, called here on the tables the notebook cached
(data is a tmp folder shared with the server's kernels), through the same explorer moved the same way.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import nbformat
import pytest

import harness
from seqgap_lab.lessons.beam import study as beam_study, explorer as beam_explorer
from seqgap_lab.lessons.contrastive import study as contrastive_study, explorer as contrastive_explorer
from seqgap_lab.lessons.scheduled_sampling import study as ss_study, explorer as ss_explorer
from seqgap_lab.data.text.builders import CorpusUnavailable, check_sources
from seqgap_lab.core.runtime import get_device
from seqgap_lab.core.seeds import seed_list
from seqgap_lab.probes import decode_cells

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

RUN_TIMEOUT_S = 240  # a smoke notebook trains its small models the first time: up to ~60 s alone on 2 cores
CHANGE_TIMEOUT_S = 30


def _run_all(page, lab, stem: str) -> None:
    """Open the notebook copy, wait for its kernel to be idle, and Run All Cells from the menu."""
    page.goto(lab.notebook_url(stem))
    # The toolbar's indicator reads idle before a kernel exists: wait for the status bar's "<kernel> | Idle".
    page.locator("#jp-main-statusbar").get_by_text("| Idle").first.wait_for(timeout=60_000)
    page.locator("#jp-MainMenu .lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click()


_STATE = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim());
  const status = document.querySelector('#jp-main-statusbar')?.textContent || '';
  return {prompts, idle: /\\|\\s*Idle/.test(status)};
}"""


def _wait_finished(page, stem: str, timeout: float = RUN_TIMEOUT_S) -> None:
    """Wait until no cell is queued or running and the kernel is idle; fail with the outputs if a cell raised."""
    deadline, state = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        state = page.evaluate(_STATE)
        if state["idle"] and state["prompts"] and not any("*" in p for p in state["prompts"]):
            break
        time.sleep(1.0)
    else:
        harness.screenshot(page, f"{stem}_failed")
        pytest.fail(f"{stem} did not finish within {timeout:.0f} s: prompts {state.get('prompts')}")
    if not all(any(ch.isdigit() for ch in p) for p in state["prompts"]):  # Run All stops at a cell that raised
        harness.screenshot(page, f"{stem}_failed")
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        pytest.fail(f"a cell of {stem} did not run: prompts {state['prompts']}; stderr outputs:\n"
                    + "\n".join(harness.text_of(errors.nth(i))[-2000:] for i in range(errors.count())))


@dataclass
class Moved:
    """What the widget showed before and after one key press on a slider."""

    readout: tuple[str, str]
    text: tuple[str, str]
    image: tuple[str, str]


def _shown(page, slider: str, text: str, figure: str) -> tuple[str, str, str]:
    readout = harness.text_of(page.locator(f".{slider} .widget-readout"))
    shown = harness.text_of(page.locator(f".{text} .widget-html-content"))
    images = page.locator(f".{figure} img")
    return readout, shown, images.first.get_attribute("src") if images.count() else ""


def _move(page, slider: str, text: str, figure: str, key: str) -> Moved:
    """Press key on the slider's handle (classes without dots); wait until the text and the figure change."""
    page.locator(f".{figure} img").first.wait_for(timeout=30_000)
    before = _shown(page, slider, text, figure)
    handle = page.locator(f".{slider} .noUi-handle")
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press(key)
    deadline, after = time.monotonic() + CHANGE_TIMEOUT_S, before
    while time.monotonic() < deadline:
        after = _shown(page, slider, text, figure)
        if after[0] != before[0] and after[1] != before[1] and after[2] not in (before[2], ""):  # "": cleared, not redrawn yet
            break
        time.sleep(0.25)
    return Moved(*zip(before, after))


def _label(slider) -> str:
    """The option label a SelectionSlider shows (its `label` trait stays '' until the index first changes)."""
    return slider.options[slider.index][0]


def _check_move(page, prefix: str, slider_name: str, text_name: str, slider, html_widget, shot: str) -> None:
    """Move the page's slider <prefix>-<slider_name> by one key press and the package's own explorer (slider,
    html_widget) the same way; the page must show the package's text for the new value, and a new figure."""
    step = -1 if slider.index == len(slider.options) - 1 else 1  # ArrowRight unless on the last option
    old_label, old_text = _label(slider), harness.html_text(html_widget.value)
    moved = _move(page, f"{prefix}-{slider_name}", f"{prefix}-{text_name}", f"{prefix}-figure",
                  "ArrowRight" if step == 1 else "ArrowLeft")
    # Before asserting (evidence either way): the controls, the numbers and the figure (not 06's tall examples).
    harness.screenshot(page, shot, page.locator(f".{prefix}-explorer"), page.locator(f".{prefix}-figure"))
    assert (moved.readout[0], moved.text[0]) == (old_label, old_text), "the page and the package disagree before the move"
    slider.index += step  # the same move in the package's own explorer: its observers redraw synchronously
    new_text = harness.html_text(html_widget.value)
    assert new_text != old_text, f"the package shows the same numbers for {old_label} and {_label(slider)}"
    assert moved.readout[1] == _label(slider), f"the key moved the slider to {moved.readout[1]}, not {_label(slider)}"
    assert moved.text[1] == new_text
    assert moved.image[1].startswith("data:image/png") and moved.image[1] != moved.image[0], "the figure did not change"


def notebook_parameters(lab, stem: str) -> dict:
    """The values of the copy's `parameters` cell (typed literals), as the kernel ran them."""
    nb = nbformat.read(lab.root_dir / f"{stem}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values: dict = {}
    exec(compile(cell.source, f"{stem}:parameters", "exec"), {}, values)  # literals only (docs/design.md)
    return values


@pytest.fixture(scope="module")
def started(lab, browser_context):
    """One page per notebook, each running all its cells (the kernels run side by side); closed at the end."""
    pages, stems = {}, ("03_scheduled_sampling", "06_beam_search_length_penalty", "07_contrastive_decoding")
    for stem in stems:  # a failure screenshot of an earlier run would mislead
        (harness.screenshots_dir() / f"{stem}_failed.png").unlink(missing_ok=True)
    try:
        for stem in stems:
            pages[stem] = browser_context.new_page()
            _run_all(pages[stem], lab, stem)
        yield pages
    finally:
        for page in pages.values():
            page.close()


def _needs_corpora(lab, *names: str) -> None:
    """Skip, saying why, when a corpus is neither prepared (linked into the lab's data) nor preparable here."""
    for name in names:
        if not (lab.data_dir / "corpora" / name / "manifest.json").is_file():
            try:
                check_sources(name)
            except CorpusUnavailable as exc:
                pytest.skip(str(exc))


@pytest.fixture()
def lab_data(lab, monkeypatch):
    """This process reads the data folder the notebooks' kernels wrote (models and decodes cached there)."""
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(lab.data_dir))
    return get_device()


def test_03_p_use_gt(started, lab, lab_data):
    stem = "03_scheduled_sampling"
    _wait_finished(started[stem], stem)
    p = notebook_parameters(lab, stem)
    models = [m.strip() for m in p["models"].split(",") if m.strip()]
    tables, _ = ss_study.run_seeded(p["profile"], models, seed_list(p["profile"], p["seed"], p["num_seeds"]),
                                    device=lab_data, progress=False)
    box = ss_explorer.ss_explorer(tables)
    _check_move(started[stem], "seqgap-ss", "p-use-gt", "numbers", box.slider, box.numbers, "03_p_use_gt")


def test_06_alpha_and_beam_size(started, lab, lab_data):
    stem = "06_beam_search_length_penalty"
    _needs_corpora(lab, "bible")
    _wait_finished(started[stem], stem)
    p = notebook_parameters(lab, stem)
    grid = decode_cells.GRIDS[p["profile"]]
    sentences = grid["num_sentences"] if p["num_sentences"] == -1 else p["num_sentences"]
    tables = beam_study.run_nmt(p["profile"], seed=p["seed"], num_sentences=sentences, device=lab_data,
                                progress=False)
    box = beam_explorer.beam_explorer(tables)
    for name, shot in (("alpha", "06_alpha"), ("beam_size", "06_beam_size")):
        _check_move(started[stem], "seqgap-beam", name.replace("_", "-"), "numbers", box.sliders[name], box.numbers,
                    shot)


def test_07_contrastive_weight(started, lab, lab_data):
    stem = "07_contrastive_decoding"
    _needs_corpora(lab, "bible", "prose", "code")  # the prose LM holds out the bible's dev/test verses
    _wait_finished(started[stem], stem)
    p = notebook_parameters(lab, stem)
    pairs = {c: contrastive_study.load_pair(c, p["profile"], p["seed"], lab_data, p["num_prompts"])
             for c in (c.strip() for c in p["corpora"].split(",")) if c}
    box = contrastive_explorer.contrastive_explorer(contrastive_study.explorer_grid(pairs, p["profile"]))
    _check_move(started[stem], "seqgap-contrastive", "weight", "text", box.sliders["weight"], box.text,
                "07_contrastive_weight")


_STUBBORN_SERVER = """
import http.server, signal, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                          "time.sleep(600)"], start_new_session=True)  # like a kernel: own session, here deaf to TERM
open(sys.argv[2], "w").write(str(child.pid))
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.BaseHTTPRequestHandler).serve_forever()
"""


def test_server_and_its_children_are_stopped_by_pid_when_the_body_raises(tmp_path):
    port, pid_file = harness.free_port(), tmp_path / "child.pid"
    argv = [sys.executable, "-c", _STUBBORN_SERVER, str(port), str(pid_file)]
    with pytest.raises(RuntimeError, match="the test failed"):
        with harness.server(argv, port, tmp_path / "logs", cwd=tmp_path, grace=1.0) as srv:
            pids = [srv.proc.pid, int(pid_file.read_text())]
            assert all(harness.start_time(pid) for pid in pids)
            raise RuntimeError("the test failed")
    assert srv.proc.returncode is not None
    assert not [pid for pid in pids if harness.start_time(pid)], "a process outlived the server context"
