"""Stage lines of a reproduction: which stage starts, of how many, and the time so far.

Training shows its own bar (:func:`repsim_jax.train.fit`), but around the bars a
reproduction builds data, compiles, evaluates, checks bounds, fits probes and draws
figures, each of which can take tens of seconds on a CPU. So every stage announces
itself on stderr when it starts, e.g. ``[3/8 · 74 s] l1 students (5 seeds): train 100
epochs, evaluate``. Nothing is printed with ``progress=False`` (``--quiet``) nor on any
process but the first.
"""

from __future__ import annotations

import sys
import time

import jax

__all__ = ["Stages"]


class Stages:
    """Numbered stage announcements for a run of ``total`` stages.

    ``shown`` is the caller's ``progress`` flag; it also switches the training bars of the
    stages (:attr:`shown` is passed on to :func:`repsim_jax.experiment.train_and_evaluate`).
    """

    def __init__(self, total: int, shown: bool = True):
        self.total, self.shown, self.started, self._start = total, shown, 0, time.time()

    def next(self, description: str) -> None:
        """Announce the next stage: ``[k/total · elapsed s] description``."""
        self.started += 1
        if self.shown and jax.process_index() == 0:
            elapsed = time.time() - self._start
            print(f"[{self.started}/{self.total} · {elapsed:.0f} s] {description}", file=sys.stderr, flush=True)
