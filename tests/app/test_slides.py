"""slides.py and export.py: the slideshow rule, every lesson tagged by it, and pages/decks that name only local
assets when the assets are published (the browser proves they render: tests/browser/test_offline_reports.py)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from helpers import REPO_ROOT

from seqgap_lab.app import export, slides, web_assets

LESSONS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _nb(*cells) -> nbformat.NotebookNode:
    """A notebook of ('md'|'code', source[, tags]) cells."""
    made = []
    for kind, source, *tags in cells:
        meta = {"tags": tags[0]} if tags else {}
        made.append(nbformat.v4.new_markdown_cell(source, metadata=meta) if kind == "md"
                    else nbformat.v4.new_code_cell(source, metadata=meta))
    return nbformat.v4.new_notebook(cells=made)


LESSON_LIKE = _nb(("md", "# 01 · Title\n\nGoal."), ("code", "profile = 'default'", ["parameters"]),
                  ("code", "profile = 'smoke'", ["injected-parameters"]), ("code", "import x"),
                  ("md", "## 1 · A section"), ("code", "plot()"), ("md", "More words."),
                  ("md", "### a subheading"), ("md", "## Takeaway"), ("code", "summary()"))


def test_the_rule_on_a_lesson_shaped_notebook():
    assert slides.slide_types(LESSON_LIKE) == ["slide", "skip", "skip", "skip", "slide", "-", "-", "-", "slide", "-"]


def test_code_after_the_first_section_is_never_skipped():
    nb = _nb(("md", "# T"), ("md", "## S"), ("code", "import late"), ("md", "## Takeaway"))
    assert slides.slide_types(nb) == ["slide", "slide", "-", "slide"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_is_tagged_by_the_rule(path):
    nb = nbformat.read(path, as_version=4)
    slides.check_structure(nb, path.name)
    committed = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert committed == slides.slide_types(nb), f"run `seqgap-lab slides --tag` after editing {path.name}"
    assert nb.metadata.get("rise") == slides.RISE_SETTINGS, f"run `seqgap-lab slides --tag` ({path.name})"
    assert committed[0] == "slide" and committed.count("slide") >= 3, "title, a section and the takeaway"
    last_slide = max(i for i, t in enumerate(committed) if t == "slide")
    assert nb.cells[last_slide].source.startswith("## Takeaway"), "the takeaway is the closing slide"


@pytest.mark.parametrize("cells, message", [
    ((("code", "x = 1"), ("md", "## Takeaway")), "first cell must be the markdown title"),
    ((("md", "# T"), ("md", "words")), "no '## ' section heading"),
    ((("md", "# T"), ("md", "## Results")), r"no '## Takeaway' section .*\['## Results'\]"),
])
def test_structure_errors_name_the_notebook_and_the_problem(cells, message):
    with pytest.raises(ValueError, match=f"lesson.ipynb: .*{message}"):
        slides.check_structure(_nb(*cells), "lesson.ipynb")


def test_tag_notebook_writes_once(tmp_path):
    path = tmp_path / "t.ipynb"
    nbformat.write(_nb(("md", "# T"), ("code", "setup"), ("md", "## Takeaway")), path)
    assert slides.tag_notebook(path) is True
    text = path.read_text()
    assert slides.tag_notebook(path) is False and path.read_text() == text
    types = [c["metadata"]["slideshow"]["slide_type"] for c in json.loads(text)["cells"]]
    assert types == ["slide", "skip", "slide"]


def _publish_fake_assets(reports: Path) -> None:
    """A published assets folder whose stamp matches the pins (contents are not read by the exporter)."""
    folder = reports / web_assets.PUBLISHED_NAME
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(web_assets.manifest()))


def _scripts_and_links(page: str) -> list[str]:
    """Every src= and href= of a page, and the widget renderer URL its loader script sets."""
    found = re.findall(r'(?:src|href)="([^"#]*)"', page)
    found += re.findall(r"var widgetRendererSrc = '([^']*)'", page)
    return [u for u in found if u and not u.startswith("data:")]


@pytest.fixture
def executed(tmp_path) -> Path:
    """An 'executed' lesson in reports/<stem>/ with saved widget state and a formula."""
    nb = _nb(("md", "# 99 · T\n\n$$a^2 + b^2$$"), ("code", "p = 1", ["parameters"]), ("md", "## S"),
             ("code", "w"), ("md", "## Takeaway"))
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0,
                                                                            "state": {}}}
    path = tmp_path / "reports" / "99_t" / "99_t.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


def test_offline_page_and_deck_name_only_relative_assets(executed):
    reports = executed.parent.parent
    _publish_fake_assets(reports)
    page_path = executed.with_suffix(".html")
    assert export.to_html(executed, page_path, reports) is True
    deck_path, offline = slides.build_deck("99_t", reports)
    assert offline is True and deck_path.name == "99_t.slides.html"
    for path in (page_path, deck_path):
        urls = _scripts_and_links(path.read_text())
        assert urls and all(u.startswith("../assets/") for u in urls), (path.name, urls)
        assert "MathJax.Hub" not in path.read_text(), "MathJax 3 has no Hub: nbconvert's MathJax 2 code is out"
    deck = deck_path.read_text()
    assert "<title>99_t slides</title>" in deck, "the deck is titled by its notebook"
    assert "../assets/reveal.js/dist/reveal.js" in deck and "../assets/jquery/dist/jquery.min.js" in deck
    assert "p = 1" not in deck, "slides show outputs; the parameters cell is skipped and inputs are left out"
    assert not list(executed.parent.glob(".*.slides.ipynb")), "the tagged copy is removed"


def test_without_assets_the_stock_pages_are_written(executed):
    page_path = executed.with_suffix(".html")
    assert export.to_html(executed, page_path, executed.parent.parent) is False
    assert any(u.startswith("https://") for u in _scripts_and_links(page_path.read_text()))


def test_deck_needs_an_executed_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"report --only 42"):
        slides.build_deck("42_missing", tmp_path)
