"""The argument parser every ``repsim-jax`` command is built with.

- Long options are hyphenated (``--teacher-workdir``); each one also answers to its
  underscore spelling (``--teacher_workdir``), an alias hidden from ``--help``.
- A usage error is one line on stderr (``repsim-jax compare: error: ... (see
  repsim-jax compare --help)``), exit status 2, like every other user error.
- Every subcommand has a one-line description and examples (:func:`add_command`).
- A numeric option declares its valid values (``add_argument(..., valid=ValueRange)``):
  once parsed, a value out of range (``--seed 99999999999999999999``) raises
  :class:`OptionError` (an InputError naming the command and the option) before
  anything runs.
- Options are never abbreviated (``--pre`` is not ``--preset``).
"""

from __future__ import annotations

import argparse
import copy
import textwrap

from repsim_jax.config import ValueRange
from repsim_jax.errors import InputError

__all__ = ["OptionError", "Parser", "HelpFormatter", "add_command"]


class OptionError(InputError):
    """An option's value out of its range; ``command`` is the command it was given to."""

    def __init__(self, command: str, message: str):
        super().__init__(message)
        self.command = command


def _alias(option: str) -> str | None:
    """The underscore spelling of a hyphenated long option, else None."""
    if option.startswith("--") and "-" in option[2:]:
        return "--" + option[2:].replace("-", "_")
    return None


def _is_alias(option: str, options) -> bool:
    return "_" in option and option.replace("_", "-") in options


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples printed as written; option help wrapped between words
    only (a preset like ``paper-centred`` is never split); underscore aliases not shown."""

    def _split_lines(self, text, width):
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _format_action_invocation(self, action):
        shown = [option for option in action.option_strings if not _is_alias(option, action.option_strings)]
        if shown != action.option_strings:
            action = copy.copy(action)
            action.option_strings = shown
        return super()._format_action_invocation(action)


class Parser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` with underscore aliases and one-line errors."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        self.aliases: list[str] = []
        self.ranges: list[tuple[argparse.Action, ValueRange]] = []
        super().__init__(*args, **kwargs)

    def add_argument(self, *names, valid: ValueRange | None = None, group=None, **kwargs):
        """``add_argument`` (to ``group``, an argument group of this parser, if given) with
        the underscore aliases of ``names`` and, for a number, its ``valid`` range."""
        aliases = [alias for alias in map(_alias, names) if alias]
        self.aliases += aliases
        add = super().add_argument if group is None else group.add_argument
        action = add(*names, *aliases, **kwargs)
        if valid is not None:
            self.ranges.append((action, valid))
        return action

    def parse_known_args(self, args=None, namespace=None):
        namespace, extra = super().parse_known_args(args, namespace)
        for action, valid in self.ranges:
            value = getattr(namespace, action.dest, None)
            if value is not None and not valid.holds(value):
                raise OptionError(self.prog, f"{action.option_strings[0]} must be {valid}, got {value}")
        return namespace, extra

    def error(self, message):
        for alias in self.aliases:  # "argument --max-tokens/--max_tokens: ..." names the shown spelling only
            message = message.replace(f"/{alias}", "")
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_command(subparsers, name: str, summary: str, examples: list[str], details: str = "") -> Parser:
    """Subcommand ``name``: ``summary`` (one line) in the command list and atop its help,
    then ``details``, then ``examples`` (command lines) as the help's epilog."""
    description = f"{summary}.\n\n{details}" if details else f"{summary}."
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return subparsers.add_parser(name, help=summary, description=description, epilog=epilog)
