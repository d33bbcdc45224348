"""The project's own error type for problems a user can cause.

``InputError`` (a ``ValueError``) names a bad file, key or value: the CLI prints it as
one line with exit status 2. Any other exception is a bug in repsim_jax or a library and
keeps its traceback.
"""

from __future__ import annotations

__all__ = ["InputError", "NEVER_RETRIEVED"]

NEVER_RETRIEVED = ("Task exception was never retrieved", "Future exception was never retrieved")
"""How asyncio's log of a task or future collected with its exception unread begins: the
echo of an orbax read or write that failed after its operation had already failed (and
said so) or been abandoned (a damaged checkpoint skipped with a warning)."""


class InputError(ValueError):
    """Bad input from the user: a file, a config key, an array, a value out of range."""
