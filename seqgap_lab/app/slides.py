"""Slideshow tags of the lesson notebooks (title, one slide per section, takeaway) and the decks built from them.

The tags live in each notebook's cell metadata (`slideshow.slide_type`), where JupyterLab's RISE extension
(`pip install seqgap-lab[lecture]`) reads them for live slides and nbconvert for the static reveal.js decks. They
follow one rule, `slide_types()`, so a test can check every notebook against it and `seqgap-lab slides --tag`
can rewrite them after a notebook changed:
- the title cell (the first, `# NN · ...`) opens the deck;
- every `## ` section heading opens a slide, so the takeaway (`## Takeaway`) is the last slide;
- the setup code before the first section (parameters, imports) and papermill's injected parameters are skipped;
- every other cell continues the slide it is on (a slide taller than the screen scrolls).
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from seqgap_lab.app import export
from seqgap_lab.core import paths

SLIDE, CONTINUE, SKIP = "slide", "-", "skip"
SECTION_PREFIX = "## "
# RISE's settings in the notebook's metadata: the same look as the static decks, and no Google Fonts (RISE's default
# theme 'simple' imports them, so live slides offline would wait on the network).
RISE_SETTINGS = {"theme": "white", "transition": "none", "scroll": True, "slideNumber": "c/t"}


def _is_section(cell) -> bool:
    """A markdown cell that starts with a `## ` heading."""
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith(SECTION_PREFIX)


def slide_types(nb) -> list[str]:
    """The slide type of each cell of nb by the rule of this module (see the module docstring)."""
    types, seen_section = [], False
    for index, cell in enumerate(nb.cells):
        if "injected-parameters" in cell.metadata.get("tags", []):
            types.append(SKIP)
        elif index == 0 or _is_section(cell):
            seen_section = seen_section or index > 0
            types.append(SLIDE)
        elif not seen_section and cell.cell_type == "code":
            types.append(SKIP)
        else:
            types.append(CONTINUE)
    return types


def check_structure(nb, name: str) -> None:
    """ValueError naming the notebook unless it has a `# ` title first, a section, and a `## Takeaway` section."""
    first = nb.cells[0].source.lstrip() if nb.cells else ""
    if not (nb.cells and nb.cells[0].cell_type == "markdown" and first.startswith("# ")):
        raise ValueError(f"{name}: the first cell must be the markdown title '# ...' (the title slide)")
    headings = [c.source.lstrip().splitlines()[0] for c in nb.cells if _is_section(c)]
    if not headings:
        raise ValueError(f"{name}: no '## ' section heading, so the deck would be one slide")
    if not any(h.lower().startswith("## takeaway") for h in headings):
        raise ValueError(f"{name}: no '## Takeaway' section (the closing slide); sections: {headings}")


def apply_tags(nb) -> bool:
    """Set every cell's slideshow.slide_type by slide_types(nb) and RISE's settings; True if any changed."""
    changed = nb.metadata.get("rise") != RISE_SETTINGS
    nb.metadata["rise"] = dict(RISE_SETTINGS)
    for cell, wanted in zip(nb.cells, slide_types(nb)):
        if cell.metadata.get("slideshow", {}).get("slide_type") != wanted:
            cell.metadata.setdefault("slideshow", {})["slide_type"] = wanted
            changed = True
    return changed


def tag_notebook(path: Path) -> bool:
    """Rewrite the slideshow tags of the notebook at path (checked first); True if the file changed."""
    nb = nbformat.read(path, as_version=4)
    check_structure(nb, path.name)
    if not apply_tags(nb):
        return False
    nbformat.write(nb, path)
    return True


def build_deck(stem: str, reports_root: Path | None = None) -> tuple[Path, bool]:
    """reports/<stem>/<stem>.slides.html from the executed notebook there; (the deck, offline or not)."""
    root = Path(reports_root) if reports_root is not None else paths.reports_dir()
    executed = root / stem / f"{stem}.ipynb"
    if not executed.is_file():
        raise FileNotFoundError(f"no executed notebook {executed}: run `seqgap-lab report --only {stem[:2]}` "
                                f"(or `make report`) first")
    nb = nbformat.read(executed, as_version=4)
    apply_tags(nb)  # papermill's injected-parameters cell has no tag of its own
    out = root / stem / f"{stem}.slides.html"
    return out, export.to_slides(nb, stem, out, root)
