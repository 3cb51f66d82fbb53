"""Offline web assets of the reports and slides: pinned npm packages, fetched with `npm pack`, checked, unpacked.

nbconvert's HTML loads require.js, the widget manager and MathJax from CDNs, so offline the widgets of a report are
blank and its math is raw TeX. `install()` (run by `make setup`) fetches the packages below at pinned versions with
npm's own client, checks each tarball against its pinned sha512 integrity, and keeps only the files the pages load
(about 7 MB) with each package's licence, under `.web-assets/` at the project root ($SEQGAP_WEB_ASSETS_DIR).
`publish()` copies that set next to the reports (reports/assets/), so the reports folder can be copied to a laptop or
a USB stick and opened from disk; the pages name the assets by relative URLs.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seqgap_lab.core import paths
from seqgap_lab.core.cache import swap_in_folder

# The folder under reports/ that holds the published copy; pages refer to it as ../assets/ from reports/<stem>/.
PUBLISHED_NAME = "assets"
_STAMP = "manifest.json"
_NPM_TIMEOUT_S = 300


class WebAssetsUnavailable(RuntimeError):
    """The offline assets cannot be installed here (no npm, no registry, a tarball that fails its check)."""


@dataclass(frozen=True)
class WebPackage:
    """One npm package at a pinned version: its tarball's sha512 integrity and kept files (package-relative globs)."""

    name: str
    version: str
    integrity: str
    files: tuple[str, ...]
    licence: str  # the package's SPDX licence id (its package.json); its licence file is kept when it ships one

    @property
    def folder(self) -> str:
        """The package's folder under the assets folder (the scope's '@' and '/' kept out of paths)."""
        return self.name.replace("@", "").replace("/", "-")

    @property
    def spec(self) -> str:
        """name@version, as npm takes it."""
        return f"{self.name}@{self.version}"


# Fonts: only WOFF2/WOFF, which every current browser takes first (the EOT, TTF and SVG copies are for old ones and
# were 3 MB); tex-chtml-full.js has every TeX extension built in, so their separate files are left out too.
# Why these versions: the html-manager is the one ipywidgets 8 embeds (^1.0.1); MathJax 3 (our templates configure
# its API); reveal.js 4 (nbconvert's reveal template is written for 4; 6 does not work with it, measured); jQuery 3
# for the template's scrolling of long slides; require.js loads the AMD modules (widget manager, reveal).
PACKAGES = (
    WebPackage("requirejs", "2.3.8",
               "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
               ("require.js",), "MIT"),
    WebPackage("@jupyter-widgets/html-manager", "1.0.15",
               "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
               ("dist/embed-amd.js", "dist/*.woff2", "dist/*.woff", "dist/embed.js.LICENSE.txt"), "BSD-3-Clause"),
    WebPackage("mathjax", "3.2.2",
               "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
               ("es5/tex-chtml-full.js", "es5/output/chtml/fonts/woff-v2/*", "es5/ui/*", "es5/a11y/*", "LICENSE"),
               "Apache-2.0"),
    WebPackage("reveal.js", "4.6.0",
               "sha512-QC80rYsZldAe95bW9VImucIPTjfsKhI0jRQrIOXU4P92ZyXb/dfw9L3EE96bN6i7UmeUl1qBieH4UNTr25erYw==",
               ("dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "plugin/notes/notes.js", "LICENSE",
                *(f"dist/theme/fonts/source-sans-pro/{f}" for f in ("*.css", "*.woff", "LICENSE"))), "MIT"),
    WebPackage("jquery", "3.7.1",
               "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
               ("dist/jquery.min.js", "LICENSE.txt"), "MIT"),
)
_BY_NAME = {p.name: p for p in PACKAGES}


def assets_dir() -> Path:
    """Where `install()` keeps the assets: $SEQGAP_WEB_ASSETS_DIR, else .web-assets/ at the project root."""
    return Path(os.environ.get("SEQGAP_WEB_ASSETS_DIR") or paths.project_root() / ".web-assets")


def manifest() -> dict:
    """What a complete install holds: each package's name, version, integrity and kept files (the stamp)."""
    return {"packages": [{"name": p.name, "version": p.version, "integrity": p.integrity, "files": list(p.files)}
                         for p in PACKAGES]}


def installed(folder: Path | None = None) -> bool:
    """True when folder (default: assets_dir()) holds a complete install of exactly these pinned packages."""
    stamp = (folder or assets_dir()) / _STAMP
    try:
        return json.loads(stamp.read_text(encoding="utf-8")) == manifest()
    except (OSError, ValueError):
        return False


def install(force: bool = False, log=print) -> Path:
    """Fetch, check and unpack every package into assets_dir() (all or nothing: built aside, then renamed in)."""
    target = assets_dir()
    if installed(target) and not force:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise WebAssetsUnavailable("npm not found: install Node.js and npm (Debian: apt-get install npm), then run "
                                   "`seqgap-lab assets install`; until then reports load widgets and math from "
                                   "the network")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".web-assets-build-") as tmp:
        build = Path(tmp) / "assets"
        build.mkdir()
        for package in PACKAGES:
            log(f"web assets: npm pack {package.spec}")
            tarball = _npm_pack(npm, package, Path(tmp))
            _extract(tarball, package, build / package.folder)
        (build / _STAMP).write_text(json.dumps(manifest(), indent=1), encoding="utf-8")
        swap_in_folder(build, target, f".{target.name}-old-")
    log(f"web assets: {_size_mb(target):.1f} MB in {target}")
    return target


def _npm_pack(npm: str, package: WebPackage, dest: Path) -> Path:
    """The package's tarball, fetched by `npm pack` into dest; WebAssetsUnavailable if npm or the check fails."""
    argv = [npm, "pack", package.spec, "--pack-destination", str(dest), "--json", "--silent"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_NPM_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WebAssetsUnavailable(f"`npm pack {package.spec}` gave no answer in {_NPM_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise WebAssetsUnavailable(f"`npm pack {package.spec}` failed ({done.returncode}): {' | '.join(tail)}")
    filename = json.loads(done.stdout)[0]["filename"]
    tarball = dest / filename
    check_integrity(tarball.read_bytes(), package)
    return tarball


def check_integrity(data: bytes, package: WebPackage) -> None:
    """Raise WebAssetsUnavailable unless data's sha512 is the package's pinned integrity (npm's 'sha512-<base64>')."""
    got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if got != package.integrity:
        raise WebAssetsUnavailable(f"{package.spec}: tarball integrity {got[:24]}... is not the pinned "
                                   f"{package.integrity[:24]}...: refusing to use it")


def _extract(tarball: Path, package: WebPackage, dest: Path) -> None:
    """Unpack the kept files of an npm tarball (members under package/) into dest, plus a licence note."""
    kept = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            rel = PurePosixPath(member.name).relative_to("package") if member.name.startswith("package/") else None
            if rel is None or not member.isfile() or ".." in rel.parts:
                continue
            if any(fnmatch.fnmatchcase(str(rel), pattern) for pattern in package.files):
                out = dest / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(tar.extractfile(member).read())
                kept += 1
    missing = [f for f in package.files if "*" not in f and not (dest / f).is_file()]
    if missing or kept == 0:
        raise WebAssetsUnavailable(f"{package.spec}: files {missing or list(package.files)} not in its tarball")
    (dest / "SOURCE.txt").write_text(f"{package.spec} from the npm registry ({package.integrity}); licence "
                                     f"{package.licence} (its package.json); the licence file beside this one, where "
                                     f"the package ships one, and the headers of its files apply.\n", encoding="utf-8")


def _size_mb(folder: Path) -> float:
    """Total size of the files under folder, in MB."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def publish(reports_root: Path) -> Path | None:
    """Copy the installed assets to reports_root/assets (skipped when already the same); None if none installed."""
    source = assets_dir()
    if not installed(source):
        return None
    target = Path(reports_root) / PUBLISHED_NAME
    if installed(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assets-copy-") as tmp:
        build = Path(tmp) / PUBLISHED_NAME
        shutil.copytree(source, build)
        swap_in_folder(build, target, f".{target.name}-old-")
    return target


def exporter_urls(prefix: str) -> dict[str, str]:
    """nbconvert exporter settings that load every asset from prefix (e.g. '../assets'), a relative URL."""
    folder = {name: f"{prefix}/{package.folder}" for name, package in _BY_NAME.items()}
    return {"require_js_url": f"{folder['requirejs']}/require.js",
            "widget_renderer_url": f"{folder['@jupyter-widgets/html-manager']}/dist/embed-amd.js",
            "mathjax_url": f"{folder['mathjax']}/es5/tex-chtml-full.js",
            "reveal_url_prefix": folder["reveal.js"],
            "jquery_url": f"{folder['jquery']}/dist/jquery.min.js"}
