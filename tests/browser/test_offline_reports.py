"""The reports and slides with no network: a real Chromium opens them from disk (file://) with every request that is
not a local file or loopback aborted and recorded, so "zero requests left the machine" is measured, not assumed.

One smoke report of notebook 06 (widgets and formulas) with slides is built for the module, as `make report
--slides` would, with the offline assets `make setup` installed. Live slides (RISE in JupyterLab, the `[lecture]`
extra) are opened on the lab fixture's server, loopback only. Screenshots: reports/screenshots/offline_*.png.
"""
from __future__ import annotations

import importlib.util
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

import harness
from seqgap_lab.app import export, report, slides, web_assets

STEM = "06_beam_search_length_penalty"
LOCAL_SCHEMES = ("file", "data", "blob", "about")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
READY_TIMEOUT_MS = 60_000


@dataclass
class Watched:
    """A page with every request recorded: those sent off the machine (aborted) and local ones that failed."""

    page: object
    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def assert_offline(self) -> None:
        """No request tried to leave the machine, and every local file the page asked for was there."""
        assert self.external == [], f"requests that would have left the machine: {self.external}"
        assert self.failed == [], f"local requests that failed: {self.failed}"


def watch(context) -> Watched:
    """A new page of context whose off-machine requests are aborted and recorded."""
    page = context.new_page()
    watched = Watched(page)

    def route(r):
        url = r.request.url
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES or parts.hostname in LOOPBACK:
            r.continue_()
        else:
            watched.external.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda req: req.url not in watched.external and watched.failed.append(
        f"{req.url[:160]} ({req.failure})"))
    return watched


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """reports/ of a smoke run of notebook 06 with slides and the offline assets, in a tmp folder."""
    if not web_assets.installed():
        if shutil.which("npm"):
            pytest.fail(f"offline web assets missing in {web_assets.assets_dir()}: `make setup` installs them "
                        f"(seqgap-lab assets install)")
        pytest.skip("no npm on this machine, so no offline web assets (make setup says so)")
    tmp = tmp_path_factory.mktemp("offline-report")
    harness.link_corpora(tmp / "data")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("DATA", "FIGURES", "REPORTS"):
            mp.setenv(f"SEQGAP_{name}_DIR", str(tmp / name.lower()))
        records = report.run_report("smoke", only=[STEM[:2]], make_slides=True)
    assert [r["status"] for r in records] == ["ok"], records[0].get("error")
    assert records[0]["offline"] is True and records[0]["slides"] == f"{STEM}/{STEM}.slides.html"
    return tmp / "reports"


def test_report_page_shows_the_widget_and_the_math_offline(built, browser_context):
    watched = watch(browser_context)
    page = watched.page
    try:
        page.goto((built / STEM / f"{STEM}.html").as_uri())
        page.locator("body[data-mathjax='typeset']").wait_for(state="attached", timeout=READY_TIMEOUT_MS)
        slider = page.locator(".seqgap-beam-alpha .noUi-handle")
        slider.wait_for(timeout=READY_TIMEOUT_MS)
        readout = harness.text_of(page.locator(".seqgap-beam-alpha .widget-readout"))
        formula = page.locator("mjx-container[display='true']").first
        harness.screenshot(page, "offline_report_06_math", formula)
        harness.screenshot(page, "offline_report_06_widget", page.locator(".seqgap-beam-explorer"))
        assert readout != "", "the slider shows its saved value"
        assert page.locator("mjx-container").count() >= 4, "the display formula and the inline symbols are typeset"
        first_cell = harness.text_of(page.locator(".jp-MarkdownCell").first)
        assert "\\frac" not in first_cell and "$$" not in first_cell, "raw TeX is left on the page"
        watched.assert_offline()
    finally:
        page.close()


def test_index_page_links_the_slides_and_is_offline(built, browser_context):
    watched = watch(browser_context)
    page = watched.page
    try:
        page.goto((built / "index.html").as_uri())
        page.locator("img.thumb").first.wait_for(timeout=READY_TIMEOUT_MS)
        assert page.locator("a.slides").get_attribute("href") == f"{STEM}/{STEM}.slides.html"
        assert harness.text_of(page.locator("table.meta")).count("offlineyes: widgets and math load from assets/") == 1
        watched.assert_offline()
    finally:
        page.close()


def test_slide_deck_is_ready_and_pages_through_offline(built, browser_context):
    executed = nbformat.read(built / STEM / f"{STEM}.ipynb", as_version=4)
    expected = slides.slide_types(executed).count(slides.SLIDE)
    watched = watch(browser_context)
    page = watched.page
    try:
        page.goto((built / STEM / f"{STEM}.slides.html").as_uri())
        page.locator("body[data-deck='ready']").wait_for(state="attached", timeout=READY_TIMEOUT_MS)
        page.locator("body[data-mathjax='typeset']").wait_for(state="attached", timeout=READY_TIMEOUT_MS)
        harness.screenshot(page, "offline_slides_06_title")
        assert page.evaluate("Reveal.getTotalSlides()") == expected
        assert "06 · Beam search" in harness.text_of(page.locator("section.present h1"))
        page.keyboard.press("ArrowRight")
        _wait_for(lambda: page.evaluate("Reveal.getIndices().h") == 1, "ArrowRight did not go to slide 2")
        page.evaluate(f"Reveal.slide({expected - 1})")
        _wait_for(lambda: page.evaluate("Reveal.isLastSlide()"), "the deck did not reach its last slide")
        assert harness.text_of(page.locator("section.present h2")).startswith("Takeaway")
        harness.screenshot(page, "offline_slides_06_takeaway")
        assert page.locator(".seqgap-beam-alpha .noUi-handle").count() == 1, "the widget is in the deck too"
        watched.assert_offline()
    finally:
        page.close()


def test_the_watcher_sees_a_stock_page_reach_for_the_network(built, browser_context, tmp_path):
    stock = tmp_path / "stock" / f"{STEM}.html"  # no assets published beside it: nbconvert's CDN URLs
    stock.parent.mkdir()
    assert export.to_html(built / STEM / f"{STEM}.ipynb", stock, tmp_path / "stock") is False
    watched = watch(browser_context)
    try:
        watched.page.goto(stock.as_uri())
        _wait_for(lambda: len(watched.external) >= 2, "the stock page asked for nothing off the machine")
        assert any("require" in url for url in watched.external), watched.external
    finally:
        watched.page.close()


def _wait_for(condition, message: str, timeout: float = 10.0) -> None:
    """Poll condition() until true; fail with message after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(message)


@pytest.mark.skipif(importlib.util.find_spec("jupyterlab_rise") is None,
                    reason="jupyterlab-rise missing: `pip install seqgap-lab[lecture]` (the dev extra has it)")
def test_live_slides_open_in_jupyterlab_with_rise(lab, browser_context):
    watched = watch(browser_context)
    page = watched.page
    try:
        page.goto(f"{lab.url}/rise/{STEM}.ipynb?token={lab.token}")
        page.locator(".reveal .slides section").first.wait_for(timeout=READY_TIMEOUT_MS)
        _wait_for(lambda: page.evaluate("document.querySelectorAll('.reveal .slides > section').length") > 1,
                  "RISE built no slides", timeout=60)
        nb = nbformat.read(lab.root_dir / f"{STEM}.ipynb", as_version=4)
        shown = page.evaluate("document.querySelectorAll('.reveal .slides > section').length")
        harness.screenshot(page, "live_slides_06_rise")
        assert shown == slides.slide_types(nb).count(slides.SLIDE), "one RISE slide per tagged slide"
        assert watched.external == [], f"requests that would have left the machine: {watched.external}"
    finally:
        page.close()
