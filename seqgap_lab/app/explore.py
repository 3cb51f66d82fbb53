"""`seqgap-lab explore`: the three live explorers (scheduled sampling, beam search, contrastive decoding) as one
ipywidgets Tab, each built from the same package calls as its notebook (03, 06, 07) and so from the same cache.

A tab is built when first shown: its tables are computed (or read from data/) off the kernel's main thread
while the tab shows a progress note, then the explorer is made on the main thread (widgets and matplotlib
stay single-threaded). Without a running event loop (plain Python, tests) a tab is built synchronously.
"""
from __future__ import annotations

import asyncio
import html
import queue
import threading
from dataclasses import dataclass
from typing import Callable

import ipywidgets as W
import pandas as pd
import torch

from seqgap_lab.core.config import check_int, check_profile
from seqgap_lab.core.runtime import get_device
from seqgap_lab.core.seeds import seed_list
from seqgap_lab.data.text.builders import CorpusUnavailable
from seqgap_lab.lessons import common
from seqgap_lab.lessons.beam import explorer as beam_explorer
from seqgap_lab.lessons.beam import study as beam_study
from seqgap_lab.lessons.contrastive import explorer as contrastive_explorer
from seqgap_lab.lessons.contrastive import study as contrastive_study
from seqgap_lab.lessons.scheduled_sampling import explorer as ss_explorer
from seqgap_lab.lessons.scheduled_sampling import study as ss_study
from seqgap_lab.zoo import lms as lm

TITLES = ("Scheduled sampling", "Beam search", "Contrastive decoding")


def explore_device(profile: str) -> torch.device:
    """The notebooks' device choice; on a CPU outside `full`, one torch thread (tiny models only synchronise)."""
    device = get_device()
    if device.type == "cpu" and check_profile(profile) != "full":
        torch.set_num_threads(1)
    return device


def ss_tables(profile: str, seed: int = 0, device=None) -> common.LengthTables:
    """Notebook 03's tables: both models, the profile's seeds, pooled over seeds."""
    tables, _ = ss_study.run_seeded(profile, ("gru", "transformer"), seed_list(profile, seed), device=device,
                                    progress=False)
    return tables


def beam_tables(profile: str, seed: int = 0, device=None) -> beam_study.BeamTables:
    """Notebook 06's es->en grid (the profile's test verses); CorpusUnavailable without the Bible corpus."""
    return beam_study.run_nmt(profile, seed=seed, device=device, progress=False)


def contrastive_grid(profile: str, seed: int = 0, device=None) -> pd.DataFrame:
    """Notebook 07's explorer grid over both corpora (the same LM pairs and prompts, so the same cache)."""
    pairs = {c: contrastive_study.load_pair(c, profile, seed, device) for c in lm.LM_CORPORA}
    return contrastive_study.explorer_grid(pairs, profile)


@dataclass(frozen=True)
class Explorer:
    """One tab: its title, the tables builder (profile, seed, device) and the widget made from the tables."""

    title: str
    tables: Callable
    widget: Callable


EXPLORERS = (Explorer(TITLES[0], ss_tables, ss_explorer.ss_explorer),
             Explorer(TITLES[1], beam_tables, beam_explorer.beam_explorer),
             Explorer(TITLES[2], contrastive_grid, contrastive_explorer.contrastive_explorer))


def _note(text: str, color: str = "#444") -> W.HTML:
    # Large type: the app is read off a projector.
    return W.HTML(f"<div style='font-size:15px;color:{color};padding:12px'>{text}</div>")


def building_note(title: str, profile: str) -> W.HTML:
    """The progress note a tab shows while its tables are computed or read from the cache."""
    return _note(f"Building the <b>{html.escape(title)}</b> explorer (profile <b>{html.escape(profile)}</b>)... "
                 "The first time this trains the profile's models (smoke: seconds, default: minutes, full: a GPU "
                 "run); later it reads them from data/ at once.")


def error_note(title: str, exc: BaseException) -> W.HTML:
    """What a tab shows when its explorer cannot be built; a missing corpus says how to get it."""
    if isinstance(exc, CorpusUnavailable):
        head = f"The <b>{html.escape(title)}</b> explorer needs a real corpus that is not available here."
    else:
        head = f"The <b>{html.escape(title)}</b> explorer could not be built ({type(exc).__name__})."
    return _note(f"{head}<br><code>{html.escape(str(exc))}</code><br>The other tabs still work.", "#a31515")


class _Builder:
    """Builds each tab once, in the order asked, one at a time (a queue and one worker thread)."""

    def __init__(self, tab: W.Tab, profile: str, seed: int, device, background: bool):
        self.tab, self.profile, self.seed, self.device = tab, profile, seed, device
        self.asked: set[int] = set()
        self.loop = _running_loop() if background else None
        self.jobs: queue.Queue = queue.Queue()

    def ask(self, index: int) -> None:
        """Build tab `index` unless it is built or on its way."""
        if index is None or index in self.asked:
            return
        self.asked.add(index)
        if self.loop is None:
            self.finish(index, *self.compute(index))
            return
        if len(self.asked) == 1:  # first job: start the worker (a daemon: it dies with the kernel)
            threading.Thread(target=self.work, name="seqgap-explore", daemon=True).start()
        self.jobs.put(index)

    def compute(self, index: int) -> tuple:
        """(tables, None) or (None, the exception): the slow part, safe off the main thread (no widgets)."""
        try:
            return EXPLORERS[index].tables(self.profile, self.seed, self.device), None
        except Exception as exc:  # noqa: BLE001 (shown in the tab: a callback's traceback is invisible in Voila)
            return None, exc

    def work(self) -> None:
        """The worker: compute each asked tab, hand it to the main thread's loop."""
        while True:
            index = self.jobs.get()
            self.loop.call_soon_threadsafe(self.finish, index, *self.compute(index))

    def finish(self, index: int, tables, error: BaseException | None) -> None:
        """Put the explorer (or the error) into its tab; runs on the main thread."""
        explorer = EXPLORERS[index]
        if error is None:
            try:
                made = explorer.widget(tables)
                self.tab.explorers[index] = made
            except Exception as exc:  # noqa: BLE001 (as in compute)
                made, error = None, exc
        if error is not None:
            self.tab.errors[index] = error
            made = error_note(explorer.title, error)
        self.tab.children[index].children = (made,)


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # no loop (plain Python): build synchronously
        return None


def app(profile: str = "default", seed: int = 0, background: bool = True) -> W.Tab:
    """The three explorers as one Tab; a tab is built when first selected (tab.explorers[i] once made)."""
    profile = check_profile(profile)
    check_int("explore", "seed", seed, 0)
    device = explore_device(profile)
    tab = W.Tab(children=[W.VBox([building_note(e.title, profile)]) for e in EXPLORERS], titles=TITLES)
    tab.explorers, tab.errors, tab.profile = [None] * len(EXPLORERS), [None] * len(EXPLORERS), profile
    builder = _Builder(tab, profile, seed, device, background)
    tab.observe(lambda change: builder.ask(change["new"]), names="selected_index")
    builder.ask(tab.selected_index or 0)
    return tab
