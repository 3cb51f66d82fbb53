"""`seqgap-lab explore --profile smoke` in a real browser: no code shown, each tab builds its explorer, a slider
moved with the keyboard changes the numbers shown; one screenshot per tab in reports/screenshots/."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

import harness
from seqgap_lab.core import paths

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]
# (tab title, screenshot name, slider description, key, text before, text after). The smoke grids have two
# values per slider; the contrastive weight w starts at the grid's top (1), so it moves down.
TABS = [("Scheduled sampling", "scheduled_sampling", "p_use_gt", "ArrowRight", "teacher forcing (p=1)",
         "constant p=0.5"),
        ("Beam search", "beam_search", "alpha", "ArrowRight", "no penalty", "gnmt alpha=1"),
        ("Contrastive decoding", "contrastive_decoding", "w", "ArrowLeft", "w = 1", "w = 0")]
BUILD_S = 600  # the first build of a tab trains its smoke models in the app's kernel (tens of seconds here)


def _env(tmp: Path) -> dict:
    """The app's environment: as JupyterLab's (outputs and Jupyter state in tmp), the repo's corpora linked in."""
    harness.link_corpora(tmp / "data")
    return harness.lab_env(tmp)


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("seqgap-lab")  # this venv's console script
    return [str(script)] if script.is_file() else [sys.executable, "-m", "seqgap_lab"]


def _visible_text(page) -> str:
    # innerText skips hidden tab panels, so this is what the student sees.
    return harness.collapse(page.locator(".widget-tab").first.inner_text())


def _figure_src(page, timeout_s: float) -> str:
    """The src of the figure (a PNG data URL) in the visible tab's Output widget, once there is one."""
    img = page.locator(".widget-tab .widget-output img").locator("visible=true").first
    img.wait_for(timeout=timeout_s * 1000)
    return img.get_attribute("src")


def _wait_for_text(page, needle: str, timeout_s: float, srv) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = _visible_text(page)
        if needle in text:
            return text
        assert "could not be built" not in text and "needs a real corpus" not in text, text
        page.wait_for_timeout(250)
    raise AssertionError(f"{needle!r} not shown within {timeout_s:.0f} s; page: {_visible_text(page)[:800]}\n"
                         f"server log:\n{srv.log_tail()}")


def test_explore_app_in_a_browser(tmp_path, browser_context):
    port = harness.free_port()
    argv = [*_cli(), "explore", "--profile", "smoke", "--port", str(port), "--no-browser"]
    with harness.server(argv, port, tmp_path / "logs", env=_env(tmp_path), cwd=paths.project_root(),
                        name="explore") as srv:
        page = browser_context.new_page()
        start = time.perf_counter()
        page.goto(srv.url + "/", timeout=120_000)
        page.locator(".lm-TabBar-tab", has_text="Scheduled sampling").wait_for(timeout=120_000)
        print(f"app shown after {time.perf_counter() - start:.1f} s")
        html = page.content()
        assert "seqgap_lab.app.explore" not in html and "SEQGAP_EXPLORE_PROFILE" not in html, "code is shown"
        assert page.locator(".jp-InputArea, .jp-InputPrompt, .CodeMirror, .cm-editor").count() == 0
        for title, name, slider, key, before, after in TABS:
            page.locator(".lm-TabBar-tab", has_text=title).click()
            built = time.perf_counter()
            shown = _wait_for_text(page, before, BUILD_S, srv)
            print(f"{title}: explorer shown after {time.perf_counter() - built:.1f} s")
            assert after not in shown
            handle = page.locator(f".widget-slider:has(.widget-label:text-is('{slider}')) .noUi-handle")
            handle = handle.locator("visible=true")
            readout = handle.locator("xpath=ancestor::*[contains(@class,'widget-slider')][1]").locator(
                ".widget-readout")
            old, figure = harness.text_of(readout), _figure_src(page, 60)
            handle.focus()
            page.keyboard.press(key)
            changed = _wait_for_text(page, after, 30, srv)
            assert harness.text_of(readout) != old and changed != shown
            deadline = time.monotonic() + 30  # the figure is redrawn after the numbers
            while _figure_src(page, 30) == figure and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            assert _figure_src(page, 1) != figure, f"{title}: the figure was not redrawn"
            harness.screenshot(page, f"explore_{name}")
