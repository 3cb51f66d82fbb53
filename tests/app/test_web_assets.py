"""web_assets.py: pinned npm packages fetched by `npm pack`, checked, unpacked all-or-nothing, published next to the
reports. A fake `npm` on PATH serves made-up tarballs, so nothing here reaches a registry."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
from pathlib import Path

import pytest

from seqgap_lab.app import web_assets
from seqgap_lab.app.web_assets import WebPackage


def _tarball(files: dict[str, bytes]) -> bytes:
    """An npm-style .tgz: every member under package/."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    """A fake npm on PATH whose `pack SPEC --pack-destination DIR` copies store/<SPEC>.tgz there; returns the store."""
    store, bin_dir = tmp_path / "store", tmp_path / "bin"
    store.mkdir()
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(f"""#!{sys.executable}
import json, shutil, sys
from pathlib import Path
args = sys.argv[1:]
spec, dest = args[1], Path(args[args.index("--pack-destination") + 1])
src = Path({str(store)!r}) / (spec.replace("/", "_") + ".tgz")
if not src.is_file():
    print("npm error 404 Not Found - " + spec, file=sys.stderr)
    sys.exit(1)
shutil.copy(src, dest / src.name)
print(json.dumps([{{"filename": src.name}}]))
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SEQGAP_WEB_ASSETS_DIR", str(tmp_path / "assets"))
    return store


def _serve(store: Path, name: str, version: str, files: dict[str, bytes], keep: tuple[str, ...]) -> WebPackage:
    """Put a tarball of files into the fake npm's store; the WebPackage that pins it."""
    data = _tarball({f"package/{k}": v for k, v in files.items()})
    (store / (f"{name}@{version}".replace("/", "_") + ".tgz")).write_bytes(data)
    return WebPackage(name, version, _integrity(data), keep, "MIT")


def test_pinned_packages_are_complete():
    names = {p.name for p in web_assets.PACKAGES}
    assert names == {"requirejs", "@jupyter-widgets/html-manager", "mathjax", "reveal.js", "jquery"}
    for p in web_assets.PACKAGES:
        assert p.integrity.startswith("sha512-") and len(base64.b64decode(p.integrity[7:])) == 64, p.name
        assert p.version[0].isdigit() and "^" not in p.version, "versions are pinned, not ranges"
    assert next(p for p in web_assets.PACKAGES if p.name == "reveal.js").version.startswith("4."), \
        "nbconvert's reveal template is written for reveal.js 4"


def test_exporter_urls_are_relative_to_the_page():
    urls = web_assets.exporter_urls("../assets")
    assert urls["require_js_url"] == "../assets/requirejs/require.js"
    assert urls["widget_renderer_url"] == "../assets/jupyter-widgets-html-manager/dist/embed-amd.js"
    assert urls["mathjax_url"] == "../assets/mathjax/es5/tex-chtml-full.js"
    assert urls["reveal_url_prefix"] == "../assets/reveal.js"
    assert all("//" not in url for url in urls.values())


def test_integrity_check_refuses_other_bytes():
    data = b"the real tarball"
    package = WebPackage("x", "1.0.0", _integrity(data), ("a",), "MIT")
    web_assets.check_integrity(data, package)
    with pytest.raises(web_assets.WebAssetsUnavailable, match="refusing"):
        web_assets.check_integrity(data + b"!", package)


def test_install_keeps_only_the_listed_files_and_stamps(fake_npm, monkeypatch):
    one = _serve(fake_npm, "one", "1.2.3", {"dist/a.js": b"A", "dist/b.css": b"B", "src/x.ts": b"X",
                                           "LICENSE": b"MIT text"}, ("dist/*.js", "LICENSE"))
    two = _serve(fake_npm, "@scope/two", "0.1.0", {"lib/t.js": b"T"}, ("lib/t.js",))
    monkeypatch.setattr(web_assets, "PACKAGES", (one, two))
    log: list[str] = []
    target = web_assets.install(log=log.append)
    assert (target / "one" / "dist" / "a.js").read_bytes() == b"A"
    assert (target / "one" / "LICENSE").read_bytes() == b"MIT text"
    assert not (target / "one" / "dist" / "b.css").exists() and not (target / "one" / "src").exists()
    assert (target / "scope-two" / "lib" / "t.js").read_bytes() == b"T"
    assert "one@1.2.3" in (target / "one" / "SOURCE.txt").read_text()
    assert web_assets.installed() and any("npm pack one@1.2.3" in line for line in log)
    log.clear()
    assert web_assets.install(log=log.append) == target and log == [], "a complete install is not fetched again"


def test_a_bad_tarball_leaves_the_previous_install_untouched(fake_npm, monkeypatch):
    good = _serve(fake_npm, "one", "1.0.0", {"a.js": b"good"}, ("a.js",))
    monkeypatch.setattr(web_assets, "PACKAGES", (good,))
    target = web_assets.install()
    newer = _serve(fake_npm, "one", "2.0.0", {"a.js": b"tampered"}, ("a.js",))
    pinned_wrong = WebPackage("one", "2.0.0", _integrity(b"something else"), ("a.js",), "MIT")
    monkeypatch.setattr(web_assets, "PACKAGES", (pinned_wrong,))
    with pytest.raises(web_assets.WebAssetsUnavailable, match="integrity"):
        web_assets.install()
    assert (target / "one" / "a.js").read_bytes() == b"good", "the old install must survive a failed one"
    assert not web_assets.installed(), "the stamp names the old pins, so the new set counts as missing"
    assert newer.integrity != pinned_wrong.integrity
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".web-assets-build")] == []


def test_missing_file_and_npm_errors_are_clear(fake_npm, monkeypatch):
    incomplete = _serve(fake_npm, "one", "1.0.0", {"a.js": b"A"}, ("a.js", "b.js"))
    monkeypatch.setattr(web_assets, "PACKAGES", (incomplete,))
    with pytest.raises(web_assets.WebAssetsUnavailable, match=r"\['b.js'\] not in its tarball"):
        web_assets.install()
    monkeypatch.setattr(web_assets, "PACKAGES", (WebPackage("absent", "9.9.9", "sha512-x", ("a",), "MIT"),))
    with pytest.raises(web_assets.WebAssetsUnavailable, match=r"npm pack absent@9.9.9. failed \(1\).*404"):
        web_assets.install()


def test_no_npm_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGAP_WEB_ASSETS_DIR", str(tmp_path / "assets"))
    monkeypatch.setattr(web_assets.shutil, "which", lambda name: None)
    with pytest.raises(web_assets.WebAssetsUnavailable, match="npm not found.*apt-get install npm"):
        web_assets.install()


def test_path_traversal_members_are_ignored(fake_npm, monkeypatch):
    data = _tarball({"package/a.js": b"A", "package/../evil.js": b"E", "other/b.js": b"B"})
    (fake_npm / "one@1.0.0.tgz").write_bytes(data)
    monkeypatch.setattr(web_assets, "PACKAGES", (WebPackage("one", "1.0.0", _integrity(data), ("*.js",), "MIT"),))
    target = web_assets.install()
    assert sorted(p.name for p in (target / "one").iterdir()) == ["SOURCE.txt", "a.js"]
    assert not (target / "evil.js").exists() and not (target.parent / "evil.js").exists()


def test_publish_copies_once_and_none_without_install(fake_npm, monkeypatch, tmp_path):
    reports = tmp_path / "reports"
    monkeypatch.setattr(web_assets, "PACKAGES", (_serve(fake_npm, "one", "1.0.0", {"a.js": b"A"}, ("a.js",)),))
    assert web_assets.publish(reports) is None, "nothing installed yet"
    web_assets.install()
    published = web_assets.publish(reports)
    assert published == reports / "assets" and (published / "one" / "a.js").read_bytes() == b"A"
    marker = published / "one" / "a.js"
    before = marker.stat().st_mtime_ns
    assert web_assets.publish(reports) == published and marker.stat().st_mtime_ns == before, "same set: no copy"
    assert json.loads((published / "manifest.json").read_text()) == web_assets.manifest()
