"""Helpers for the browser tests: a server subprocess stopped by PID, a headless Chromium, screenshots.

Stable API (tests/browser/test_lab_widgets.py and test_explore_app_browser.py use it):
- free_port() -> int: a TCP port free on 127.0.0.1 now.
- server(argv, port, log_dir, probe=..., env=..., cwd=..., timeout=..., name=..., grace=...): starts
  argv in its own process group (stdout and stderr to a log file), waits until http://127.0.0.1:port<probe>
  answers (any HTTP status counts), yields a Server, and on exit stops the process group and every process it
  started (also kernels in their own session) by PID: SIGTERM, then SIGKILL after `grace` seconds; also when
  the body raised.
- stop_process(proc, grace), descendants(pid), start_time(pid): the stopping parts (start_time is None once a
  process is gone).
- launch_browser(tmp_dir): context manager yielding a Playwright BrowserContext of /usr/bin/chromium
  (headless, fresh user-data-dir, VIEWPORT); `page = context.new_page()`.
- screenshot(page, name, target=None, bottom=None) -> Path: a PNG under screenshots_dir(): the viewport, the
  target locator only, or the strip from target's top to bottom's bottom edge.
- text_of(locator) -> str: an element's textContent, whitespace collapsed; html_text(markup) -> the same
  normalised text of an HTML string (to compare what the package renders with what the browser shows).
- lab_env(tmp) -> dict, link_corpora(data_dir): a server's environment (seqgap outputs and Jupyter state in tmp)
  and the repo's prepared corpora linked into its data folder.
"""
from __future__ import annotations

import contextlib
import html.parser
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from seqgap_lab.core import paths

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}
# The reports folder as the test process started: tests/conftest.py points SEQGAP_REPORTS_DIR at a tmp folder
# per test, but screenshots are artefacts for people (reports/screenshots/), so read the variable at import.
_REPORTS_AT_START = os.environ.get("SEQGAP_REPORTS_DIR")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server: its process, base URL and log file."""

    proc: subprocess.Popen
    url: str
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log (for failure messages)."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.is_file() else ""


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (start time) of a live process, None if gone or a zombie: tells a process
    from a later one with the same PID (a container's init may never reap an orphan, so zombies count as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if len(fields) < 20 or fields[0] == "Z" else fields[19]


def descendants(pid: int) -> list[tuple[int, str]]:
    """(PID, start time) of every live process below pid, read from /proc (kernels run in their own session)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        start = start_time(child)
        if start is not None:
            out.append((child, start))
            todo += children.get(child, [])
    return out


def _signal_alive(procs: list[tuple[int, str]], sig: int) -> list[tuple[int, str]]:
    """Send sig to each (PID, start time) still alive as that same process; return those signalled."""
    hit = []
    for pid, start in procs:
        if start_time(pid) == start:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                hit.append((pid, start))
    return hit


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop proc (the leader of its own process group) and all its descendants by PID: SIGTERM, then SIGKILL."""
    below = descendants(proc.pid)  # now: once proc is gone its orphans belong to init and cannot be found
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _signal_alive(below, sig):
            break
        _wait_gone(below, grace)  # a signal is delivered asynchronously: return only once they are gone


def _wait_gone(procs: list[tuple[int, str]], timeout: float) -> None:
    """Wait up to timeout seconds until none of (PID, start time) is alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(start_time(p) == s for p, s in procs):
        time.sleep(0.05)


def wait_http(url: str, proc: subprocess.Popen, timeout: float, log_path: Path) -> None:
    """Poll url until any HTTP answer (404 included); RuntimeError if proc exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering; log:\n"
                               f"{log_path.read_text(errors='replace')[-4000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s; log:\n{log_path.read_text(errors='replace')[-4000:]}")


@contextlib.contextmanager
def server(argv: Sequence[str], port: int, log_dir: Path, probe: str = "/seqgap-readiness-probe-404",
           env: dict | None = None, cwd: Path | None = None, timeout: float = 90.0,
           name: str = "server", grace: float = 10.0) -> Iterator[Server]:
    """Start argv (own process group, output to log_dir/<name>.log), wait until it answers on probe, stop it by PID."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + probe, proc, timeout, log_path)
        yield Server(proc, base, log_path)
    finally:
        stop_process(proc, grace)


@contextlib.contextmanager
def launch_browser(tmp_dir: Path, headless: bool = True) -> Iterator:
    """A Playwright BrowserContext of Debian's Chromium with a fresh user-data-dir under tmp_dir."""
    from playwright.sync_api import sync_playwright

    profile = tmp_dir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=headless, args=CHROMIUM_ARGS,
            viewport=VIEWPORT)
        try:
            yield context
        finally:
            context.close()


def screenshots_dir() -> Path:
    """reports/screenshots: under $SEQGAP_REPORTS_DIR as the test process started with it, else the repo's."""
    root = Path(_REPORTS_AT_START) if _REPORTS_AT_START else paths.project_root() / "reports"
    path = root / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(page, name: str, target=None, bottom=None) -> Path:
    """Save <name>.png under screenshots_dir(): the viewport; or only target (a Locator); or, with bottom (a
    Locator below target's top), the strip of the viewport from target's top edge to bottom's bottom edge."""
    path = screenshots_dir() / f"{name}.png"
    if target is None:
        page.screenshot(path=str(path))
    elif bottom is None:
        target.scroll_into_view_if_needed()
        target.screenshot(path=str(path))
    else:
        target.evaluate("el => el.scrollIntoView({block: 'start'})")
        top, end = target.bounding_box(), bottom.bounding_box()
        height = min(end["y"] + end["height"], page.viewport_size["height"]) - top["y"]
        page.screenshot(path=str(path), clip={"x": top["x"], "y": top["y"], "width": top["width"], "height": height})
    return path


def collapse(text: str) -> str:
    """Whitespace runs to one space, trimmed."""
    return re.sub(r"\s+", " ", text).strip()


def text_of(locator) -> str:
    """The element's textContent with whitespace collapsed."""
    return collapse(locator.evaluate("el => el.textContent"))


class _Text(html.parser.HTMLParser):
    """Collects text nodes; like a browser, drops the newline that directly follows <pre>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.after_pre = False

    def handle_starttag(self, tag: str, attrs) -> None:
        self.after_pre = tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        self.after_pre = False

    def handle_data(self, data: str) -> None:
        if self.after_pre and data.startswith("\n"):
            data = data[1:]
        self.after_pre = False
        self.parts.append(data)


def html_text(markup: str) -> str:
    """The textContent a browser gives this HTML, whitespace collapsed (compare with text_of)."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return collapse("".join(parser.parts))


def link_corpora(data_dir: Path) -> None:
    """Link each prepared corpus of the repo's data/ into data_dir (read only: they are inputs, not results)."""
    repo = paths.project_root() / "data" / "corpora"
    (data_dir / "corpora").mkdir(parents=True, exist_ok=True)
    for corpus in sorted(repo.glob("*/manifest.json")):
        (data_dir / "corpora" / corpus.parent.name).symlink_to(corpus.parent, target_is_directory=True)


def lab_env(tmp: Path) -> dict:
    """The server's environment: seqgap output and Jupyter's own state in tmp, one thread per kernel."""
    env = dict(os.environ)
    for name in ("DATA", "FIGURES", "REPORTS"):
        env[f"SEQGAP_{name}_DIR"] = str(tmp / name.lower())
    for name, sub in (("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
                      ("IPYTHONDIR", "ipython")):
        env[name] = str(tmp / sub)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env
