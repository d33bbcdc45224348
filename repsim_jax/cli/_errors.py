"""How a ``repsim-jax`` command ends when it fails: one line for anything a user can cause.

- :class:`~repsim_jax.errors.InputError` (a bad file, key or value) and ``OSError`` (a
  missing or unreadable file): its message, exit status 2.
- A full disk wherever it is hit: an ``OSError`` with ``errno`` ENOSPC, or a library
  error that says ``No space left on device`` in its message or its chain of causes
  (orbax's asynchronous checkpoint writes fail through tensorstore with a ``ValueError``
  of several kilobytes): ``no space left on device writing PATH``, exit status 2.
- Ctrl-C: ``interrupted; re-run the same command to resume``, exit status 130.
- Anything else is a bug in repsim_jax or a library: it keeps its traceback.

Orbax also logs the errors of its background save threads, each with a traceback,
before the main thread sees them, and tensorstore's callbacks that complete after
orbax's event loop closed report ``RuntimeError: Event loop is closed`` as unraisable
exceptions. :class:`HeldNoise` holds both back while a command runs: they are dropped
when the command ends in one of the lines above, and printed when it succeeds or
fails with a traceback.
"""

from __future__ import annotations

import _thread
import errno
import gc
import logging
import os
import signal
import sys
import threading
import time

from repsim_jax.errors import NEVER_RETRIEVED, InputError

__all__ = ["HeldNoise", "failure_message", "INTERRUPTED"]

NO_SPACE = os.strerror(errno.ENOSPC)
INTERRUPTED = "interrupted; re-run the same command to resume"


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions it was raised from or while handling, outermost first."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def _disk_full(error: BaseException) -> tuple[bool, str | None]:
    """Whether ``error`` comes from a full disk, and the file being written when known."""
    for link in _chain(error):
        if isinstance(link, OSError) and link.errno == errno.ENOSPC:
            return True, link.filename
        if NO_SPACE in str(link):
            return True, None
    return False, None


def _one_line(message: str) -> str:
    return " ".join(message.split())


def failure_message(error: Exception, output: str | None) -> str | None:
    """The one line that reports ``error``, or None when it is a bug (keep the traceback).
    ``output`` (the command's workdir or output file) names what was being written when
    a full disk's error does not say."""
    full, path = _disk_full(error)
    if full:
        return f"no space left on device writing {path or output or 'the output'}"
    if isinstance(error, (InputError, OSError)):
        return _one_line(str(error))
    return None


class HeldNoise(logging.Filter):
    """Holds back, while a command runs, the ERROR records orbax logs (with tracebacks) and
    the unraisable exceptions of library callbacks, and drops asyncio's "Task exception was
    never retrieved" for orbax's tasks: echoes of a read or write whose failure was handled
    (the command's one line, or a damaged checkpoint skipped with a warning line). A
    Ctrl-C that a callback swallowed (Python reports it as unraisable) is delivered to the
    main thread again, so the command still ends with its one line and exit 130.

    ``install()`` starts holding; ``discard()`` forgets what was held (the command's own
    one-line error says it); ``release()`` stops holding and reports what is still held
    as it would have been reported. After a discard, ``release()`` first lets the failed
    save's remaining writes report (none held for ``settle_s``, at most ``limit_s``) and
    collects their dropped tasks, so their echoes are dropped too instead of printing
    tracebacks after the one line, whenever the garbage collector would have run."""

    def __init__(self, settle_s: float = 0.3, limit_s: float = 5.0):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.unraisable: list = []
        self.loggers = (logging.getLogger("absl"), logging.getLogger("asyncio"))
        self.unraisable_hook = sys.unraisablehook
        self.settle_s, self.limit_s = settle_s, limit_s
        self.discarded, self.last_held = False, time.monotonic()
        self.releasing, self.redelivery = False, None

    @classmethod
    def install(cls) -> HeldNoise:
        held = cls()
        for logger in held.loggers:
            logger.addFilter(held)
        sys.unraisablehook = held._hold_unraisable
        return held

    def _hold_unraisable(self, unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and self._redeliver():
            return
        self.unraisable.append(unraisable)
        self.last_held = time.monotonic()

    def _redeliver(self) -> bool:
        """A Ctrl-C landed inside a callback (e.g. jax's garbage-collection hook), which
        Python reports as unraisable and swallows: deliver it to the main thread again, from
        another thread once the hook has returned (raised inside it, it would be swallowed
        once more). Only while the command runs and Python handles SIGINT; one at a time."""
        if self.releasing or not callable(signal.getsignal(signal.SIGINT)):
            return False
        if self.redelivery is None or not self.redelivery.is_alive():
            self.redelivery = threading.Timer(0.01, _thread.interrupt_main, args=(signal.SIGINT,))
            self.redelivery.daemon = True
            self.redelivery.start()
        return True

    def filter(self, record: logging.LogRecord) -> bool:
        orbax = f"{os.sep}orbax{os.sep}"
        if record.levelno >= logging.ERROR and (orbax in record.pathname or orbax in record.getMessage()):
            if not record.getMessage().startswith(NEVER_RETRIEVED):  # echoes are dropped, even on success
                self.records.append(record)
            self.last_held = time.monotonic()
            return False
        return True

    def discard(self) -> None:
        self.records.clear()
        self.unraisable.clear()
        self.discarded = True

    def _settle(self) -> None:
        deadline = time.monotonic() + self.limit_s
        while time.monotonic() < deadline:
            gc.collect()  # a dropped task reports when it is collected
            if time.monotonic() - self.last_held >= self.settle_s:
                return
            time.sleep(self.settle_s / 4)

    def release(self) -> None:
        self.releasing = True  # a Ctrl-C swallowed from here on is reported, not redelivered
        if self.redelivery is not None:
            self.redelivery.cancel()
        if self.discarded:
            self._settle()
            self.discard()
        gc.collect()  # tasks dropped by a handled failure (a skipped checkpoint) report while held
        for logger in self.loggers:
            logger.removeFilter(self)
        sys.unraisablehook = self.unraisable_hook
        for record in self.records:
            logging.getLogger(record.name).handle(record)
        for unraisable in self.unraisable:
            self.unraisable_hook(unraisable)
        self.records.clear()
        self.unraisable.clear()
