"""Serve the explorer app (seqgap_lab/app/explore.ipynb) with Voila on localhost: no code shown, the profile
passed to the kernel in $SEQGAP_EXPLORE_PROFILE."""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

from seqgap_lab.core import paths
from seqgap_lab.core.config import ConfigError, check_int, check_profile

APP_NOTEBOOK = Path(__file__).resolve().parent / "explore.ipynb"
PROFILE_ENV = "SEQGAP_EXPLORE_PROFILE"
HOST = "127.0.0.1"
DEFAULT_PORT = 8866  # Voila's own default
SHUTDOWN_S = 20.0  # how long Ctrl-C waits for Voila to stop its kernels


def check_port(port) -> int:
    """Validate a TCP port number (1-65535) and return it."""
    check_int("explore", "port", port, 1, 65535)
    return port


def check_port_free(port: int) -> None:
    """ConfigError when something already listens on HOST:port (Voila would silently move to another port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise ConfigError(f"explore.port = {port} is not allowed: {HOST}:{port} is in use ({exc.strerror}); "
                              "pick another with --port") from None


def voila_command(port: int, open_browser: bool = True) -> list[str]:
    """The Voila command line serving the app notebook on HOST:port, sources stripped."""
    cmd = [sys.executable, "-m", "voila", str(APP_NOTEBOOK), f"--Voila.ip={HOST}", f"--port={port}",
           # No retries: the URL printed must be the one served.
           "--Voila.port_retries=0", "--strip_sources=True"]
    return cmd + ([] if open_browser else ["--no-browser"])


def voila_env(profile: str) -> dict[str, str]:
    """The environment of Voila and its kernels: the profile, and this checkout's root pinned.

    Why pin SEQGAP_ROOT: the kernel runs in the notebook's folder inside the package, where the search for
    the checkout may not find the user's data/ (a non-editable install)."""
    env = dict(os.environ)
    env[PROFILE_ENV] = check_profile(profile)
    env.setdefault("SEQGAP_ROOT", str(paths.project_root()))
    return env


def serve(profile: str = "default", port: int = DEFAULT_PORT, open_browser: bool = True) -> int:
    """Run Voila in the foreground until Ctrl-C; returns its exit status."""
    env, port = voila_env(profile), check_port(port)
    if importlib.util.find_spec("voila") is None:
        raise FileNotFoundError(f"voila is not installed in {sys.executable}: pip install voila (or `make setup`)")
    if not APP_NOTEBOOK.is_file():
        raise FileNotFoundError(f"the app notebook {APP_NOTEBOOK} is missing from the installed package")
    check_port_free(port)
    print(f"seqgap-lab explore: the explorers (profile {profile}) at http://{HOST}:{port}/  (Ctrl-C stops)",
          flush=True)
    proc = subprocess.Popen(voila_command(port, open_browser), env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Voila got the same Ctrl-C and shuts its kernels down: wait for that (subprocess.run would SIGKILL
        # it at once and leave the kernels running), then make sure it is gone.
        try:
            return proc.wait(timeout=SHUTDOWN_S)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.terminate()
            return proc.wait()
