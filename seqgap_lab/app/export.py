"""An executed notebook to an HTML page or a reveal.js deck, offline when the web assets are published.

With the assets published next to the reports (app/web_assets.py), the page and the deck use this package's templates
(templates/seqgap_html, templates/seqgap_slides: MathJax 3, no CDN import) and name every script by a URL relative to
the page, so the reports folder renders its widgets and math from disk, with no network. Without them (no npm on this
machine) nbconvert's stock templates load the same from CDNs, as before; the index page says which case it is.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter, SlidesExporter

from seqgap_lab.app import web_assets
from seqgap_lab.core.cache import atomic_write_text

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Slides show the narrative and the outputs (figures, tables, widgets); the code is in the report and the notebook.
SLIDE_SETTINGS = {"reveal_theme": "white", "reveal_scroll": True, "reveal_transition": "none",
                  "reveal_number": "c/t", "exclude_input": True, "exclude_input_prompt": True,
                  "exclude_output_prompt": True}


def _assets_prefix(page: Path, reports_root: Path | None) -> str | None:
    """The relative URL from page's folder to the published assets, or None when none are published."""
    if reports_root is None or not web_assets.installed(reports_root / web_assets.PUBLISHED_NAME):
        return None
    rel = Path(*[".."] * len(page.parent.resolve().relative_to(reports_root.resolve()).parts))
    return (rel / web_assets.PUBLISHED_NAME).as_posix()


def _offline_settings(prefix: str, slides: bool) -> dict:
    """Exporter traits of the offline template: the template and every asset URL under prefix."""
    urls = web_assets.exporter_urls(prefix)
    # Why both: basedirs find the two templates by name, paths find the macro they share (templates/common).
    settings = {"extra_template_basedirs": [str(TEMPLATES)], "extra_template_paths": [str(TEMPLATES / "common")],
                "template_name": "seqgap_slides" if slides else "seqgap_html",
                "require_js_url": urls["require_js_url"], "widget_renderer_url": urls["widget_renderer_url"],
                "mathjax_url": urls["mathjax_url"]}
    if slides:
        settings.update(reveal_url_prefix=urls["reveal_url_prefix"], jquery_url=urls["jquery_url"])
    return settings


def to_html(notebook: Path, out: Path, reports_root: Path | None = None) -> bool:
    """Write the notebook's HTML page to out; True if it is offline (assets published under reports_root)."""
    prefix = _assets_prefix(out, reports_root)
    exporter = HTMLExporter(**(_offline_settings(prefix, slides=False) if prefix else {}))
    body, _ = exporter.from_filename(str(notebook))
    atomic_write_text(out, body)
    return prefix is not None


def to_slides(nb: nbformat.NotebookNode, name: str, out: Path, reports_root: Path | None = None) -> bool:
    """Write the reveal.js deck of notebook nb (titled by name) to out; True if it is offline (assets published
    under reports_root)."""
    prefix = _assets_prefix(out, reports_root)
    settings = {**SLIDE_SETTINGS, **(_offline_settings(prefix, slides=True) if prefix else {})}
    body, _ = SlidesExporter(**settings).from_notebook_node(nb, resources={"metadata": {"name": name}})
    atomic_write_text(out, body)
    return prefix is not None
